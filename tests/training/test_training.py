"""Training path on tiny synthetic data: pairs, sources, augmentation, losses, a few-step run,
and ``urbanseg evaluate``. Never a full training."""

import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from typer.testing import CliRunner

from urbanseg_core.errors import InputError
from urbanseg_core.model.card import Normalisation
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.training.augment import (
    Prepare, draw_scale, geometric, radiometric_jitter, resize_pair,
)
from urbanseg_core.training.config import AugmentConfig, HoldoutBlock, load_config
from urbanseg_core.training.datasets import (
    EurosatMosaicSource, EurosatPatch, MixtureDataset, SceneSource, find_pairs, holdout_rect,
    load_pair, split_eurosat,
)
from urbanseg_core.training.losses import SegLoss, soft_dice

UTM = "EPSG:32633"


def write_image(path, size=96, seed=0):
    """An 11-band uint16 GeoTIFF with band descriptions: bright 'built' square in the middle."""
    rng = np.random.default_rng(seed)
    dn = rng.integers(300, 900, size=(11, size, size)).astype("uint16")
    dn[6:8] += 2500  # vegetation-like NIR
    q = size // 4
    dn[:, q:3 * q, q:3 * q] = 1800 + rng.integers(0, 200, size=(11, 2 * q, 2 * q)).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=11,
                       dtype="uint16", crs=UTM, transform=from_origin(500000, 4000000, 10, 10),
                       nodata=0) as dst:
        dst.write(dn)
        for i, b in enumerate(MODEL_BANDS, 1):
            dst.set_band_description(i, b)
    return path


def write_esm_mask(path, size=96):
    """ESM codes at 20 m (half the image's resolution): 1 other, 255 residential in the middle
    square, 250 non-residential in its top-left quarter."""
    n = size // 2
    m = np.ones((n, n), "uint8")
    q = n // 4
    m[q:3 * q, q:3 * q] = 255
    m[q:2 * q, q:2 * q] = 250
    with rasterio.open(path, "w", driver="GTiff", height=n, width=n, count=1, dtype="uint8",
                       crs=UTM, transform=from_origin(500000, 4000000, 20, 20)) as dst:
        dst.write(m, 1)
    return path


@pytest.fixture
def pairs_dir(tmp_path):
    d = tmp_path / "pairs"
    d.mkdir()
    for k in range(2):
        write_image(d / f"tile{k}_image.tif", seed=k)
        write_esm_mask(d / f"tile{k}_mask.tif")
    return d


def test_find_pairs_both_layouts(tmp_path, pairs_dir):
    assert [p[0].name for p in find_pairs(pairs_dir)] == ["tile0_image.tif", "tile1_image.tif"]
    orig = tmp_path / "orig"
    (orig / "images").mkdir(parents=True)
    (orig / "masks").mkdir()
    write_image(orig / "images" / "a.tif")
    write_esm_mask(orig / "masks" / "a.tif")
    assert [(i.name, m.parent.name) for i, m in find_pairs(orig)] == [("a.tif", "masks")]
    with pytest.raises(InputError):
        find_pairs(tmp_path / "nothing")


def test_load_pair_reprojects_esm_mask_to_image_grid(pairs_dir):
    scene, label = load_pair(pairs_dir / "tile0_image.tif", pairs_dir / "tile0_mask.tif")
    assert label.shape == scene.shape == (96, 96)
    # ESM 20 m pixel (12, 12) = non-residential -> 10 m pixels (24..25, 24..25)
    assert (label[24:26, 24:26] == 1).all()
    assert label[0, 0] == 0 and label[60, 60] == 2
    assert set(np.unique(label)) == {0, 1, 2}


def test_scene_source_never_crops_into_holdout():
    H = W = 200
    dn = np.full((11, H, W), 1000, "uint16")
    block = HoldoutBlock(row0=120, col0=120, buffer=10, split_col=160)
    r0, r1, c0, c1 = holdout_rect(block, (H, W))
    dn[:, r0:r1, c0:c1] = 5000  # marker
    label = np.zeros((H, W), "uint8")
    label[100:140, 100:140] = 1  # positives straddle the buffer
    src = SceneSource(dn, label, 0.0, 10000.0, (r0, r1, c0, c1), positive_fraction=1.0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        s = src.sample(rng, 32)
        assert s.reflectance.shape == (11, 32, 32)
        assert not np.isclose(s.reflectance, 0.5).any()
    assert (r0, r1, c0, c1) == (110, 200, 110, 200)


def _patches():
    rng = np.random.default_rng(0)
    out = []
    for cls in ("Residential", "Industrial", "Forest", "River"):
        for k in range(5):
            out.append(EurosatPatch(rng.uniform(0.01, 0.3, (11, 64, 64)).astype("float32"),
                                    cls, f"{cls}_{k}.tif"))
    return out


def test_eurosat_split_and_mosaic_labels():
    patches = _patches()
    train, held = split_eurosat(patches, 0.2, seed=3)
    assert len(held) == 4 and len(train) == 16
    assert {p.class_name for p in held} == {"Residential", "Industrial", "Forest", "River"}
    src = EurosatMosaicSource(train, mosaic=2, class_probabilities={"Industrial": 1.0})
    s = src.sample(np.random.default_rng(1), 96)
    assert s.label.shape == (96, 96) and (s.label == 1).all()
    src = EurosatMosaicSource(train, mosaic=3)
    s = src.sample(np.random.default_rng(2), 128)
    assert set(np.unique(s.label)) <= {0, 1, 2}


def test_augmentation_keeps_image_and_label_aligned():
    rng = np.random.default_rng(0)
    y = np.arange(16 * 16, dtype="int64").reshape(16, 16) % 3
    x = np.stack([y.astype("float32")] * 2)
    for _ in range(10):
        xa, ya = geometric(x, y, rng, AugmentConfig())
        assert (xa[0] == ya).all() and (xa[1] == ya).all()
    refl = np.full((11, 8, 8), 0.2, "float32")
    valid = np.ones((8, 8), bool)
    valid[0, 0] = False
    out = radiometric_jitter(refl, valid, rng, AugmentConfig())
    assert out.shape == refl.shape and (out >= 0).all() and out[:, 0, 0].sum() == 0
    assert not np.allclose(out[:, 1, 1], 0.2)


def test_prepare_outputs_15_channels():
    norm = Normalisation(method="standardize", mean=[0.0] * 15, std=[1.0] * 15)
    s = SceneSource(np.full((11, 40, 40), 1500, "uint16"), np.zeros((40, 40), "uint8"))
    x, y = Prepare(norm, AugmentConfig())(s.sample(np.random.default_rng(0), 32),
                                          np.random.default_rng(1))
    assert x.shape == (15, 32, 32) and y.shape == (32, 32) and x.dtype == np.float32


def test_losses():
    target = torch.tensor([[[0, 1], [2, 255]]])
    good = torch.nn.functional.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 20
    bad = torch.roll(good, 1, dims=1)
    loss = SegLoss(1.0, 1.0, 2.0, [1.0, 3.0, 1.5])
    assert loss(good, target) < 0.01 < loss(bad, target)
    assert soft_dice(good, torch.full_like(target, 255)) == 0


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{type: nonsense}]\n")
    with pytest.raises(InputError, match="invalid settings"):
        load_config(bad)
    bad.write_text("sources: []\nepochz: 3\n")
    with pytest.raises(InputError, match="epochz"):
        load_config(bad)
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_mixture_is_deterministic(pairs_dir):
    from urbanseg_core.training.datasets import pair_sources

    srcs = pair_sources(pairs_dir)
    norm = Normalisation(method="standardize", mean=[0.0] * 15, std=[1.0] * 15)
    ds = MixtureDataset(srcs, [1, 1], 4, 32, Prepare(norm, AugmentConfig()), seed=5)
    a = ds[2]
    b = ds[2]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds.set_epoch(1)
    assert not torch.equal(ds[2][0], a[0])


def test_scale_jitter_resizes_crops_and_keeps_label_codes(pairs_dir):
    from urbanseg_core.training.datasets import pair_sources

    rng = np.random.default_rng(0)
    f = [draw_scale(rng, 0.25) for _ in range(200)]
    assert 0.8 - 1e-6 <= min(f) < 0.85 and 1.2 < max(f) <= 1.25 + 1e-6
    assert draw_scale(rng, 0.0) == 1.0
    y = np.zeros((20, 20), "int64")
    y[5:15, 5:15] = 1
    y[0, :] = 255
    x = np.stack([y.astype("float32")] * 3)
    xr, yr = resize_pair(x, y, 30)
    assert xr.shape == (3, 30, 30) and yr.shape == (30, 30) and yr.dtype == y.dtype
    assert set(np.unique(yr)) == {0, 1, 255}
    assert abs((yr == 1).mean() - 0.25) < 0.02  # the square keeps its share of the crop

    srcs = pair_sources(pairs_dir)
    norm = Normalisation(method="standardize", mean=[0.0] * 15, std=[1.0] * 15)
    plain = MixtureDataset(srcs, [1, 1], 6, 32, Prepare(norm, AugmentConfig()), seed=5)
    scaled = MixtureDataset(srcs, [1, 1], 6, 32, Prepare(norm, AugmentConfig(scale=0.25)),
                            seed=5)
    for i in range(6):
        xs, ys = scaled[i]
        assert xs.shape == (15, 32, 32) and ys.shape == (32, 32)
        assert set(ys.unique().tolist()) <= {0, 1, 2, 255}
    assert any(not torch.equal(plain[i][0], scaled[i][0]) for i in range(6))


@pytest.fixture
def trained(tmp_path, pairs_dir):
    """A tiny model trained for a few steps through the CLI (seconds)."""
    from urbanseg_core.cli import app

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "name: tiny\nseed: 3\noutput_dir: out\nmodel: {base_width: 4}\ncrop_size: 32\n"
        "batch_size: 2\nepochs: 2\nsteps_per_epoch: 2\nstats_samples: 4\n"
        "validate_bercy: false\n"
        f"sources:\n  - {{type: pairs, path: {pairs_dir}, codes: auto}}\n"
    )
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--no-progress"])
    assert res.exit_code == 0, res.output
    return tmp_path / "out" / "tiny.json"


def test_train_writes_loadable_model_and_card(trained, pairs_dir):
    from urbanseg_core.model.loading import load_model
    from urbanseg_core.inference.pipeline import segment_file

    card = json.loads(trained.read_text())
    assert card["weights"] == "tiny.pt"
    assert card["normalisation"]["method"] == "standardize"
    assert len(card["normalisation"]["mean"]) == 15
    assert card["architecture"]["align_corners"] is False
    assert len(card["training"]["history"]) == 2
    assert "loss" in card["training"]["history"][0]
    loaded = load_model(trained)  # verifies sha256
    seg = segment_file(pairs_dir / "tile0_image.tif", loaded)
    assert seg.classes.shape == (96, 96)
    # the ONNX graph is written at save time and runs with ONNX Runtime, as PyTorch does
    assert card["onnx"] == "tiny.onnx" and (trained.parent / "tiny.onnx").is_file()
    assert loaded.engine == "ONNX Runtime" and loaded.graph == trained.parent / "tiny.onnx"
    torch_seg = segment_file(pairs_dir / "tile0_image.tif", load_model(trained, engine="torch"))
    assert (torch_seg.classes == seg.classes).mean() > 0.999


def test_train_is_reproducible(trained, tmp_path, pairs_dir):
    from urbanseg_core.cli import app

    cfg = tmp_path / "tiny.yaml"
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--no-progress",
                                   "--output-dir", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    a = torch.load(tmp_path / "out" / "tiny.pt", weights_only=True)
    b = torch.load(tmp_path / "again" / "tiny.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_cli_json_table_and_plot(trained, pairs_dir, tmp_path):
    from urbanseg_core.cli import app

    runner = CliRunner()
    image, mask = pairs_dir / "tile0_image.tif", pairs_dir / "tile0_mask.tif"
    res = runner.invoke(app, ["evaluate", str(image), str(mask), "--model", str(trained),
                              "--json", "--reference-codes", "esm"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["valid_px"] == 96 * 96
    assert set(out["per_class"]) == {"other", "non-residential", "residential"}
    assert out["built_up_share_ref"] == pytest.approx((48 * 48) / (96 * 96))
    assert sum(map(sum, out["confusion_matrix"])) == 96 * 96
    png = tmp_path / "eval.png"
    res = runner.invoke(app, ["evaluate", str(image), str(mask), "--model", str(trained),
                              "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "weighted Dice" in res.stdout and png.stat().st_size > 10_000
    header, first = res.stdout.split("prediction):\n")[1].splitlines()[:2]
    assert header.split() == ["other", "non-residential", "residential"]
    assert first.split()[0] == "other"  # labelled rows and columns
    refused = runner.invoke(app, ["evaluate", str(image), str(mask), "--model", str(trained),
                                  "--json", "--plot", str(png)])
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr  # the plot exists
    res = runner.invoke(app, ["evaluate", str(image), str(mask), "--model", str(trained),
                              "--json", "--plot", str(png), "--overwrite"])
    assert json.loads(res.stdout)["valid_px"] == 96 * 96  # stdout stays one JSON object
    assert f"Plot written to {png}" in res.stderr
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_cli_plain_errors(cli, trained, pairs_dir, tmp_path):
    image = pairs_dir / "tile0_image.tif"
    res = cli("evaluate", image, tmp_path / "missing.tif", "--model", trained)
    assert res.returncode == 2
    assert res.stderr.startswith("Error: Reference file not found")
    assert "Traceback" not in res.stderr
    mask = pairs_dir / "tile0_mask.tif"  # the arguments swapped
    res = cli("evaluate", mask, image, "--model", trained)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "the arguments look swapped" in res.stderr, res.stderr


def test_load_pair_with_mask_in_another_crs(tmp_path):
    """An ESM mask in EPSG:3035 (as ESM is distributed) is reprojected onto the UTM image."""
    from rasterio.warp import calculate_default_transform, reproject, Resampling

    image = write_image(tmp_path / "x_image.tif")
    utm_mask = write_esm_mask(tmp_path / "utm_mask.tif")
    with rasterio.open(utm_mask) as src:
        transform, w, h = calculate_default_transform(src.crs, "EPSG:3035", src.width,
                                                      src.height, *src.bounds, resolution=5)
        data = np.zeros((h, w), "uint8")  # 0 = ESM nodata outside the footprint
        reproject(src.read(1), data, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=transform, dst_crs="EPSG:3035", resampling=Resampling.nearest)
    with rasterio.open(tmp_path / "x_mask.tif", "w", driver="GTiff", height=h, width=w,
                       count=1, dtype="uint8", crs="EPSG:3035", transform=transform) as dst:
        dst.write(data, 1)
    _, label = load_pair(image, tmp_path / "x_mask.tif")
    _, same_crs = load_pair(image, utm_mask)
    agree = (label == same_crs)[2:-2, 2:-2].mean()  # edges may fall outside the footprint
    assert agree > 0.95
    assert set(np.unique(label[2:-2, 2:-2])) == {0, 1, 2}


def test_swa_averages_the_last_epochs(trained, tmp_path):
    """swa_epochs > 0: the written weights are the average of the last epochs (so they
    differ from the plain run's last-epoch weights) and the card says so."""
    from urbanseg_core.cli import app

    cfg = tmp_path / "tiny.yaml"
    swa_cfg = tmp_path / "tiny_swa.yaml"
    swa_cfg.write_text(cfg.read_text() + "swa_epochs: 2\nswa_bn_batches: 2\n")
    res = CliRunner().invoke(app, ["train", "--config", str(swa_cfg), "--no-progress",
                                   "--output-dir", str(tmp_path / "swa")])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "swa" / "tiny.json").read_text())
    assert card["training"]["selection"] == "weight average of the last 2 epochs"
    assert card["training"]["history"][-1]["epoch"] == "average of the last 2 epochs"
    plain = torch.load(tmp_path / "out" / "tiny.pt", weights_only=True)
    swa = torch.load(tmp_path / "swa" / "tiny.pt", weights_only=True)
    assert plain.keys() == swa.keys()
    key = "outc.conv.weight" if "outc.conv.weight" in plain else next(
        k for k in plain if k.endswith("weight") and plain[k].ndim == 4)
    assert not torch.equal(plain[key], swa[key])


def test_init_from_fine_tunes_a_parent_and_keeps_its_inputs_contract(trained, tmp_path):
    """init_from: training starts from the parent's weights (not a fresh network), keeps its
    normalisation and architecture, and refuses weights whose SHA-256 is not init_sha256."""
    from urbanseg_core.cli import app

    parent = json.loads(trained.read_text())
    base = (tmp_path / "tiny.yaml").read_text().replace("seed: 3", "seed: 4")
    cfg = tmp_path / "fine.yaml"
    cfg.write_text(base + f"init_from: {trained}\ninit_sha256: {parent['sha256']}\n"
                   "lr: 0.000001\n")
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--no-progress",
                                   "--output-dir", str(tmp_path / "fine")])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "fine" / "tiny.json").read_text())
    assert card["normalisation"] == parent["normalisation"]
    assert card["architecture"] == parent["architecture"]
    assert card["training"]["config"]["init_from"] == str(trained)
    a = torch.load(trained.parent / "tiny.pt", weights_only=True)
    b = torch.load(tmp_path / "fine" / "tiny.pt", weights_only=True)
    # a learning rate of 1e-6 barely moves the parent's convolutions; a fresh network
    # (another seed) would be far from them
    key = next(k for k in a if k.endswith("weight") and a[k].ndim == 4)
    assert torch.allclose(a[key], b[key], atol=1e-3)

    # init_interpolate: the written weights lie that share of the way from the parent to
    # the trained ones (the same run with 1.0 gives the trained ones)
    half = tmp_path / "half.yaml"
    half.write_text(base + f"init_from: {trained}\nlr: 0.01\ninit_interpolate: 0.5\n")
    full = tmp_path / "full.yaml"
    full.write_text(base + f"init_from: {trained}\nlr: 0.01\n")
    for name, path in (("half", half), ("full", full)):
        res = CliRunner().invoke(app, ["train", "--config", str(path), "--no-progress",
                                       "--output-dir", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    h = torch.load(tmp_path / "half" / "tiny.pt", weights_only=True)
    f = torch.load(tmp_path / "full" / "tiny.pt", weights_only=True)
    assert not torch.allclose(a[key], f[key], atol=1e-4)
    torch.testing.assert_close(h[key], (a[key] + f[key]) / 2)

    bad = tmp_path / "bad.yaml"
    bad.write_text(base + f"init_from: {trained}\ninit_sha256: {'ab' * 32}\n")
    res = CliRunner().invoke(app, ["train", "--config", str(bad), "--no-progress",
                                   "--output-dir", str(tmp_path / "bad")])
    assert res.exit_code != 0 and "not the model this config fine-tunes from" in res.output
    assert "Traceback" not in res.output


def test_bercy_source_trains_north_and_scores_only_held_out_rows(shared_data, tmp_path):
    """The Bercy source trains on rows above the held-out strip (both dates) and the card's
    Bercy figures count only the held-out rows."""
    from urbanseg_core.model.loading import build_model
    from urbanseg_core.model.card import DEFAULT_CLASSES, Architecture, ModelCard
    from urbanseg_core.training.config import TrainConfig
    from urbanseg_core.training.datasets import load_bercy
    from urbanseg_core.training.loop import (
        build_data, compute_normalisation, final_metrics, measured_limitations,
    )

    cfg = TrainConfig(data_root=str(shared_data), config_dir=str(tmp_path), stats_samples=4,
                      sources=[{"type": "bercy", "holdout": {"row0": 340, "buffer": 32}}])
    data = build_data(cfg, log=lambda _: None)
    (pool,) = data.sources
    assert [s.name for s in pool.sources] == ["bercy:imgs_1", "bercy:imgs_2"]
    H, W = pool.sources[0].shape
    assert all(s.exclude == (308, H, 0, W) for s in pool.sources)
    assert data.bercy_test_row0 == 340
    for src in pool.sources:  # mark the held-out and buffer rows: no crop may carry them
        src.label = src.label.copy()
        src.label[308:][src.label[308:] != 255] = 7
    rng = np.random.default_rng(0)
    labels = np.stack([pool.sample(rng, 128).label for _ in range(40)])
    assert (labels == 7).sum() == 0
    assert np.isin(labels, [0, 1, 2]).mean() > 0.2  # most crops hold training labels

    card = ModelCard(name="t", version="0", description="", weights="t.pt",
                     architecture=Architecture(base_width=4),
                     normalisation=compute_normalisation(data, cfg), classes=DEFAULT_CLASSES)
    model = build_model(card.architecture).eval()
    metrics = final_metrics(model, card, data, cfg, log=lambda _: None)
    _, _, ref = load_bercy(shared_data)[0]  # imgs_1
    held = int((ref[340:] != 255).sum())
    support = sum(c["support_px"] for c in
                  metrics["bercy_urban_atlas"]["imgs_1"]["model"]["per_class"].values())
    assert 0 < held < int((ref != 255).sum())
    assert support == held
    assert "rows >= 340" in metrics["bercy_urban_atlas"]["use"]
    assert any("held-out rows of the Level-1C Bercy" in line
               for line in measured_limitations(metrics))


def test_bercy_source_needs_a_held_out_row_inside_the_scene(shared_data, tmp_path):
    from urbanseg_core.training.config import TrainConfig
    from urbanseg_core.training.loop import build_data

    cfg = TrainConfig(data_root=str(shared_data), config_dir=str(tmp_path),
                      sources=[{"type": "bercy"}])  # default row0 2440 is Islamabad's
    with pytest.raises(InputError, match="holdout.row0"):
        build_data(cfg, log=lambda _: None)


def test_bundled_recipe_starts_from_the_kept_parent():
    """models/urbanseg-unet.yaml fine-tunes the weights kept in models/urbanseg-unet-0.3.0/:
    they load, match the recipe's SHA-256, and the bundled card was made by this recipe."""
    from urbanseg_core.model.card import read_card
    from urbanseg_core.model.loading import default_model_path
    from urbanseg_core.training.config import REPO_ROOT, load_config
    from urbanseg_core.training.loop import load_parent

    cfg = load_config(REPO_ROOT / "models" / "urbanseg-unet.yaml")
    parent = load_parent(cfg)
    assert parent is not None and parent.card.version == "0.3.0"
    assert parent.sha256 == cfg.init_sha256
    bundled = read_card(default_model_path().with_suffix(".json"))
    assert bundled.version == cfg.version
    assert bundled.normalisation == parent.card.normalisation
    made_by = bundled.training["config"]
    assert made_by["init_sha256"] == cfg.init_sha256
    assert made_by["init_interpolate"] == cfg.init_interpolate
    assert made_by["sources"] == [s.model_dump() for s in cfg.sources]
    # each city's extent is on the card, so a run there can say the model learned from it
    areas = {e.get("area"): e.get("bounds_wgs84") for e in bundled.training_data}
    assert areas.keys() >= {"Islamabad/Rawalpindi", "Paris Bercy", "Hong Kong (Tseung Kwan O)",
                            "West San Jose", "Montpellier"}
    west, south, east, north = areas["Paris Bercy"]
    assert west < 2.38 < east and south < 48.84 < north


def test_the_held_out_block_is_described_in_words_and_kilometres():
    """The Model page's "How it was used": where the block is and how large, not pixel
    ranges; the bundled card says the same for its recipe's block."""
    from urbanseg_core.model.card import read_card
    from urbanseg_core.model.loading import default_model_path
    from urbanseg_core.training.loop import _holdout_words

    words = _holdout_words((2440, 3660, 2440, 3660), 3050, 64, (3660, 3660))
    assert "12.2 km x 12.2 km block at its south-east corner" in words
    assert "640 m gap" in words and "western 6.1 km is the test block" in words
    assert "rows" not in words and "cols" not in words
    assert "at its north edge" in _holdout_words((0, 500, 0, 3660), 1000, 0, (3660, 3660))
    card = read_card(default_model_path())
    assert any(item.get("use") == words for item in card.training_data)
