"""Multi-city training data, the leave-one-city-out protocol and haze correction, on tiny
synthetic cities (never a full training)."""

import json
import time

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from urbanseg_core.cli import app
from urbanseg_core.inference.features import (
    HazeCorrectedSource, estimate_haze, haze_sample, haze_shape,
)
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.inference.predict import ArraySource
from urbanseg_core.io.scene import Scene
from urbanseg_core.model.card import Normalisation
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.training.augment import simulate_20m
from urbanseg_core.training.config import TrainConfig
from urbanseg_core.training.crossval import (
    city_scores, config_cities, mean_row, source_city, without_city, write_results,
)
from urbanseg_core.training.loop import cross_city_tables
from urbanseg_core.training.datasets import (
    LabelledImage, find_city_pairs, ignore_boundaries, load_city,
)

UTM = "EPSG:32633"


def write_city(folder, seed, size=80):
    """A city folder with one 11-band uint16 image and its index label file: a bright block
    labelled residential, a brighter one non-residential, the rest 'other' or unlabelled."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    dn = rng.integers(300, 700, size=(11, size, size)).astype("uint16")
    dn[6:8] += 2500
    label = np.full((size, size), 255, "uint8")
    label[:, : size // 2] = 0
    dn[:, 10:40, 10:40] = 1600 + rng.integers(0, 100, size=(11, 30, 30)).astype("uint16")
    label[10:40, 10:40] = 2
    dn[:, 50:70, 50:70] = 3000 + rng.integers(0, 100, size=(11, 20, 20)).astype("uint16")
    label[50:70, 50:70] = 1
    profile = dict(driver="GTiff", height=size, width=size, crs=UTM,
                   transform=from_origin(500000 + 1000 * seed, 4000000, 10, 10))
    with rasterio.open(folder / "image_2018.tif", "w", count=11, dtype="uint16", **profile) as d:
        d.write(dn)
        for i, b in enumerate(MODEL_BANDS, 1):
            d.set_band_description(i, b)
    with rasterio.open(folder / "label_2018.tif", "w", count=1, dtype="uint8", nodata=255,
                       **profile) as d:
        d.write(label, 1)
    return folder


@pytest.fixture
def cities(tmp_path):
    root = tmp_path / "data"
    for k, name in enumerate(["alpha", "beta"]):
        write_city(root / name, seed=k)
    (root / "alpha" / "image_1999.tif").write_bytes(b"")  # no label beside it: not a pair
    return root


def test_city_folder_pairs_and_labels(cities):
    assert [p[0].name for p in find_city_pairs(cities / "alpha")] == ["image_2018.tif"]
    (item,) = load_city(cities / "alpha")
    assert item.scene.reflectance.shape == (11, 80, 80)
    assert np.isclose(item.scene.reflectance[0, 20, 20], 0.16, atol=0.011)
    assert (item.label == 2).sum() == 900 and (item.label == 1).sum() == 400
    assert (item.label == 0).sum() == 40 * 80 - 900 + 20 * 20 - 400 + 400 - 400


def test_sources_are_grouped_by_city(cities, tmp_path):
    cfg = TrainConfig(data_root=str(cities), config_dir=str(tmp_path), sources=[
        {"type": "city", "path": "alpha"}, {"type": "city", "path": "beta"},
        {"type": "city", "path": "beta", "city": "beta"}, {"type": "eurosat"},
        {"type": "islamabad"}])
    assert config_cities(cfg) == ["alpha", "beta", "islamabad"]
    assert source_city(cfg.sources[3]) is None  # EuroSAT is never left out
    fold = without_city(cfg, "beta", tmp_path / "f")
    assert [s.type for s in fold.sources] == ["city", "eurosat", "islamabad"]
    assert fold.output_dir == str(tmp_path / "f") and len(cfg.sources) == 5


def test_ignore_boundaries_leaves_out_a_band_along_label_edges():
    label = np.zeros((8, 8), "uint8")
    label[:, 4:] = 2
    label[0, 0] = 255
    out = ignore_boundaries(label, 1)
    assert (out[:, 3:5] == 255).all()  # both sides of the edge
    assert (out[1:, :3] == 0).all() and (out[:, 5:] == 2).all()  # unlabelled is no edge
    assert ignore_boundaries(label, 0) is label


def test_simulate_20m_averages_only_the_10m_bands():
    refl = np.arange(11 * 4 * 4, dtype="float32").reshape(11, 4, 4)
    out = simulate_20m(refl, np.ones((4, 4), bool))
    for b in (0, 1, 2, 6):  # B2, B3, B4, B8
        assert out[b, 0, 0] == out[b, 1, 1] == refl[b, :2, :2].mean()
    for b in (3, 4, 5, 7, 8, 9, 10):
        assert np.array_equal(out[b], refl[b])


def test_haze_estimate_recovers_added_haze_and_correction_is_seamless():
    rng = np.random.default_rng(0)
    refl = rng.uniform(0.02, 0.3, size=(11, 200, 300)).astype("float32")
    refl[:, :40] = 0.02 + rng.uniform(0, 0.004, size=(11, 40, 300))  # dark water / shadow
    valid = np.ones((200, 300), bool)
    spec = Normalisation(haze="dark_object")
    assert np.allclose(estimate_haze(refl, valid, spec), 0, atol=0.003)
    hazy = refl + np.float32(0.08) * haze_shape(2.5)[:, None, None]
    est = estimate_haze(*haze_sample(ArraySource(Scene(hazy, valid, None, from_origin(0, 0, 10,
                                                                                    10)))), spec)
    assert abs(est[0] - 0.08) < 0.005  # B2 gets the haze
    assert est[-1] < 0.1 * est[0]      # B12 far less (lambda^-2.5)
    assert np.allclose(estimate_haze(hazy, valid, Normalisation()), 0)  # haze "none"
    src = HazeCorrectedSource(ArraySource(Scene(hazy, valid, None, from_origin(0, 0, 10, 10))),
                              est)
    whole, _ = src.read(0, 0, 200, 300)
    part, _ = src.read(50, 70, 64, 64)
    assert np.array_equal(whole[:, 50:114, 70:134], part)
    assert np.allclose(whole[:, 100, 100], refl[:, 100, 100], atol=0.006)


def test_city_scores_pool_dates_and_skip_absent_classes(cities, tiny_model):
    loaded = tiny_model
    (item,) = load_city(cities / "alpha")
    no_res = item.label.copy()
    no_res[no_res == 2] = 255  # a city whose labels have no residential class
    images = [item, LabelledImage("second", item.scene, no_res)]
    scores = city_scores(loaded, images)
    pred = segment_scene(item.scene, loaded).classes
    tp = fp = fn = 0
    for ref in (item.label, no_res):
        ok = ref != 255
        tp += ((pred == 1) & (ref == 1) & ok).sum()
        fp += ((pred == 1) & (ref != 1) & ok).sum()
        fn += ((pred != 1) & (ref == 1) & ok).sum()
    expected = 2 * tp / (2 * tp + fp + fn)
    assert scores["table"]["non-residential"] == pytest.approx(expected)
    only_nonres = city_scores(loaded, images[1:])["table"]
    assert only_nonres["residential"] is None
    assert only_nonres["macro_builtup"] == only_nonres["non-residential"]
    row = mean_row({"a": {"table": {"residential": None, "other": 0.5}},
                    "b": {"table": {"residential": 0.4, "other": 0.7}}})
    assert row["residential"] == pytest.approx(0.4) and row["other"] == pytest.approx(0.6)


def test_crossval_cli_trains_one_fold_per_city_and_writes_the_table(cities, tmp_path):
    cfg = tmp_path / "cv.yaml"
    cfg.write_text(
        f"name: tiny\nseed: 3\ndata_root: {cities}\nmodel: {{base_width: 4}}\ncrop_size: 32\n"
        "batch_size: 2\nepochs: 2\nsteps_per_epoch: 2\nstats_samples: 4\nswa_epochs: 1\n"
        "haze_correction: dark_object\naugment: {haze_low: -0.02, sim_20m: 0.5}\n"
        "validate_bercy: false\nsources:\n  - {type: city, path: alpha}\n"
        "  - {type: city, path: beta, ignore_boundary_px: 1}\n")
    out = tmp_path / "cv"
    res = CliRunner().invoke(app, ["crossval", "--config", str(cfg), "--output-dir", str(out),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    payload = json.loads((out / "crossval.json").read_text())
    assert list(payload["cities"]) == ["alpha", "beta"]
    for city in ("alpha", "beta"):
        card = json.loads((out / city / "tiny.json").read_text())
        assert card["normalisation"]["haze"] == "dark_object"
        used = " ".join(d["name"] for d in card["training_data"])
        assert city not in used and ({"alpha", "beta"} - {city}).pop() in used
    assert "| **mean** |" in res.output and "| alpha |" in (out / "crossval.md").read_text()
    bad = CliRunner().invoke(app, ["crossval", "--config", str(cfg), "--output-dir", str(out),
                                   "--city", "gamma"])
    assert bad.exit_code == 2 and "gamma" in bad.output


def test_card_carries_the_cross_city_tables(tmp_path):
    cfg = TrainConfig(config_dir=str(tmp_path), sources=[{"type": "eurosat"}],
                      cross_city=["cv/crossval.json"])
    (tmp_path / "cv").mkdir()
    results = {"alpha": {"table": {"non-residential": 0.4, "residential": None}},
               "beta": {"table": {"non-residential": 0.6, "residential": 0.8}}}
    write_results(tmp_path / "cv", cfg, results, time.perf_counter())
    (table,) = cross_city_tables(cfg)
    assert table["label"] == "cv" and table["cities"]["alpha"]["residential"] is None
    assert table["mean"]["non-residential"] == pytest.approx(0.5)
    bad = cfg.model_copy(update={"cross_city": ["missing.json"]})
    with pytest.raises(Exception, match="not a table written by urbanseg crossval"):
        cross_city_tables(bad)


def test_a_fine_tuned_recipe_has_no_fold_for_its_parents_cities(tmp_path):
    """models/urbanseg-unet.yaml starts from 0.3.0, which was trained on Islamabad: that
    city cannot be left out (refused in plain words, before any training)."""
    from urbanseg_core.errors import InputError
    from urbanseg_core.training.config import REPO_ROOT, load_config
    from urbanseg_core.training.crossval import crossval, parent_cities

    cfg = load_config(REPO_ROOT / "models" / "urbanseg-unet.yaml")
    assert parent_cities(cfg) == ["islamabad"]
    with pytest.raises(InputError, match="islamabad cannot be left out"):
        crossval(cfg, tmp_path, ["islamabad"])
    assert not any(tmp_path.iterdir())
