"""Reading band stacks: band names, orders, reflectance scaling, nodata."""

import numpy as np
import pytest

from urbanseg_core.io.scene import BandFile, read_scene, resolve_band_order, to_reflectance

from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.sentinel2 import (L1C_EUROSAT_ORDER, L1C_SAFE_ORDER, MODEL_BANDS,
                                     canonical_band_name)

from ..conftest import write_geotiff


@pytest.mark.parametrize("text,expected", [
    ("B2", "B2"), ("B02", "B2"), ("b2", "B2"), ("SR_B2", "B2"), ("B8A", "B8A"), ("b8a", "B8A"),
    ("T33UUU_20170216T102101_B08", "B8"), ("B12", "B12"), ("B13", None), ("NIR", None), ("", None),
])
def test_canonical_band_name(text, expected):
    assert canonical_band_name(text) == expected


def test_reflectance_scale_and_offset():
    dn = np.array([[[0, 1000, 11000]]], dtype="uint16")
    np.testing.assert_allclose(to_reflectance(dn, scale=10000), [[[0.0, 0.1, 1.1]]], rtol=1e-6)
    np.testing.assert_allclose(to_reflectance(dn, scale=10000, dn_offset=-1000),
                               [[[-0.1, 0.0, 1.0]]], atol=1e-7)
    floats = np.array([[[0.05, 0.2, 0.4]]], dtype="float32")
    assert to_reflectance(floats).tolist() == floats.tolist()  # already reflectance


def test_read_by_descriptions_in_any_order(tmp_path):
    order = list(reversed(MODEL_BANDS))
    data = np.stack([np.full((4, 5), 100 * (i + 1), "uint16") for i in range(11)])
    path = write_geotiff(tmp_path / "rev.tif", data, [b.replace("B", "B0") if len(b) == 2 else b
                                                      for b in order])
    scene = read_scene(path)
    # model band B2 is the file's last band (value 1100 -> 0.11)
    assert scene.reflectance[:, 0, 0] == pytest.approx([0.11, 0.10, 0.09, 0.08, 0.07, 0.06,
                                                        0.05, 0.04, 0.03, 0.02, 0.01])
    assert scene.valid.all()
    assert "band names stored in the file" in scene.notes[0]


def test_float_files_in_dn_and_in_reflectance(tmp_path):
    dn = np.full((11, 4, 4), 1500.0, "float32")
    assert read_scene(write_geotiff(tmp_path / "dn.tif", dn)).reflectance.max() == \
        pytest.approx(0.15)
    refl = np.full((11, 4, 4), 0.15, "float32")
    assert read_scene(write_geotiff(tmp_path / "r.tif", refl)).reflectance.max() == \
        pytest.approx(0.15)


def test_explicit_band_order_overrides(tmp_path):
    data = np.stack([np.full((3, 3), i + 1, "uint16") for i in range(11)])
    path = write_geotiff(tmp_path / "x.tif", data)
    scene = read_scene(path, band_order=list(reversed(MODEL_BANDS)))
    assert scene.reflectance[0, 0, 0] == pytest.approx(11 / 10000)


@pytest.mark.parametrize("order", [L1C_SAFE_ORDER, L1C_EUROSAT_ORDER])
def test_13_band_l1c_order_detected_from_cirrus(tmp_path, order):
    typical = {"B1": 1500, "B2": 1200, "B3": 1100, "B4": 1000, "B5": 1300, "B6": 2000,
               "B7": 2300, "B8": 2500, "B8A": 2600, "B9": 900, "B10": 15, "B11": 1800,
               "B12": 1200}
    rng = np.random.default_rng(1)
    data = np.stack([(typical[b] + rng.integers(0, 50, (32, 32))).astype("uint16") for b in order])
    scene = read_scene(write_geotiff(tmp_path / "l1c.tif", data))
    expected = [typical[b] / 10000 for b in MODEL_BANDS]
    assert scene.reflectance.mean(axis=(1, 2)) == pytest.approx(expected, abs=0.003)


def test_nodata_and_nan_become_invalid(tmp_path):
    data = np.full((11, 4, 4), 0.2, "float32")
    data[:, 0, 0] = np.nan
    data[3, 1, 1] = -9999
    path = write_geotiff(tmp_path / "f.tif", data, list(MODEL_BANDS), nodata=-9999)
    scene = read_scene(path)
    assert not scene.valid[0, 0] and not scene.valid[1, 1]
    assert scene.valid.sum() == 14
    assert scene.reflectance[:, 0, 0].tolist() == [0.0] * 11
    # uint16 without a nodata value: all-zero pixels (the S2 fill value) are invalid
    dn = np.full((11, 2, 2), 500, "uint16")
    dn[:, 1, 1] = 0
    assert read_scene(write_geotiff(tmp_path / "u.tif", dn)).valid.tolist() == [[True, True],
                                                                                [True, False]]


def test_unknown_band_count_is_a_plain_error(tmp_path):
    path = write_geotiff(tmp_path / "four.tif", np.ones((4, 3, 3), "uint16"))
    with pytest.raises(BandOrderError, match="4 bands"):
        read_scene(path)
    with pytest.raises(BandOrderError, match="lacks the band"):
        resolve_band_order(3, ["B2", "B3", "B4"])


def test_windowed_reads_match_full_read(s2_geotiff):
    bf = BandFile(s2_geotiff)
    full, valid = bf.read()
    part, pvalid = bf.read(50, 100, 64, 500)  # clipped at the right edge
    assert part.shape == (11, 64, 200)
    np.testing.assert_array_equal(part, full[:, 50:114, 100:300])
    np.testing.assert_array_equal(pvalid, valid[50:114, 100:300])


def test_missing_folder_and_non_raster_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_scene(tmp_path / "nope.tif")
    with pytest.raises(InputError, match="folder"):
        read_scene(tmp_path)
    fake = tmp_path / "text.tif"
    fake.write_text("not a raster")
    with pytest.raises(InputError, match="could not be read"):
        read_scene(fake)
    with pytest.raises(InputError, match="limit"):
        read_scene(write_geotiff(tmp_path / "big.tif", np.ones((11, 10, 10), "uint16")),
                   max_pixels=50)
