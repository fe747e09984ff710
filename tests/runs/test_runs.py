"""The Streamlit-free run layer: upload handling, band-order proposals, run keys, large files
read tile by tile, the manifest's tiling, reference value tables and the DN offset guess."""

from __future__ import annotations

import io
import json

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin
import pytest
import rasterio
from PIL import Image

from urbanseg_core.app.messages import codes_words
from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.inference.predict import tiling_for
from urbanseg_core.io.bandfolder import guess_offset
from urbanseg_core.io.references import default_classes, reference_values
from urbanseg_core.runs.compute import compute, memory_need
from urbanseg_core.runs.load import run_bytes
from urbanseg_core.runs.request import RunRequest
from urbanseg_core.runs.uploads import (check_band_order, inspect_raster, save_upload,
                                        stage_weights)
from urbanseg_core.sentinel2 import MODEL_BANDS, level2a_signs

from ..conftest import T, UTM33, textured_reflectance, write_geotiff



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


# ------------------------------------------------------------ large files, offsets, tables

def _dn_scene(path, height, width, seed=0, offset=0, names=True):
    dn = (textured_reflectance(height, width, seed) * 10000 + offset).astype("uint16") + 1
    return write_geotiff(path, dn, list(MODEL_BANDS) if names else None)


def test_a_file_on_a_10_m_grid_is_read_tile_by_tile_with_pictures_of_one_size(tmp_path,
                                                                             tiny_model):
    path = _dn_scene(tmp_path / "wide.tif", 300, 2600)
    request = RunRequest(kind="upload", name="wide.tif", path=str(path), sha256="w")
    assert memory_need(request, tiny_model) == run_bytes(300 * 2600, whole=False)
    result = compute(request, tiny_model)
    assert result.classes.shape == (300, 2600)
    assert "tile_size" in result.manifest()["parameters"]
    # the pictures are decimated alike: true colour and class maps have one size
    step = result.step
    assert step == 3 and result.picture.shape[:2] == result.classes[::step, ::step].shape
    sizes = {Image.open(io.BytesIO(png)).size for png in (result.picture_png(),
                                                          result.classes_png())}
    assert len(sizes) == 1


def test_the_picture_download_lays_the_classes_over_the_image_with_a_legend(tmp_path,
                                                                            tiny_model):
    from urbanseg_core.io.display import LEGEND_PX, on_utm
    from urbanseg_core.util import hex_to_rgb

    path = _dn_scene(tmp_path / "img.tif", 200, 240)
    result = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="p"),
                     tiny_model)
    result.classes[:] = 0
    result.classes[50:150, 60:180] = 2  # a residential block in the middle
    figure = np.asarray(Image.open(io.BytesIO(result.figure_png())).convert("RGB"))
    picture = result.picture[..., :3].astype(int)
    assert figure.shape == (200 + LEGEND_PX, 240, 3)
    # "other" is the picture itself; residential is tinted towards its colour
    np.testing.assert_array_equal(figure[:40, :50], picture[:40, :50])
    orange = np.array(hex_to_rgb(result.colours[2]))
    inside = figure[60:140, 70:170].astype(int)
    assert (np.abs(inside - orange).mean() < np.abs(picture[60:140, 70:170] - orange).mean())
    # the legend strip holds each built-up class's colour swatch
    strip = figure[200:].reshape(-1, 3)
    for colour in result.colours[1:]:
        assert (strip == np.array(hex_to_rgb(colour))).all(axis=1).sum() >= 100
    # a scale bar lower left on a projected grid
    corner = (slice(170, 200), slice(0, 50))
    assert (figure[corner] != picture[corner]).any()
    # on a latitude/longitude grid (San Jose: pixels 8.8 m wide, 11.1 m tall) the picture is
    # redrawn on UTM with square pixels: 2.22 km tall, 2.12 km wide, not 200 x 240 px
    result.crs = CRS.from_epsg(4326)
    result.transform = from_origin(-122.05, 37.40, 0.0001, 0.0001)
    geographic = np.asarray(Image.open(io.BytesIO(result.figure_png())).convert("RGB"))
    height, width = geographic.shape[0] - LEGEND_PX, geographic.shape[1]
    assert abs(height / width - 2.22 / 2.12) < 0.03
    assert result.imagery_years == []  # "img.tif": no date in the name
    result.source["name"] = "S2B_MSIL1C_20180326T184019_N0206.tif"
    assert result.imagery_years == [2018]
    result.dates = {"start": "2022-06-01", "end_excluded": "2023-01-01"}
    assert result.imagery_years == [2022]
    redrawn, _, pixel_m = on_utm(result.picture, result.classes, result.crs, result.transform)
    assert redrawn.shape[:2] == (height, width) and 9 < pixel_m < 11
    low_left = (slice(height - 30, height), slice(0, 50))
    assert (geographic[low_left] != redrawn[..., :3][low_left]).any()  # a scale bar there too


def test_the_manifest_records_the_tile_size_the_prediction_used(tmp_path, tiny_model):
    path = _dn_scene(tmp_path / "s.tif", 700, 900)
    result = compute(RunRequest(kind="upload", name="s.tif", path=str(path), sha256="s"),
                     tiny_model)
    tile, overlap = tiling_for(tiny_model.card, 700, 900)
    params = result.manifest()["parameters"]
    assert (params["tile_size"], params["overlap"]) == (tile, overlap)
    assert tile != tiny_model.card.tile_size  # the card's base tile is not what was used


def test_a_value_table_maps_any_reference_codes(tmp_path, tiny_model):
    """A reference coded 1 residential / 2 non-residential (Islamabad's GHSL file): read as
    index codes the classes look swapped; the user's value table fixes it."""
    path = _dn_scene(tmp_path / "img.tif", 64, 64)
    base = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="i"),
                   tiny_model).classes
    swapped = np.choose(base, [0, 2, 1]).astype("uint8")  # 1 <-> 2
    ref = tmp_path / "ref.tif"
    with rasterio.open(ref, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                       crs=UTM33, transform=T) as dst:
        dst.write(swapped, 1)
    values, codes, nodata_px = reference_values(ref)
    assert [v for v, _ in values] == [0, 1, 2] and codes == "index" and nodata_px == 0
    with rasterio.open(ref, "r+") as dst:  # a declared no-data value: counted, not listed
        dst.nodata = 2
    found = reference_values(ref)
    assert [v for v, _ in found.values] == [0, 1] and found.nodata_px == (swapped == 2).sum()
    with rasterio.open(ref, "r+") as dst:
        dst.nodata = None
    assert default_classes([0, 1, 2], codes) == {0: 0, 1: 1, 2: 2}
    as_index = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="i",
                                  reference_path=str(ref), reference_sha256="r"), tiny_model)
    hint = as_index.metrics["swapped_builtup"]
    assert hint is not None and hint["if_swapped"] > hint["dice_macro_builtup"]
    table = ((0, 0), (1, 2), (2, 1))
    mapped = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="i",
                                reference_path=str(ref), reference_sha256="r",
                                reference_values=table), tiny_model)
    assert mapped.metrics["dice_weighted"] == pytest.approx(1.0)
    assert mapped.metrics["swapped_builtup"] is None
    assert mapped.manifest()["source"]["reference"]["values"] == {"0": 0, "1": 2, "2": 1}
    # the detected codes are named beside the table (the page said "your value table codes")
    assert mapped.reference_codes == "auto (index) codes, classes as in the value table"
    assert codes_words(mapped.reference_codes) == mapped.reference_codes
    assert codes_words(as_index.reference_codes) == "auto (index) codes"
    assert RunRequest(kind="upload", name="a", sha256="i", reference_values=table).key("m") \
        != RunRequest(kind="upload", name="a", sha256="i").key("m")


@pytest.mark.parametrize("name, offset, words", [
    ("S2B_MSIL2A_20220801T100031_N0400_R122_T33UUU_B02.tif", -1000.0, "baseline 04.00"),
    ("T43SCT_20181227T055231_B02_20m.jp2", -1000.0, "darkest blue pixels read"),
    ("T33UUU_20170216T102131_B02.tif", 0.0, "16 February 2017, before"),
    ("T33UUU_20230512T102131_B02.tif", -1000.0, "12 May 2023, after"),
    # old-style names carry the processing time: said as such
    ("S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30TXT_B02.tif", 0.0,
     "processed on 6 July 2016, before"),
    ("scene.tif", None, None),
])
def test_the_dn_offset_is_guessed_from_the_evidence(name, offset, words):
    blue = np.full(1000, 1230.0) if "20m" in name else np.full(1000, 150.0)
    guess = guess_offset([name], blue, level2a_signs([name]))
    if offset is None:
        assert guess is None
        return
    assert guess.offset == offset and words in guess.reason


def test_a_level2a_upload_without_the_offset_stored_is_left_unticked():
    guess = guess_offset(["T43SCT_20230101T055231_B02_20m.jp2"], np.full(500, 180.0), True)
    assert guess.offset == 0.0 and "no 1000 DN offset is stored" in guess.reason


def test_uploaded_weights_keep_their_name_with_a_card(tmp_path):
    card = json.dumps({"name": "x", "weights": "original.pt", "classes": []}).encode()
    path = stage_weights(b"weights", "my_weights.pt", card)
    assert path.name == "my_weights.json" and (path.parent / "my_weights.pt").exists()
    assert json.loads(path.read_text())["weights"] == "my_weights.pt"


def test_a_run_on_an_area_the_model_was_trained_on_says_so(tmp_path, tiny_model_path):
    """The card's training areas (bounds in degrees) that a run's extent overlaps come with
    the result, so the page can say its agreement there is not independent."""
    from urbanseg_core.io.grid import wgs84_bounds
    from urbanseg_core.model.card import training_areas
    from urbanseg_core.model.loading import load_model

    path = _dn_scene(tmp_path / "img.tif", 64, 64)
    with rasterio.open(path) as src:
        w, s, e, n = wgs84_bounds(src.crs, src.transform, src.shape)
    loaded = load_model(tiny_model_path)
    loaded.card.training_data = [
        {"name": "town data", "area": "Test town", "bounds_wgs84": [w - 0.1, s - 0.1, w + 0.001,
                                                                     s + 0.001]},
        {"name": "far away", "area": "Elsewhere", "bounds_wgs84": [e + 1, s, e + 2, n]},
        {"name": "EuroSAT patches"}]
    assert training_areas(loaded.card, (w, s, e, n)) == ["Test town"]
    assert training_areas(loaded.card, None) == []
    result = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="t"),
                     loaded)
    assert result.trained_here == ["Test town"]
    loaded.card.training_data = loaded.card.training_data[1:]
    result = compute(RunRequest(kind="upload", name="img.tif", path=str(path), sha256="u"),
                     loaded)
    assert result.trained_here == []
