"""The `urbanseg` command line in-process: predict, plain errors with exit code 2, the group."""

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from urbanseg_core.cli.main import COMMANDS
from urbanseg_core.io.sample import SAMPLE_SCENE

from ..conftest import fresh_python


def test_predict_writes_mask_and_stats(cli, s2_geotiff, tiny_model_path, tmp_path):
    out = tmp_path / "mask.tif"
    res = cli("predict", s2_geotiff, "-o", out, "--model", tiny_model_path,
              "--json", tmp_path / "s.json")
    assert res.returncode == 0, res.stderr
    assert "built-up share" in res.stdout and "km²" in res.stdout
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32633 and src.nodata == 255
        assert set(np.unique(src.read(1))) <= {0, 1, 2}
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["valid_km2"] == pytest.approx(200 * 300 * 1e-4)  # 10 m pixels: 1e-4 km² each
    assert sum(c["pixels"] for c in stats["classes"]) == 200 * 300


def test_predict_esm_codes(cli, s2_geotiff, tiny_model_path, tmp_path):
    out = tmp_path / "esm.tif"
    res = cli("predict", s2_geotiff, "-o", out, "--model", tiny_model_path, "--codes", "esm")
    assert res.returncode == 0, res.stderr
    with rasterio.open(out) as src:
        assert src.nodata == 0 and set(np.unique(src.read(1))) <= {1, 250, 255}


def test_predict_sample_with_bundled_model(cli, tmp_path):
    out = tmp_path / "m.tif"
    res = cli("predict", "--sample", "-o", out)
    assert res.returncode == 0, res.stderr
    with rasterio.open(out) as src, rasterio.open(SAMPLE_SCENE) as scene:
        assert src.crs == scene.crs and src.transform == scene.transform
        assert src.shape == scene.shape
        values = set(np.unique(src.read(1)))
        assert values <= {0, 1, 2, 255} and len(values & {1, 2}) >= 1  # some built-up found
    for name in ("other", "non-residential", "residential"):
        assert name in res.stdout


@pytest.mark.parametrize("case", ["missing file", "a folder without bands", "no output folder",
                                  "missing model", "unknown codes", "no input"])
def test_errors_are_one_plain_line_with_exit_2(cli, case, tmp_path, s2_geotiff):
    args = {
        "missing file": (tmp_path / "missing.tif", "-o", tmp_path / "m.tif"),
        "a folder without bands": (tmp_path, "-o", tmp_path / "m.tif"),
        "no output folder": (s2_geotiff, "-o", tmp_path / "nofolder" / "m.tif"),
        "missing model": (s2_geotiff, "-o", tmp_path / "m.tif", "--model",
                          tmp_path / "nomodel.json"),
        "unknown codes": (s2_geotiff, "-o", tmp_path / "m.tif", "--codes", "xyz"),
        "no input": ("-o", tmp_path / "m.tif"),
    }[case]
    res = cli("predict", *args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().startswith("Error:") and len(res.stderr.strip().splitlines()) == 1


def test_help_lists_every_command_in_order(cli):
    res = cli("--help")
    assert res.returncode == 0
    listed = [line.split()[0] for line in res.stdout.split("Commands:")[1].splitlines()
              if line.strip()]
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_loads_and_explains_itself(cli, name):
    res = cli(name, "--help")
    assert res.returncode == 0 and "Usage:" in res.stdout and "--help" in res.stdout


def test_group_help_imports_no_command_module():
    """``urbanseg --help`` stays quick: command modules (PyTorch, rasterio) load on use."""
    code = ("import sys; from urbanseg_core.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['--help']); "
            "print(sorted(m for m in ('torch', 'rasterio', 'urbanseg_core.cli.predict') "
            "if m in sys.modules))")
    assert fresh_python(code) == "[]"


def test_console_script_module_runs():
    """``python -m urbanseg_core.cli`` is the same command (a subprocess: the entry point)."""
    res = subprocess.run([sys.executable, "-m", "urbanseg_core.cli", "predict", "--sample"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Missing option '-o'" in res.stderr


def test_evaluate_flags_swapped_codes_and_takes_a_value_table(cli, s2_geotiff,
                                                              tiny_model_path, tmp_path):
    mask = tmp_path / "pred.tif"
    assert cli("predict", s2_geotiff, "-o", mask, "--model", tiny_model_path).returncode == 0
    with rasterio.open(mask) as src:
        pred, profile = src.read(1), src.profile
    profile.update(nodata=None)
    ref = tmp_path / "ghsl_3class.tif"  # 1 residential, 2 non-residential: the other order
    with rasterio.open(ref, "w", **profile) as dst:
        dst.write(np.choose(pred, [0, 2, 1]).astype("uint8"), 1)
    res = cli("evaluate", s2_geotiff, ref, "--model", tiny_model_path, "--json",
              "--reference-codes", "index")
    assert res.returncode == 0 and "look swapped" in res.stderr
    res = cli("evaluate", s2_geotiff, ref, "--model", tiny_model_path, "--json",
              "--reference-values", "0=other,1=residential,2=non-residential")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["dice_weighted"] == pytest.approx(1.0)
    assert "look swapped" not in res.stderr
    bad = cli("evaluate", s2_geotiff, ref, "--reference-values", "1=houses")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: Invalid value")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_command_modules_leave_heavy_packages_out():
    """Every command's module (what its --help imports) leaves PyTorch, dask, matplotlib and
    Earth Engine out: each command imports them only when it runs and needs them (PyTorch:
    train, crossval and export-onnx)."""
    modules = sorted({module for module, _, _ in COMMANDS.values()})
    code = ("import sys, importlib; "
            f"[importlib.import_module('urbanseg_core.cli.' + m) for m in {modules!r}]; "
            "print(sorted(m for m in ('torch', 'distributed', 'matplotlib', 'ee') "
            "if m in sys.modules))")
    assert fresh_python(code) == "[]"


def test_predict_on_the_bundled_model_runs_without_torch(tmp_path):
    """`urbanseg predict --sample` in a fresh process, through the console script's entry
    point: ONNX Runtime runs the shipped graph, neither PyTorch nor pyproj is imported (a
    UTM scene needs GDAL's CRS only), and the objects left at the end are frozen for a quick
    exit with the mask written whole."""
    out = tmp_path / "sample.tif"
    code = ("import gc, runpy, sys\n"
            f"sys.argv = ['urbanseg', 'predict', '--sample', '-o', {str(out)!r}]\n"
            "try:\n    runpy.run_module('urbanseg_core.cli', run_name='__main__')\n"
            "except SystemExit as exc:\n    code = exc.code\n"
            "print(code, 'torch' in sys.modules, 'pyproj' in sys.modules, "
            "gc.get_freeze_count() > 0)")
    assert fresh_python(code).splitlines()[-1].split() == ["0", "False", "False", "True"]
    with rasterio.open(out) as src:
        mask, nodata = src.read(1), src.nodata
    assert mask.shape == (768, 1024) and set(np.unique(mask)) <= {0, 1, 2, nodata}
