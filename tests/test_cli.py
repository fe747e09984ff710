"""The `urbanseg` command line: predict, plain errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import rasterio

from urbanseg_core.inference.pipeline import SAMPLE_SCENE


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "urbanseg_core.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_predict_writes_mask_and_stats(s2_geotiff, tiny_model_path, tmp_path):
    out = tmp_path / "mask.tif"
    res = run_cli("predict", s2_geotiff, "-o", out, "--model", tiny_model_path,
                  "--json", tmp_path / "s.json")
    assert res.returncode == 0, res.stderr
    assert "built-up share" in res.stdout and "km²" in res.stdout
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32633 and src.nodata == 255
        assert set(np.unique(src.read(1))) <= {0, 1, 2}
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["valid_km2"] == __import__("pytest").approx(200 * 300 * 1e-4)
    assert sum(c["pixels"] for c in stats["classes"]) == 200 * 300


def test_predict_esm_codes(s2_geotiff, tiny_model_path, tmp_path):
    out = tmp_path / "esm.tif"
    res = run_cli("predict", s2_geotiff, "-o", out, "--model", tiny_model_path, "--codes", "esm")
    assert res.returncode == 0, res.stderr
    with rasterio.open(out) as src:
        assert src.nodata == 0 and set(np.unique(src.read(1))) <= {1, 250, 255}


def test_predict_sample_with_bundled_model(tmp_path):
    out = tmp_path / "m.tif"
    res = run_cli("predict", "--sample", "-o", out)
    assert res.returncode == 0, res.stderr
    with rasterio.open(out) as src, rasterio.open(SAMPLE_SCENE) as scene:
        assert src.crs == scene.crs and src.transform == scene.transform
        assert src.shape == scene.shape
        values = set(np.unique(src.read(1)))
        assert values <= {0, 1, 2, 255} and len(values & {1, 2}) >= 1  # some built-up found
    for name in ("other", "non-residential", "residential"):
        assert name in res.stdout


def test_errors_are_one_plain_line_with_exit_2(tmp_path, tiny_model_path, s2_geotiff):
    cases = [
        ("predict", tmp_path / "missing.tif", "-o", tmp_path / "m.tif"),
        ("predict", tmp_path, "-o", tmp_path / "m.tif"),
        ("predict", s2_geotiff, "-o", tmp_path / "nofolder" / "m.tif"),
        ("predict", s2_geotiff, "-o", tmp_path / "m.tif", "--model", tmp_path / "nomodel.json"),
        ("predict", s2_geotiff, "-o", tmp_path / "m.tif", "--codes", "xyz"),
        ("predict", "-o", tmp_path / "m.tif"),
    ]
    for args in cases:
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr, res.stderr
        assert res.stderr.strip().startswith("Error:"), res.stderr
