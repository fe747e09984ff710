"""The non-Streamlit parts behind the dashboard: polygons, manifest, CSV, map layers,
upload handling and run keys, checked against hand-computed values."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import shape

from urbanseg_core.io import display as mapview
from urbanseg_core.app.runner import RunRequest
from urbanseg_core.runs.uploads import check_band_order, inspect_raster, save_upload
from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.evaluation.manifest import build_manifest, manifest_bytes, scrub
from urbanseg_core.evaluation.report import stats_csv, stats_rows
from urbanseg_core.evaluation.areas import class_areas
from urbanseg_core.io.vectorize import class_polygons

UTM33 = CRS.from_epsg(32633)
T = from_origin(330000, 5822040, 10, 10)   # 10 m pixels, west of Berlin
NAMES = ["other", "non-residential", "residential"]
COLOURS = ["#F0F0F0", "#0072B2", "#E69F00"]


# ---------------------------------------------------------------- vectorize
def test_polygons_trace_each_built_up_area_in_lonlat():
    classes = np.zeros((20, 20), dtype="uint8")
    classes[2:5, 3:7] = 1        # 3 x 4 = 12 px non-residential
    classes[10:18, 10:12] = 2    # 8 x 2 = 16 px residential
    classes[0, 19] = 2           # a 1-px speck: dropped (min_pixels=4)
    classes[19, :] = 255         # nodata never becomes a polygon
    fc = class_polygons(classes, UTM33, T, NAMES, tolerance_px=0)
    props = sorted((f["properties"]["class"], f["properties"]["area_px"]) for f in fc["features"])
    assert props == [("non-residential", 12), ("residential", 16)]
    # geometry in degrees, inside the raster's footprint, with the right area (12 px = 1200 m²)
    from pyproj import Geod

    nonres = [f for f in fc["features"] if f["properties"]["class_index"] == 1][0]
    geom = shape(nonres["geometry"])
    lon, lat = geom.centroid.x, geom.centroid.y
    assert 12.4 < lon < 12.7 and 52.4 < lat < 52.6
    area_m2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])
    assert area_m2 == pytest.approx(1200, rel=0.01)  # UTM scale factor ~0.9996-1.0002


def test_polygons_without_crs_stay_in_raster_units_and_say_so():
    classes = np.zeros((6, 6), dtype="uint8")
    classes[1:4, 1:4] = 2
    fc = class_polygons(classes, None, from_origin(0, 6, 1, 1), NAMES, tolerance_px=0)
    assert "crs_note" in fc
    assert shape(fc["features"][0]["geometry"]).area == pytest.approx(9)


# ---------------------------------------------------------------- manifest
def test_manifest_records_inputs_model_versions_and_drops_secrets():
    m = build_manifest(
        source={"kind": "upload", "name": "a.tif", "sha256": "ab" * 32},
        model={"name": "m", "sha256": "cd" * 32},
        parameters={"tile_size": 256, "gee": {"service_account_key": "-----BEGIN PRIVATE",
                                             "project": "p"}},
        results={"built_up_share": 0.25}, aoi={"geometry": None},
        dates={"start": "2024-01-01", "end": "2024-06-30", "api_token": "x"})
    text = manifest_bytes(m).decode()
    assert "BEGIN PRIVATE" not in text and "api_token" not in text
    assert m["parameters"]["gee"] == {"project": "p"}
    assert m["software"]["packages"]["torch"] == __import__("torch").__version__
    assert m["source"]["sha256"] == "ab" * 32 and m["model"]["sha256"] == "cd" * 32
    assert json.loads(text)["dates"] == {"start": "2024-01-01", "end": "2024-06-30"}


def test_scrub_is_recursive_and_keeps_ordinary_keys():
    assert scrub({"a": [{"password": 1, "b": 2}], "clientId": 3, "Token": 4, "c": 5}) == {
        "a": [{"b": 2}], "c": 5}


def test_manifest_writes_nan_as_null():
    m = build_manifest(source={}, model={}, parameters={}, results={"dice": math.nan})
    assert json.loads(manifest_bytes(m))["results"]["dice"] is None


# ---------------------------------------------------------------- report
def test_csv_holds_areas_shares_and_scores():
    classes = np.array([[0, 0, 1, 2], [2, 2, 255, 255]], dtype="uint8")
    stats = class_areas(classes, UTM33, T, NAMES)   # 6 valid px of 100 m²
    metrics = {"per_class": {"other": {"dice": 0.5, "iou": 1 / 3, "precision": math.nan,
                                       "recall": 1.0, "support_px": 2}},
               "dice_weighted": 0.75}
    rows = list(csv.DictReader(io.StringIO(stats_csv(stats, metrics).decode())))
    get = {(r["section"], r["class"], r["metric"]): r["value"] for r in rows}
    assert float(get[("area", "residential", "area")]) == pytest.approx(3e-4)   # 3 px
    assert float(get[("area", "residential", "share_of_valid")]) == pytest.approx(50.0)
    assert float(get[("area", "built-up", "built_up_share")]) == pytest.approx(66.67)
    assert float(get[("area", "all", "nodata_area")]) == pytest.approx(2e-4)
    assert get[("agreement", "other", "precision")] == ""          # NaN: undefined
    assert float(get[("agreement", "all", "dice_weighted")]) == 0.75
    assert len(stats_rows(stats)) == 3 * 3 + 3


# ---------------------------------------------------------------- map layers
def test_footprint_and_bounds_are_in_degrees_around_the_scene():
    ring = mapview.footprint(UTM33, T, (768, 1024))["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    (s, w), (n, e) = mapview.latlon_bounds(UTM33, T, (768, 1024))
    assert 52.45 < s < n < 52.53 and 12.49 < w < e < 12.65
    assert mapview.footprint(None, T, (5, 5)) is None


def test_class_layer_is_a_palette_png_with_other_and_nodata_transparent():
    classes = np.zeros((64, 64), dtype="uint8")
    classes[:, 32:] = 1
    classes[40:, :] = 2
    classes[:4, :] = 255
    layer = mapview.class_layer(classes, UTM33, T, COLOURS)
    img = np.array(Image.open(io.BytesIO(layer.png)).convert("RGBA"))
    alphas = {tuple(px) for px in img.reshape(-1, 4)}
    assert (0, 0x72, 0xB2, 255) in alphas and (0xE6, 0x9F, 0x00, 255) in alphas
    assert (0xF0, 0xF0, 0xF0, 255) not in alphas                # "other" is not painted
    assert layer.data_url.startswith("data:image/png;base64,")
    (s, w), (n, e) = layer.bounds
    assert s < n and w < e


def test_true_colour_is_transparent_where_invalid_and_stretched():
    refl = np.random.default_rng(1).uniform(0.02, 0.3, (11, 50, 60)).astype("float32")
    valid = np.ones((50, 60), bool)
    valid[:, :10] = False
    rgba = mapview.true_colour(refl, valid)
    assert rgba.shape == (50, 60, 4)
    assert (rgba[:, :10, 3] == 0).all() and (rgba[:, 10:, 3] == 255).all()
    assert rgba[:, 10:, :3].min() == 0 and rgba[:, 10:, :3].max() == 255  # 2-98 % stretch
    layer = mapview.true_colour_layer(refl, valid, UTM33, T)
    assert layer.mime == "image/webp" and Image.open(io.BytesIO(layer.png)).format == "WEBP"


def test_map_has_layers_legend_and_drawing_tools():
    classes = np.ones((32, 32), dtype="uint8")
    layer = mapview.class_layer(classes, UTM33, T, COLOURS)
    html = mapview.build_map(overlays=[("Prediction", layer, True)], opacity=0.4,
                             legend=mapview.legend_html(NAMES, COLOURS), draw=True
                             ).get_root().render()
    assert "L.Control.Draw" in html and "imageOverlay" in html
    assert '"opacity": 0.4' in html
    assert "non-residential" in html and "residential" in html
    assert ">other<" not in mapview.legend_html(NAMES, COLOURS)


# ---------------------------------------------------------------- uploads and run keys
def _write(path, count, descriptions=None, dtype="uint16"):
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=count, dtype=dtype,
                       crs=UTM33, transform=T) as dst:
        dst.write(np.full((count, 8, 8), 1000, dtype=dtype))
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


@pytest.mark.parametrize("count, first, named", [(11, "B2", False), (12, "B1", False),
                                                 (5, "", False)])
def test_inspect_proposes_a_band_order_by_band_count(tmp_path, count, first, named):
    info = inspect_raster(_write(tmp_path / "x.tif", count))
    assert info.count == count and info.named is named
    assert info.default_order[0] == first and len(info.default_order) == count


def test_inspect_reads_band_names_and_refuses_non_rasters(tmp_path):
    names = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    info = inspect_raster(_write(tmp_path / "named.tif", 11, names))
    assert info.named and info.default_order[0] == "B2" and info.default_order[-1] == "B12"
    bad = tmp_path / "notes.tif"
    bad.write_text("hello")
    with pytest.raises(InputError, match="notes.tif could not be read as a raster"):
        inspect_raster(bad)


def test_band_order_check_names_missing_and_doubled_bands():
    good = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "")
    assert check_band_order(good) == good
    with pytest.raises(BandOrderError, match=r"missing B12; chosen twice: B11"):
        check_band_order(good[:10] + ("B11", ""))


def test_save_upload_keeps_the_name_and_is_idempotent():
    p1, sha1 = save_upload(b"abc", "../../etc/My scene.tif")
    p2, sha2 = save_upload(b"abc", "../../etc/My scene.tif")
    assert p1 == p2 and sha1 == sha2 and p1.name == "My_scene.tif"
    assert p1.read_bytes() == b"abc"
    assert save_upload(b"abd", "My scene.tif")[0] != p1


def test_run_key_depends_on_content_settings_and_model_not_on_paths():
    a = RunRequest(kind="upload", name="a.tif", path="/tmp/1/a.tif", sha256="s")
    assert a.key("m") == RunRequest(kind="upload", name="a.tif", path="/x/a.tif",
                                    sha256="s").key("m")
    assert a.key("m") != a.key("other-model")
    assert a.key("m") != RunRequest(kind="upload", name="a.tif", sha256="s",
                                    dn_offset=-1000).key("m")
    assert a.key("m") != RunRequest(kind="upload", name="a.tif", sha256="t").key("m")
