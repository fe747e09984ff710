"""Errors carry data; the command line and the page word the fix in their own terms; core
messages name no command-line flag."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from urbanseg_core.app.messages import describe as page_words
from urbanseg_core.cli.errors import describe as cli_words
from urbanseg_core.errors import (BatchError, InputError, MissingDependencyError,
                                  OffsetMetadataError, TooLargeError, UnnamedBandsError,
                                  UrbansegError, reword)
from urbanseg_core.io.scene import resolve_band_order

PACKAGE = Path(__file__).resolve().parents[1] / "urbanseg_core"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def test_errors_have_standard_bases_and_keep_their_data_through_pickling():
    err = TooLargeError("Too large.", "Crop it.", pixels=20, limit=10, source="x.tif")
    assert isinstance(err, ValueError) and isinstance(err, UrbansegError)
    assert isinstance(MissingDependencyError("m"), ImportError)
    assert isinstance(BatchError("b"), RuntimeError)
    back = pickle.loads(pickle.dumps(err))  # dask sends errors between processes
    assert (type(back), back.pixels, back.limit, str(back)) == (
        TooLargeError, 20, 10, "Too large. Crop it.")
    with pytest.raises(TypeError, match="no field colour"):
        InputError("x", colour="red")


def test_band_errors_name_the_missing_bands_and_the_file():
    with pytest.raises(UnnamedBandsError) as err:
        resolve_band_order(4, [None] * 4)
    assert err.value.missing == ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11",
                                 "B12")
    prefixed = err.value.prefixed("scene.tif: ")
    assert type(prefixed) is UnnamedBandsError and prefixed.missing == err.value.missing
    assert str(prefixed).startswith("scene.tif: This file has 4 bands")


@pytest.mark.parametrize("error, cli, page", [
    (UnnamedBandsError("No band names.", "Give the band order.", found=("", "")),
     "--bands", "band-mapping form"),
    (OffsetMetadataError("MTD_MSIL2A.xml cannot be read.", "Give the DN offset yourself."),
     "--dn-offset", "DN offset box"),
    (TooLargeError("Too large.", "Crop it.", stack=True), "urbanseg stack", "11,000 × 11,000"),
])
def test_each_front_end_words_the_fix_in_its_own_terms(error, cli, page):
    assert cli in cli_words(error) and cli not in page_words(error)
    assert page in page_words(error) and page not in cli_words(error)
    assert cli not in str(error) and page not in str(error)
    assert cli_words(error).startswith(error.problem)


def test_an_error_without_a_special_fix_keeps_its_own():
    error = InputError("Bad input.", "Use another file.")
    expected = "Bad input. Use another file."
    assert reword(error, {}) == cli_words(error) == page_words(error) == expected


def _raised_strings(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for inner in ast.walk(node.exc):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    yield node.lineno, inner.value


def test_core_errors_name_no_command_line_flag():
    """Only the front ends (cli/, app/) say ``--dn-offset``; core errors carry data."""
    hits = [f"{p.relative_to(PACKAGE)}:{line}: {text}"
            for p in sorted(PACKAGE.rglob("*.py")) if not {"cli", "app"} & set(p.parts)
            for line, text in _raised_strings(p) if FLAG.search(text)]
    assert hits == []
