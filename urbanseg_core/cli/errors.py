"""How the command line words errors: one plain line on stderr, exit code 2, never a traceback.

Core errors (:mod:`urbanseg_core.errors`) carry their facts and a fix that names no user
interface; here the fixes that depend on the interface name the command's flags (``--bands``,
``--dn-offset``, ``--reference-codes``) and commands. The page words the same errors in
:mod:`urbanseg_core.app.messages`.
"""

from __future__ import annotations

import functools
from typing import Callable, NoReturn

import typer

from ..errors import (Fixes, NotBetterError, OffsetMetadataError, OutputExistsError,
                      ReferenceCodesError, StaleGraphError, TilingError, TooLargeError,
                      UnnamedBandsError, UrbansegError, WeightsMismatchError, reword)
from ..sentinel2 import MODEL_BANDS


def fail(message: str) -> NoReturn:
    """Print one plain error line on stderr and exit with code 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)


#: Error type -> the fix in the command line's terms (``None``: keep the error's own fix).
FIXES: Fixes = {
    UnnamedBandsError: lambda exc: None if len(exc.found) == 1 else (
        f"Give the band order with --bands (e.g. --bands {','.join(MODEL_BANDS)}), or use a "
        "file with 11 bands in that order or 13 Level-1C bands."),
    TooLargeError: lambda exc: (
        "Crop the band files to a smaller area first, or stack them with `urbanseg stack` and "
        "segment the stack with `urbanseg batch`." if exc.stack else
        "Crop it to a smaller area or use `urbanseg batch` for whole regions."),
    OffsetMetadataError: lambda exc: None if exc.offsets else "Give --dn-offset yourself.",
    ReferenceCodesError: lambda exc: (
        "Declare the file's nodata value or pass --reference-codes."
        if exc.values and min(exc.values) < 0 else
        "Pass --reference-codes index, esm, ghsl or corine."),
    WeightsMismatchError: lambda exc: "Use weights saved by `urbanseg train` with their card, "
                                      "or the original final_model.pth.",
    OutputExistsError: lambda exc: "Add --overwrite to replace it, or give another file name.",
    TilingError: lambda exc: "Give --tile-size as a multiple of 16 between 32 and 4096 px and "
                             "--overlap between 0 and half of it, or leave both out.",
    StaleGraphError: lambda exc: "Write the graph again from the weights: `urbanseg "
                                 "export-onnx CARD.json` (the model's card).",
    NotBetterError: lambda exc: "Give a larger labelled area (more IMAGE REFERENCE pairs), "
                                "a longer --minutes, or keep using the current model.",
}


def describe(exc: UrbansegError) -> str:
    """The line the command line prints for an error: its problem and the fix in CLI terms."""
    return reword(exc, FIXES)


def plain_errors(command: Callable) -> Callable:
    """Wrap a command so that a user error ends it with :func:`fail` (one line, exit 2)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UrbansegError as exc:
            fail(describe(exc))
    return run
