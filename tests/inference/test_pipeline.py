"""A corpus of broken and odd rasters, generated here: each gets a plain answer, never a crash."""

import io
import threading

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.evaluation.areas import areas_of
from urbanseg_core.inference.pipeline import segment_file, segment_scene
from urbanseg_core.sentinel2 import L1C_SAFE_ORDER, MODEL_BANDS
from urbanseg_core.sentinel2 import NODATA

from ..conftest import textured_reflectance, write_geotiff


def _dn(h, w, seed=0):
    return (textured_reflectance(h, w, seed) * 10000).astype("uint16") + 1


@pytest.fixture
def broken(tmp_path):
    """name -> path of unusable inputs, each with the words its message must contain."""
    good = write_geotiff(tmp_path / "good.tif", _dn(64, 64), list(MODEL_BANDS))
    cases = {}
    (tmp_path / "empty.tif").write_bytes(b"")
    cases["empty"] = (tmp_path / "empty.tif", "could not be read")
    data = good.read_bytes()
    (tmp_path / "truncated.tif").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "truncated.tif", "damaged|could not be read")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    (tmp_path / "picture.tif").write_bytes(buf.getvalue())
    cases["png named .tif"] = (tmp_path / "picture.tif", "could not be read|bands")
    (tmp_path / "notes.tif").write_text("hello, this is text")
    cases["text named .tif"] = (tmp_path / "notes.tif", "could not be read")
    cases["wrong band count"] = (write_geotiff(tmp_path / "five.tif", _dn(16, 16)[:5]), "5 bands")
    cplx = np.ones((11, 8, 8), dtype="complex64")
    cases["complex"] = (write_geotiff(tmp_path / "complex.tif", cplx), "complex")
    cases["directory"] = (tmp_path, "folder")
    cases["missing"] = (tmp_path / "nothing.tif", "not found")
    return cases


def test_broken_inputs_get_plain_errors(broken, tiny_model):
    for name, (path, words) in broken.items():
        with pytest.raises(InputError, match=words):
            segment_file(path, tiny_model)


def test_unknown_band_order_is_band_order_error(tmp_path, tiny_model):
    path = write_geotiff(tmp_path / "nine.tif", _dn(16, 16)[:9])
    with pytest.raises(BandOrderError, match="Give the band order"):
        segment_file(path, tiny_model)


def test_no_crs_works_with_a_note(tmp_path, tiny_model):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=50, count=11,
                       dtype="uint16") as dst:
        dst.write(_dn(40, 50))
    seg = segment_file(path, tiny_model)
    assert seg.crs is None and seg.classes.shape == (40, 50)
    assert any("no CRS" in n for n in seg.notes)
    assert areas_of(seg).valid_km2 == pytest.approx(40 * 50 * 1e-4)


def test_geographic_crs_is_warped_to_utm_and_back(tmp_path, tiny_model):
    # 0.0001 degrees ~ 7-11 m near Berlin: warped to 10 m UTM for the model, mask back on input grid
    transform = from_origin(13.0, 52.6, 0.0001, 0.0001)
    path = write_geotiff(tmp_path / "wgs84.tif", _dn(120, 160), list(MODEL_BANDS),
                         crs="EPSG:4326", transform=transform)
    seg = segment_file(path, tiny_model)
    assert seg.classes.shape == (120, 160) and seg.crs.to_epsg() == 4326
    assert any("UTM" in n for n in seg.notes)
    assert (seg.classes != NODATA).mean() > 0.97  # all but edge pixels predicted
    assert "geodesic" in areas_of(seg).pixel_area_method


def test_warp_to_the_model_grid_keeps_pixel_values():
    """Nearest neighbour, not bilinear: the model is sensitive to smoothed input (see
    urbanseg_core.io.regrid.INPUT_RESAMPLING), so every warped reflectance is one of the input's."""
    from rasterio.crs import CRS

    from urbanseg_core.io.scene import Scene
    from urbanseg_core.io.regrid import to_model_grid

    refl = textured_reflectance(120, 160)
    scene = Scene(refl, np.ones((120, 160), bool), CRS.from_epsg(4326),
                  from_origin(13.0, 52.6, 0.0001, 0.0001))
    out = to_model_grid(scene)
    assert out.crs.to_epsg() == 32633 and out.transform.a == 10
    for band in (0, 6, 10):
        kept = out.reflectance[band][out.valid]
        assert kept.size > 5000 and np.isin(kept, refl[band]).all()


def test_nan_areas_all_nodata_and_tiny_rasters(tmp_path, tiny_model):
    data = textured_reflectance(30, 45)
    data[:, :10, :] = np.nan
    seg = segment_file(write_geotiff(tmp_path / "nan.tif", data, list(MODEL_BANDS)), tiny_model)
    assert (seg.classes[:10] == NODATA).all() and (seg.classes[10:] != NODATA).all()
    empty = np.full((11, 20, 20), np.nan, "float32")
    seg = segment_file(write_geotiff(tmp_path / "allnan.tif", empty, list(MODEL_BANDS)), tiny_model)
    assert (seg.classes == NODATA).all() and any("no valid pixels" in n for n in seg.notes)
    seg = segment_file(write_geotiff(tmp_path / "tiny.tif", _dn(5, 7), list(MODEL_BANDS)), tiny_model)
    assert seg.classes.shape == (5, 7) and (seg.classes != NODATA).all()


def test_13_band_l1c_file_without_names(tmp_path, tiny_model):
    dn = _dn(48, 48)
    extra = {"B1": np.full((48, 48), 1500, "uint16"), "B10": np.full((48, 48), 12, "uint16")}
    stack = np.stack([extra[b] if b in extra else dn[MODEL_BANDS.index(b)]
                      for b in L1C_SAFE_ORDER])
    seg = segment_file(write_geotiff(tmp_path / "l1c13.tif", stack), tiny_model)
    ref = segment_file(write_geotiff(tmp_path / "eleven.tif", dn, list(MODEL_BANDS)), tiny_model)
    np.testing.assert_array_equal(seg.classes, ref.classes)


def test_threaded_predictions_match_sequential(tiny_model):
    from urbanseg_core.io.scene import Scene

    scenes = [Scene(textured_reflectance(96, 130, seed), np.ones((96, 130), bool), None,
                    from_origin(0, 0, 10, 10)) for seed in range(4)]
    sequential = [segment_scene(s, tiny_model).classes for s in scenes]
    results = [None] * 4

    def work(i):
        results[i] = segment_scene(scenes[i], tiny_model).classes

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, sequential):
        np.testing.assert_array_equal(a, b)
