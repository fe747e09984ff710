"""The map shows an uploaded image's true colour before Run (not only its outline)."""

from __future__ import annotations

import numpy as np

from urbanseg_core.app import resources
from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import fresh_python, textured_reflectance, write_geotiff


def test_a_named_upload_gets_its_picture(tmp_path):
    dn = (textured_reflectance(64, 48) * 10000).astype("uint16")
    path = write_geotiff(tmp_path / "scene.tif", dn, descriptions=list(MODEL_BANDS))
    layer = resources.upload_view(str(path), path.stat().st_mtime_ns)
    assert layer is not None and layer.mime.startswith("image/") and len(layer.png) > 100
    (south, west), (north, east) = layer.bounds
    assert south < north and west < east


def test_an_upload_without_coordinates_has_no_picture(tmp_path):
    dn = np.full((11, 16, 16), 500, dtype="uint16")
    path = write_geotiff(tmp_path / "plain.tif", dn, descriptions=list(MODEL_BANDS), crs=None)
    assert resources.upload_view(str(path), path.stat().st_mtime_ns) is None


def test_the_app_loads_the_bundled_model_without_pytorch():
    """On a machine without an NVIDIA driver the app's background load runs the shipped
    ONNX graph and never imports PyTorch (its import costs seconds and memory)."""
    code = ("import sys; from urbanseg_core.app import resources; "
            "m = resources._load(resources.model_ref()); "
            "print(m.engine, resources.gpu_driver_present(), 'torch' in sys.modules, "
            "resources.device_summary(m), resources.engine_line(m), sep='|')")
    engine, gpu, torch_loaded, where, line = fresh_python(code).splitlines()[-1].split("|")
    if gpu == "True":
        return  # a GPU machine may use PyTorch
    assert engine == "ONNX Runtime" and torch_loaded == "False"
    assert where.startswith("this computer's processor (")
    assert line == "Engine: ONNX Runtime, running urbanseg-unet.onnx"
