"""GeoTIFF writer (codes, nodata, colour table, CRS) and area statistics."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from urbanseg_core.errors import InputError
from urbanseg_core.evaluation.areas import class_areas
from urbanseg_core.io.outputs import encode, mask_bytes, overlay_rgba, write_mask
from urbanseg_core.model.card import DEFAULT_CLASSES

NAMES = [c.name for c in DEFAULT_CLASSES]
COLOURS = [c.colour for c in DEFAULT_CLASSES]
CLASSES = np.array([[0, 1, 2, 255], [2, 2, 0, 0]], dtype="uint8")
TRANSFORM = from_origin(330000, 5822040, 10, 10)
UTM33 = CRS.from_epsg(32633)


def test_index_codes_keep_class_zero_distinct_from_nodata(tmp_path):
    path = write_mask(tmp_path / "m.tif", CLASSES, UTM33, TRANSFORM, NAMES, COLOURS)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.crs.to_epsg() == 32633 and src.transform == TRANSFORM
        data = src.read(1)
        np.testing.assert_array_equal(data, CLASSES)
        assert src.read_masks(1)[0, 0] == 255  # class 0 "other" is data, not nodata
        assert src.read_masks(1)[0, 3] == 0
        assert src.colormap(1)[2][:3] == (0xE6, 0x9F, 0x00)
        assert json.loads(src.tags()["CLASSES"]) == {"0": "other", "1": "non-residential",
                                                     "2": "residential"}
        assert src.profile["compress"] == "deflate"


def test_esm_codes(tmp_path):
    assert encode(CLASSES, "esm").tolist() == [[1, 250, 255, 0], [255, 255, 1, 1]]
    data = mask_bytes(CLASSES, UTM33, TRANSFORM, NAMES, COLOURS, codes="esm")
    with rasterio.MemoryFile(data) as mem, mem.open() as src:
        assert src.nodata == 0
        assert src.read(1).tolist() == [[1, 250, 255, 0], [255, 255, 1, 1]]
        assert json.loads(src.tags()["CLASSES"])["250"] == "non-residential"


def test_unwritable_output_is_plain_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_mask(tmp_path / "no" / "m.tif", CLASSES, UTM33, TRANSFORM, NAMES, COLOURS)


def test_overlay_rgba_transparency():
    rgba = overlay_rgba(CLASSES, COLOURS, opacity=0.5)
    assert rgba.shape == (2, 4, 4)
    assert rgba[0, 0, 3] == 0 and rgba[0, 3, 3] == 0  # other and nodata transparent
    assert rgba[0, 2].tolist() == [0xE6, 0x9F, 0x00, 128]


def test_class_areas_planar():
    stats = class_areas(CLASSES, UTM33, TRANSFORM, NAMES)
    # 10 m pixels = 1e-4 km²; valid pixels 7: other 3, non-res 1, res 3
    assert [c.pixels for c in stats.classes] == [3, 1, 3]
    assert stats.classes[2].area_km2 == pytest.approx(3e-4)
    assert stats.valid_km2 == pytest.approx(7e-4)
    assert stats.nodata_km2 == pytest.approx(1e-4)
    assert stats.built_up_share == pytest.approx(4 / 7)
    assert stats.classes[0].share_of_valid == pytest.approx(3 / 7)


def test_class_areas_geographic_is_geodesic():
    # 0.001 degree pixels at the equator: ~111.32 m x 110.57 m = 0.01231 km²
    transform = from_origin(10.0, 0.0005, 0.001, 0.001)
    stats = class_areas(np.zeros((1, 1), "uint8"), CRS.from_epsg(4326), transform, NAMES)
    assert stats.valid_km2 == pytest.approx(0.012308, rel=1e-3)
    assert "geodesic" in stats.pixel_area_method


def test_class_areas_without_data_is_nan_share():
    stats = class_areas(np.full((2, 2), 255, "uint8"), UTM33, TRANSFORM, NAMES)
    assert stats.valid_km2 == 0 and np.isnan(stats.built_up_share)
