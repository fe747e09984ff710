"""Change between two dates: from-to codes, areas, grids, the spurious-change rule, the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from typer.testing import CliRunner

from urbanseg_core.io.scene import Scene
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.change import ChangeParams, detect_change
from urbanseg_core.change.codes import changed, decode, encode, pair_names
from urbanseg_core.change.decide import candidates, from_to, sieve_mask
from urbanseg_core.change.spectral import change_magnitude, otsu_threshold
from urbanseg_core.change.stats import change_areas
from urbanseg_core.cli import app
from urbanseg_core.errors import InputError, ModelLoadError
from urbanseg_core.model.loading import LoadedModel
from urbanseg_core.model.card import DEFAULT_CLASSES, ModelCard, Normalisation
from urbanseg_core.inference.predict import ArraySource, predict_probabilities, predict_source

from ..conftest import textured_reflectance, write_geotiff

ORIGIN = (330000.0, 5822040.0)  # UTM 33N, west of Berlin
RED = MODEL_BANDS.index("B4")


# ---------------------------------------------------------------- helpers
class RedIsResidential(torch.nn.Module):
    """A stand-in for the UNet: residential where B4 (red) reflectance is above 0.15,
    otherwise "other"; non-residential never. Deterministic, so the rule can be tested."""

    n_channels = 15

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(60.0), requires_grad=False)

    def forward(self, x):
        red = x[:, RED]
        logit = self.scale * (red - 0.15)
        return torch.stack([-logit, torch.full_like(red, -20.0), logit], dim=1)


@pytest.fixture
def red_model() -> LoadedModel:
    card = ModelCard(name="red-is-residential", weights="none.pt", classes=DEFAULT_CLASSES,
                     normalisation=Normalisation(method="standardize", mean=[0.0] * 15,
                                                 std=[1.0] * 15),
                     tile_size=64, overlap=16)
    return LoadedModel(model=RedIsResidential().eval(), card=card, path=Path("none.pt"),
                       sha256="0" * 64)


def vegetation(height: int, width: int, seed: int = 0) -> np.ndarray:
    """``(11, H, W)`` float32 vegetated land: low red, high NIR, with texture and noise."""
    rng = np.random.default_rng(seed)
    spectrum = np.array([0.04, 0.07, 0.05, 0.10, 0.25, 0.30, 0.35, 0.36, 0.36, 0.20, 0.10])
    texture = 1 + 0.3 * rng.random((height, width))
    return (spectrum[:, None, None] * texture).astype("float32")


def concrete(refl: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """A copy of ``refl`` with a new concrete surface (bright, flat spectrum) in a block."""
    out = refl.copy()
    out[:, rows, cols] = np.array([0.20, 0.22, 0.24, 0.25, 0.26, 0.27, 0.28, 0.28, 0.28,
                                   0.30, 0.28], dtype="float32")[:, None, None]
    return out


def scene(refl: np.ndarray, crs: str = "EPSG:32633", transform=None,
          source: str = "synthetic") -> Scene:
    transform = transform or from_origin(*ORIGIN, 10, 10)
    return Scene(refl, np.ones(refl.shape[1:], bool), CRS.from_string(crs), transform, source,
                 MODEL_BANDS)


def dn_geotiff(path: Path, refl: np.ndarray, **kwargs) -> Path:
    """Reflectance as a uint16 DN GeoTIFF with B2..B12 band descriptions."""
    return write_geotiff(path, (refl * 10000).astype("uint16") + 1, list(MODEL_BANDS), **kwargs)


def run(*args):
    return CliRunner().invoke(app, ["change", *map(str, args)])


# ---------------------------------------------------------------- codes and areas
def test_from_to_encoding_and_names():
    before = np.array([[0, 0, 1, 2, 255], [2, 1, 0, 2, 1]], dtype="uint8")
    after = np.array([[0, 2, 1, 0, 1], [2, 2, 1, 255, 0]], dtype="uint8")
    codes = encode(before, after)
    assert codes.tolist() == [[0, 2, 4, 6, 255], [8, 5, 1, 255, 3]]
    b, a = decode(codes)
    keep = codes != 255
    assert np.array_equal(b[keep], before[keep]) and np.array_equal(a[keep], after[keep])
    assert (b[~keep] == 255).all() and (a[~keep] == 255).all()
    assert changed(codes).tolist() == [[False, True, False, True, False],
                                       [False, True, True, False, True]]
    names = pair_names(["other", "non-residential", "residential"])
    assert names[2] == "other -> residential" and names[7] == "residential -> non-residential"
    assert names[4] == "non-residential (unchanged)" and len(names) == 9
    with pytest.raises(ModelLoadError, match="3 classes"):
        pair_names(["a", "b"])


def test_areas_in_km2_match_hand_computed_values():
    codes = np.zeros((10, 10), dtype="uint8")  # 20 m pixels: 400 m² = 0.0004 km² each
    codes[0, :6] = 2        # 6 px other -> residential
    codes[1, :3] = 7        # 3 px residential -> non-residential
    codes[2, :] = 8         # 10 px residential unchanged
    codes[9, :5] = 255      # 5 px nodata
    stats = change_areas(codes, CRS.from_epsg(32633), from_origin(*ORIGIN, 20, 20),
                         ["other", "non-residential", "residential"])
    px = 0.0004
    assert stats.pairs[2].area_km2 == pytest.approx(6 * px)
    assert stats.pairs[2].name == "other -> residential" and stats.pairs[2].pixels == 6
    assert stats.pairs[0].area_km2 == pytest.approx(76 * px)
    assert stats.overlap_km2 == pytest.approx(95 * px)
    assert stats.nodata_km2 == pytest.approx(5 * px)
    assert stats.changed_km2 == pytest.approx(9 * px)
    assert stats.changed_share == pytest.approx(9 / 95)
    assert stats.pairs[2].share_of_overlap == pytest.approx(6 / 95)
    # net change: residential gains 6 px, loses 3 px to non-residential
    assert stats.net_change_km2 == pytest.approx(
        {"other": -6 * px, "non-residential": 3 * px, "residential": 3 * px})
    assert stats.before_km2["residential"] == pytest.approx(13 * px)
    assert stats.after_km2["residential"] == pytest.approx(16 * px)


# ---------------------------------------------------------------- the rule
def test_from_to_takes_the_most_probable_pair_of_different_classes_where_changed():
    p1 = np.array([[[0.7, 0.5]], [[0.2, 0.1]], [[0.1, 0.4]]], dtype="float32")  # (3, 1, 2)
    p2 = np.array([[[0.6, 0.2]], [[0.1, 0.3]], [[0.3, 0.5]]], dtype="float32")
    valid = np.ones((1, 2), bool)
    # unchanged: the class most probable at both dates together (0: .42 vs .03; 2: .20)
    assert from_to(p1, p2, np.zeros((1, 2), bool), valid).tolist() == [[0, 8]]
    # changed: pixel 0 other -> residential (.7 * .3), pixel 1 other -> residential (.5 * .5)
    assert from_to(p1, p2, np.ones((1, 2), bool), valid).tolist() == [[2, 2]]
    assert from_to(p1, p2, np.ones((1, 2), bool), np.zeros((1, 2), bool)).tolist() == [[255,
                                                                                      255]]


def test_minimum_mapping_unit_drops_small_regions_only():
    mask = np.zeros((20, 20), bool)
    mask[2:7, 2:7] = True     # 25 px, kept
    mask[4, 4] = False        # a hole stays a hole
    mask[12:14, 12:14] = True  # 4 px, dropped
    mask[18, 0] = True         # 1 px, dropped
    kept = sieve_mask(mask, 20)
    assert kept[2:7, 2:7].sum() == 24 and not kept[4, 4]
    assert not kept[10:].any()
    assert ChangeParams(min_area_m2=2500).min_pixels(100.0) == 25
    assert ChangeParams(min_area_m2=2500).min_pixels(400.0) == 7


def test_change_needs_built_up_at_one_date_and_spectral_evidence():
    h, w = 30, 30
    magnitude = np.zeros((h, w), "float32")
    magnitude[:, :20] = 9.0                       # strong spectral change on the left
    p_built = np.zeros((3, h, w), "float32")
    p_built[2] = 0.9
    p_built[0] = 0.1
    p_other = np.zeros((3, h, w), "float32")
    p_other[0] = 1.0
    p_other[:, :, 10:] = p_built[:, :, 10:]       # model sees built-up at date 2 right of 10
    valid = np.ones((h, w), bool)
    params = ChangeParams(min_area_m2=0)
    got = candidates(p_other, p_other, magnitude, valid, params, 100.0)
    # crops, water, forest: change without built-up area at either date is not urban change
    assert got[:, :10].sum() == 0
    # built-up at one date and spectral change: changed; no spectral change: unchanged
    assert got[:, 10:20].all() and not got[:, 20:].any()


def test_brightness_and_haze_shift_is_not_spectral_change():
    refl = textured_reflectance(96, 96, seed=1)
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.004, refl.shape).astype("float32")
    after = 1.25 * refl + 0.03 + noise  # brighter sun, more haze, sensor noise
    valid = np.ones((96, 96), bool)
    m = change_magnitude(refl, after, valid)
    assert np.percentile(m, 99.9) < ChangeParams().min_magnitude
    # too few pseudo-invariant (built-up) pixels: every pixel is the reference, same answer
    m = change_magnitude(refl, after, valid, reference=np.zeros_like(valid))
    assert np.percentile(m, 99.9) < ChangeParams().min_magnitude
    # a real new surface under the same shift stands out
    new = concrete(after, slice(40, 56), slice(40, 56))
    m = change_magnitude(refl, new, valid)
    assert (m[42:54, 42:54] > ChangeParams().min_magnitude).all()


def test_one_pixel_misregistration_is_tolerated():
    refl = textured_reflectance(64, 64, seed=3)
    shifted = np.roll(refl, 1, axis=2)  # AFTER moved one pixel east
    valid = np.ones((64, 64), bool)
    valid[:, 0] = False  # the wrapped column
    tolerant = change_magnitude(refl, shifted, valid, tolerance_px=1)
    strict = change_magnitude(refl, shifted, valid, tolerance_px=0)
    assert (strict > ChangeParams().min_magnitude).mean() > 0.03  # the texture's block edges
    assert tolerant.max() < ChangeParams().min_magnitude
    assert tolerant[:, 2:-1].max() < 0.5  # away from the wrapped (invalid) column


def test_otsu_threshold_splits_two_modes():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(1, 0.3, 5000), rng.normal(8, 0.5, 500)])
    t = otsu_threshold(values)
    assert 1.5 < t < 7.0 and 500 <= np.sum(values > t) <= 510
    with pytest.raises(ValueError):
        otsu_threshold(np.ones(10))


def test_probabilities_agree_with_the_class_map(tiny_model):
    refl = textured_reflectance(80, 100, seed=4)
    s = scene(refl)
    s.valid[:5] = False
    s.reflectance[:, :5] = 0
    probs = predict_probabilities(ArraySource(s), tiny_model)
    classes = predict_source(ArraySource(s), tiny_model)
    assert probs.shape == (3, 80, 100) and probs.dtype == np.float32
    assert np.allclose(probs[:, 5:].sum(axis=0), 1, atol=1e-5) and (probs[:, :5] == 0).all()
    agree = probs.argmax(axis=0)[5:] == classes[5:]
    assert agree.mean() > 0.999 and len(np.unique(classes[5:])) > 1


# ---------------------------------------------------------------- whole flow, in memory
def test_new_building_is_other_to_residential_and_nothing_else(red_model):
    before = vegetation(64, 64)
    after = concrete(1.1 * before + 0.01, slice(20, 36), slice(24, 40))  # + season shift
    result = detect_change(scene(before), scene(after), red_model)
    expected = np.zeros((64, 64), "uint8")
    expected[20:36, 24:40] = 2  # other -> residential
    assert np.array_equal(result.codes, expected)
    assert result.stats.pairs[2].area_km2 == pytest.approx(256 * 1e-4)
    assert result.stats.net_change_km2["residential"] == pytest.approx(256 * 1e-4)
    # a block below the minimum mapping unit (2500 m² = 25 px) is not reported
    small = concrete(before, slice(5, 9), slice(5, 9))  # 16 px
    assert not detect_change(scene(before), scene(small), red_model).changed.any()


def test_pure_brightness_shift_gives_no_change_even_where_the_maps_differ(tiny_model):
    refl = textured_reflectance(96, 128, seed=5)
    result = detect_change(scene(refl), scene(1.2 * refl + 0.02), tiny_model,
                           ChangeParams(min_area_m2=0))
    naive = (result.before_classes != result.after_classes)
    assert naive.mean() > 0.01  # the two per-date maps do differ ...
    assert not result.changed.any()  # ... but nothing changed on the ground
    assert set(np.unique(result.codes)) <= {0, 4, 8}


def test_after_on_another_grid_is_warped_and_only_the_overlap_is_compared(red_model):
    before = vegetation(60, 80, seed=6)
    # AFTER: the same ground, starting 20 px (200 m) further east and 10 px further south
    after = np.zeros_like(before)
    after[:, :50, :60] = before[:, 10:, 20:]
    after_transform = from_origin(ORIGIN[0] + 200, ORIGIN[1] - 100, 10, 10)
    result = detect_change(scene(before), scene(after[:, :50, :60],
                                                transform=after_transform),
                           red_model, ChangeParams(tolerance_px=0))
    assert result.shape == (60, 80) and result.transform == from_origin(*ORIGIN, 10, 10)
    nodata = result.codes == 255
    assert nodata[:10].all() and nodata[:, :20].all() and not nodata[10:, 20:].any()
    assert not result.changed.any()
    assert result.magnitude[10:, 20:].max() < 1e-3  # pixel-exact alignment
    assert result.stats.overlap_km2 == pytest.approx(50 * 60 * 1e-4)
    assert any("warped onto BEFORE's grid" in n for n in result.notes)


def test_after_in_another_crs_lands_on_befores_grid(red_model, tmp_path):
    before = vegetation(60, 60, seed=7)
    after = concrete(before, slice(20, 40), slice(20, 40))
    src = scene(after)
    dst_crs = CRS.from_epsg(4326)
    transform, width, height = calculate_default_transform(
        src.crs, dst_crs, 60, 60, *src.bounds)
    geo = np.zeros((11, height, width), "float32")
    reproject(after, geo, src_transform=src.transform, src_crs=src.crs,
              dst_transform=transform, dst_crs=dst_crs, resampling=Resampling.nearest)
    path = dn_geotiff(tmp_path / "after_4326.tif", geo, crs="EPSG:4326", transform=transform)
    result = detect_change(scene(before), path, red_model)
    assert result.crs == CRS.from_epsg(32633) and result.shape == (60, 60)
    block = result.codes[22:38, 22:38]
    assert (block == 2).mean() > 0.95  # the new block, where BEFORE's grid puts it
    outside = np.ones((60, 60), bool)
    outside[17:43, 17:43] = False
    assert not result.changed[outside].any()


def test_before_in_degrees_is_compared_on_a_metric_grid_and_mapped_back(red_model, tmp_path):
    ground = vegetation(60, 60, seed=11)
    utm = scene(ground)
    dst_crs = CRS.from_epsg(4326)
    transform, width, height = calculate_default_transform(
        utm.crs, dst_crs, 60, 60, *utm.bounds)

    def to_degrees(refl, name):
        geo = np.zeros((11, height, width), "float32")
        reproject(refl, geo, src_transform=utm.transform, src_crs=utm.crs,
                  dst_transform=transform, dst_crs=dst_crs, resampling=Resampling.nearest)
        return dn_geotiff(tmp_path / name, geo, crs="EPSG:4326", transform=transform)

    before = to_degrees(ground, "before_4326.tif")
    after = to_degrees(concrete(ground, slice(20, 40), slice(20, 40)), "after_4326.tif")
    result = detect_change(before, after, red_model)
    assert result.crs == dst_crs and result.shape == (height, width)
    assert result.transform == transform
    assert any("UTM grid for the model" in n for n in result.notes)
    # the new block: 400 px of 10 m = 0.04 km², measured geodesically on the degree grid
    assert result.stats.pairs[2].area_km2 == pytest.approx(0.04, rel=0.15)
    assert result.stats.changed_km2 == pytest.approx(result.stats.pairs[2].area_km2)
    assert "geodesic" in result.stats.pixel_area_method


def test_dates_that_do_not_overlap_are_a_plain_error(red_model):
    far = from_origin(ORIGIN[0] + 50_000, ORIGIN[1], 10, 10)
    with pytest.raises(InputError, match="do not overlap"):
        detect_change(scene(vegetation(20, 20)), scene(vegetation(20, 20), transform=far),
                      red_model)


# ---------------------------------------------------------------- the command line
@pytest.fixture
def two_dates(tmp_path):
    before = vegetation(64, 64, seed=8)
    after = concrete(before, slice(10, 30), slice(10, 40))
    return (dn_geotiff(tmp_path / "before.tif", before),
            dn_geotiff(tmp_path / "after.tif", after))


@pytest.fixture
def use_red_model(monkeypatch, red_model):
    monkeypatch.setattr("urbanseg_core.cli.change.load_model", lambda path=None: red_model)


def test_cli_writes_the_map_stats_and_new_built_up_polygons(two_dates, tmp_path,
                                                            use_red_model):
    before, after = two_dates
    out, stats, polys = tmp_path / "out" / "change.tif", tmp_path / "s.json", tmp_path / "n.geojson"
    out.parent.mkdir()
    res = run(before, after, "-o", out, "--json", stats, "--geojson", polys)
    assert res.exit_code == 0, res.output
    assert "other" in res.stdout and "net change" in res.stdout and "km²" in res.stdout
    with rasterio.open(out) as src, rasterio.open(before) as ref:
        codes = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.crs == ref.crs and src.transform == ref.transform
        tags = src.tags()
        classes = json.loads(tags["CLASSES"])
        assert classes["2"] == "other -> residential" and len(classes) == 9
        assert "3 * before + after" in tags["FROM_TO_ENCODING"]
        assert json.loads(tags["CHANGE_METHOD"])["min_area_m2"] == 2500
        assert src.colormap(1)[2][:3] != src.colormap(1)[0][:3]
    assert (codes[12:28, 12:38] == 2).all() and codes.sum() == 2 * (codes == 2).sum()
    payload = json.loads(stats.read_text())
    pairs = {p["name"]: p for p in payload["pairs"]}
    assert pairs["other -> residential"]["area_km2"] == pytest.approx(600 * 1e-4)
    assert payload["net_change_km2"]["residential"] == pytest.approx(600 * 1e-4)
    assert payload["method"]["min_magnitude"] == 5.5 and payload["method"]["min_pixels"] == 25
    geo = json.loads(polys.read_text())
    assert len(geo["features"]) == 1
    assert geo["features"][0]["properties"]["class"] == "other -> residential"
    assert sorted(p.name for p in out.parent.iterdir()) == ["change.tif"]  # no temp files
    (tmp_path / "plain.txt").write_text("")  # outputs get the permissions of any new file
    assert out.stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def band_folder(folder: Path, refl: np.ndarray, scl: np.ndarray | None = None) -> Path:
    """One single-band GeoTIFF per band (``..._B02.tif``), as OSCD and SAFE products ship
    them, plus a scene classification layer at 20 m when ``scl`` is given."""
    folder.mkdir()
    for i, band in enumerate(MODEL_BANDS):
        label = "B" + band[1:].zfill(2) if band != "B8A" else "B8A"
        write_geotiff(folder / f"T33UUU_20170216_{label}.tif",
                      (refl[i:i + 1] * 10000).astype("uint16") + 1)
    if scl is not None:
        write_geotiff(folder / "T33UUU_20170216_SCL_20m.tif", scl[None, ::2, ::2],
                      transform=from_origin(*ORIGIN, 20, 20))
    return folder


def test_cli_takes_band_folders(tmp_path, use_red_model):
    before = vegetation(48, 48, seed=9)
    after = concrete(before, slice(10, 30), slice(10, 30))
    res = run(band_folder(tmp_path / "imgs_1", before), band_folder(tmp_path / "imgs_2", after),
              "-o", tmp_path / "c.tif")
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "c.tif") as src:
        assert (src.read(1)[12:28, 12:28] == 2).all()


def test_clouds_and_shadows_of_a_level2a_folder_are_not_compared(tmp_path, red_model):
    before = vegetation(48, 48, seed=10)
    after = concrete(before, slice(10, 30), slice(10, 30))  # a bright cloud over fields
    scl = np.full((48, 48), 4, dtype="uint8")  # 4 vegetation
    scl[10:30, 10:30] = 9                       # 9 cloud, high probability
    scl[30:34, 10:30] = 3                       # 3 its shadow
    plain = detect_change(band_folder(tmp_path / "d1", before),
                          band_folder(tmp_path / "d2", after), red_model)
    assert plain.changed[12:28, 12:28].all()  # without the SCL layer the cloud is "change"
    masked = detect_change(tmp_path / "d1", band_folder(tmp_path / "d3", after, scl), red_model)
    assert not masked.changed.any()
    assert (masked.codes[10:34, 10:30] == 255).all() and (masked.codes[:10] != 255).all()
    assert any("cloud shadow" in n and "SCL" in n for n in masked.notes)


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("same", "same file"),
    ("overwrite", "is one of the inputs"),
    ("no_overlap", "do not overlap"),
    ("bad_bands", "bands without Sentinel-2 band names"),
    ("two_outputs", "two outputs"),
])
def test_cli_errors_are_one_plain_line_with_exit_2(case, message, two_dates, tmp_path,
                                                   use_red_model):
    before, after = two_dates
    out = tmp_path / "c.tif"
    args = {
        "missing": (before, tmp_path / "nope.tif", "-o", out),
        "same": (before, before, "-o", out),
        "overwrite": (before, after, "-o", after),
        "no_overlap": (before, dn_geotiff(tmp_path / "far.tif", vegetation(64, 64),
                                          transform=from_origin(900000, 5822040, 10, 10)),
                       "-o", out),
        "bad_bands": (before, write_geotiff(tmp_path / "five.tif",
                                            np.ones((5, 64, 64), "uint16")), "-o", out),
        "two_outputs": (before, after, "-o", out, "--json", out),
    }[case]
    data = after.read_bytes()
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error:") and message in res.stderr, res.stderr
    assert "Traceback" not in res.output and len(res.stderr.strip().splitlines()) == 1
    assert after.read_bytes() == data and not out.exists()


# ---------------------------------------------------------------- real data
def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_change_oscd.py"
    spec = importlib.util.spec_from_file_location("bench_change_oscd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
def test_oscd_nantes_beats_the_cva_otsu_baseline(shared_data, tmp_path):
    bench = _bench()
    folder_1, folder_2, label_path = bench.city_paths("nantes")
    out, stats = tmp_path / "nantes_change.tif", tmp_path / "nantes.json"
    res = run(folder_1, folder_2, "-o", out, "--json", stats)
    assert res.exit_code == 0, res.output
    label, profile = bench.read_label(label_path)
    with rasterio.open(out) as src:
        codes = bench.onto_label_grid(src.read(1), src.crs, src.transform, profile, 255)
    ours = bench.f1_score(changed(codes), label)["f1"]
    baseline = bench.f1_score(bench.cva_otsu_baseline(folder_1, folder_2, profile), label)["f1"]
    assert ours > max(baseline, 0.2), (ours, baseline)
    assert 20 < json.loads(stats.read_text())["overlap_km2"] < 50
