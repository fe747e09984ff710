"""The Streamlit-free run layer: upload handling, band-order proposals and run keys."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.runs.request import RunRequest
from urbanseg_core.runs.uploads import check_band_order, inspect_raster, save_upload

from ..conftest import T, UTM33



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
