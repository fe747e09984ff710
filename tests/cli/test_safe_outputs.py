"""No command damages a user's file: outputs never replace an input, replace an existing file
only with --overwrite, and are written whole or not at all; bad option values are one plain
line with exit code 2 (hypothesis over paths and option values)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from urbanseg_core.io import outputs
from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import textured_reflectance, write_geotiff
from ..io.test_bandfolder import band_folder


def _plain(res) -> str:
    """The one-line error of a refused command (and checks it is one)."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.fixture
def small_tif(tmp_path) -> Path:
    """A 48 x 64 px 11-band DN GeoTIFF with band names."""
    dn = (textured_reflectance(48, 64) * 10000).astype("uint16") + 1
    return write_geotiff(tmp_path / "X.tif", dn, list(MODEL_BANDS))


def _digest(path: Path) -> bytes:
    return path.read_bytes()


def _link(kind: str, source: Path, where: Path) -> Path:
    """``where`` made a symbolic or hard link to ``source``."""
    if kind == "symlink":
        where.symlink_to(source)
    else:
        os.link(source, where)
    return where


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "absolute", "symlink", "hardlink"])
def test_predict_never_writes_over_its_input(cli, tiny_model_path, small_tif, tmp_path,
                                             monkeypatch, spelling):
    before = _digest(small_tif)
    monkeypatch.chdir(tmp_path)
    target = {"same": Path("X.tif"), "dot-slash": Path("./X.tif"),
              "absolute": small_tif.resolve()}.get(spelling)
    if spelling in ("symlink", "hardlink"):
        target = _link(spelling, small_tif, tmp_path / "link.tif")
    for args in (["-o", target], ["-o", tmp_path / "m.tif", "--json", target]):
        line = _plain(cli("predict", "X.tif", *args, "--model", tiny_model_path,
                          "--overwrite"))
        assert "is one of the inputs" in line
    assert _digest(small_tif) == before
    assert not (tmp_path / "m.tif").exists()  # refused before any work


def test_evaluate_never_writes_its_plot_over_the_reference(cli, tiny_model_path, small_tif,
                                                          tmp_path):
    ref = write_geotiff(tmp_path / "ref.tif", np.ones((1, 48, 64), "uint8"))
    before = _digest(ref)
    line = _plain(cli("evaluate", small_tif, ref, "--plot", ref, "--model", tiny_model_path,
                      "--overwrite"))
    assert "is one of the inputs" in line and _digest(ref) == before


def test_predict_never_replaces_a_band_file_of_its_input_folder(cli, tiny_model_path,
                                                                tmp_path):
    folder = band_folder(tmp_path / "IMG_DATA")
    band = next(folder.glob("*_B02.tif"))
    before = _digest(band)
    line = _plain(cli("predict", folder, "-o", band, "--model", tiny_model_path, "--overwrite"))
    assert "is one of the inputs" in line and _digest(band) == before
    # a new file in the folder is fine: it is not one the command reads
    res = cli("predict", folder, "-o", folder / "mask.tif", "--model", tiny_model_path)
    assert res.returncode == 0, res.stderr


def test_an_existing_output_is_replaced_only_with_overwrite(cli, tiny_model_path, small_tif,
                                                           tmp_path):
    out = tmp_path / "mask.tif"
    out.write_bytes(b"the user's own file")
    line = _plain(cli("predict", small_tif, "-o", out, "--model", tiny_model_path))
    assert "exists already" in line and "--overwrite" in line
    assert out.read_bytes() == b"the user's own file"
    res = cli("predict", small_tif, "-o", out, "--model", tiny_model_path, "--overwrite")
    assert res.returncode == 0, res.stderr
    with rasterio.open(out) as src:
        assert src.shape == (48, 64)


def test_stack_and_change_refuse_existing_outputs_too(cli, tmp_path):
    folder = band_folder(tmp_path / "scene")
    out = tmp_path / "s.tif"
    out.write_bytes(b"keep")
    assert "exists already" in _plain(cli("stack", folder, "-o", out))
    assert out.read_bytes() == b"keep"
    assert cli("stack", folder, "-o", out, "--overwrite").returncode == 0
    after = band_folder(tmp_path / "after")
    assert "exists already" in _plain(cli("change", folder, after, "-o", out))
    line = _plain(cli("change", folder, after, "-o", tmp_path / "c.tif", "--json",
                      next(after.glob("*_B04.tif")), "--overwrite"))
    assert "is one of the inputs" in line and out.exists()


def test_a_geotiff_output_must_be_named_so(cli, tiny_model_path, small_tif, tmp_path):
    """``-o mask.png`` would be a GeoTIFF that picture viewers cannot open: refused first."""
    line = _plain(cli("predict", small_tif, "-o", tmp_path / "mask.png", "--model",
                      tiny_model_path))
    assert "written as a GeoTIFF; name it mask.tif" in line
    folder = band_folder(tmp_path / "scene")
    assert "name it change.tif" in _plain(cli("change", folder, folder, "-o",
                                              tmp_path / "change.jpg"))
    assert not list(tmp_path.glob("mask*")) and not list(tmp_path.glob("change*"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(cli, tiny_model_path,
                                                                 small_tif, tmp_path,
                                                                 monkeypatch):
    out = tmp_path / "mask.tif"
    out.write_bytes(b"old result")

    def broken_write(dst, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "_write", broken_write)
    line = _plain(cli("predict", small_tif, "-o", out, "--model", tiny_model_path,
                      "--overwrite"))
    assert "No space left on device" in line
    assert out.read_bytes() == b"old result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.tif", "mask.tif"]


@pytest.mark.parametrize("args, words", [
    (["--tile-size", "50", "--overlap", "60"], "--tile-size"),
    (["--tile-size", "-16"], "--tile-size"),
    (["--tile-size", "0"], "--tile-size"),
    (["--overlap", "-5"], "--overlap"),
    (["--tile-size", "64", "--overlap", "48"], "--overlap"),
    (["--max-pixels", "0"], "--max-pixels"),
    (["--dn-offset", "nan"], "--dn-offset"),
    (["--tile-size", "abc"], "--tile-size"),
])
def test_bad_numbers_are_one_plain_line_with_exit_2(cli, tiny_model_path, small_tif, tmp_path,
                                                    args, words):
    line = _plain(cli("predict", small_tif, "-o", tmp_path / "m.tif", "--model",
                      tiny_model_path, *args))
    assert words in line
    assert not (tmp_path / "m.tif").exists()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tile=st.one_of(st.none(), st.integers(-100, 5000)),
       overlap=st.one_of(st.none(), st.integers(-100, 3000)))
def test_any_tile_size_and_overlap_end_in_a_mask_or_a_plain_line(cli, tiny_model_path,
                                                                 small_tif, tile, overlap):
    out = small_tif.parent / "prop.tif"
    args = ["predict", small_tif, "-o", out, "--model", tiny_model_path, "--overwrite"]
    args += ["--tile-size", str(tile)] if tile is not None else []
    args += ["--overlap", str(overlap)] if overlap is not None else []
    res = cli(*args)
    valid_tile = tile is None or (32 <= tile <= 4096 and tile % 16 == 0)
    valid_overlap = overlap is None or (0 <= overlap <= 2048
                                        and (tile is None or overlap <= tile // 2))
    if valid_tile and valid_overlap:
        assert res.returncode == 0, res.stderr
        with rasterio.open(out) as src:
            assert src.shape == (48, 64)
    else:
        line = _plain(res)
        assert ("--tile-size" if not valid_tile else "--overlap") in line


# ------------------------------------------------------------------ property: output paths

NAMES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\0",
                                       exclude_categories=("Cs",)), min_size=1, max_size=30
                ).filter(lambda n: n not in (".", ".."))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, ups=st.integers(0, 2), dots=st.integers(0, 2), kind=st.sampled_from(
    ["plain", "symlink", "hardlink"]))
def test_every_spelling_of_an_input_is_refused_as_an_output(tmp_path_factory, name, ups, dots,
                                                            kind):
    root = tmp_path_factory.mktemp("spell")
    folder = root / "a" / "b"
    folder.mkdir(parents=True)
    try:
        source = folder / name
        source.write_bytes(b"input")
    except OSError:  # a name this file system refuses
        return
    spelled = folder
    for _ in range(ups):  # a/b/../b/../b/name
        spelled = spelled / ".." / "b"
    for _ in range(dots):
        spelled = spelled / "."
    spelled = spelled / name
    if kind != "plain":
        spelled = _link(kind, source, root / "link")
    for overwrite in (False, True):
        with pytest.raises(outputs.OverwritesInputError):
            outputs.check_outputs([spelled], [source], overwrite=overwrite)
    other = root / ("other_" + name)
    outputs.check_outputs([other], [source])  # a new name is fine...
    other.write_bytes(b"old")
    with pytest.raises(outputs.OutputExistsError):  # ...until it exists
        outputs.check_outputs([other], [source])
    outputs.check_outputs([other], [source], overwrite=True)
    with pytest.raises(outputs.OutputError):
        outputs.check_outputs([other, Path(str(other))], [source], overwrite=True)
    assert source.read_bytes() == b"input"
    shutil.rmtree(root)
