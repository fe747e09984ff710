"""What the ``urbanseg`` commands share: options, output checks, band folders, progress bars.

As ``rasterio.rio.options``: each command module imports its options and helpers from here,
never from another command or from the main group.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Callable, Iterator, Optional, Sequence

import typer
from tqdm import tqdm

from ..inference.tiling import MULTIPLE, TILE_RANGE
from ..io.bandfolder import choose_offset, stack_folder
from ..io.outputs import check_outputs
from ..io.scene import HOW_DESCRIPTIONS, how_note
from .errors import fail

#: Largest raster ``predict`` accepts by default (pixels): 15000 x 10000 px, a 150 MB uint8
#: class map in memory; larger areas belong to ``urbanseg batch``.
DEFAULT_MAX_PIXELS = 150_000_000


def number_check(rule: str, ok: Callable[[float], bool]) -> Callable:
    """A typer callback refusing numbers (``None`` passes) for which ``ok`` is false, NaN and
    infinities included: ``Invalid value for '--x': <value>: <rule>.``, exit code 2."""
    def check(value):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise typer.BadParameter(f"{value:g}: {rule}.")
        return value
    return check


def date_check(value: str | None) -> str | None:
    """A typer callback refusing dates that are not ``YYYY-MM-DD``."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. "
                                     "2018-06-30.") from None
    return value


def choice_check(choices: Sequence[str]) -> Callable:
    """A typer callback refusing values outside ``choices``."""
    def check(value):
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r}: use one of {', '.join(choices)}.")
        return value
    return check


#: The DN offset is added to digital numbers of 0-10000 (reflectance x 10000).
dn_offset_check = number_check("the DN offset is a number of DN between -10000 and 10000, "
                             "usually -1000 or 0", lambda v: -10000 <= v <= 10000)
#: Pixel limits.
pixels_check = number_check("give a number of pixels of at least 1", lambda v: v >= 1)

# Options shared by several commands (predict, evaluate, batch).
ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", help="Model card (.json) or weights (.pt/.pth); default: the bundled model.")]
BandsOption = Annotated[Optional[str], typer.Option(
    "--bands", help="Band order of the file(s), comma-separated, e.g. B2,B3,B4,...")]
DnOffsetOption = Annotated[Optional[float], typer.Option(
    "--dn-offset", callback=dn_offset_check,
    help="Add to DN before /10000 (-1000 for non-harmonised products since 2022-01-25). "
         "Default 0; for a band folder, the offset its product metadata (MTD_MSIL*.xml) "
         "declares.")]
OverwriteOption = Annotated[bool, typer.Option(
    "--overwrite", help="Replace output files that exist already (never an input file).")]
TileSizeOption = Annotated[Optional[int], typer.Option(
    "--tile-size", callback=number_check(
        f"the tile side is a multiple of {MULTIPLE} px between {TILE_RANGE[0]} and "
        f"{TILE_RANGE[1]}, e.g. 512", lambda v: TILE_RANGE[0] <= v <= TILE_RANGE[1]
        and v % MULTIPLE == 0),
    help=f"Tile side in px, a multiple of {MULTIPLE} (default: chosen from the model card for "
         "the raster).")]
OverlapOption = Annotated[Optional[int], typer.Option(
    "--overlap", callback=number_check("the overlap is 0 px or more, at most half the tile",
                                       lambda v: 0 <= v <= TILE_RANGE[1] // 2),
    help="Pixels shared by neighbouring tiles, blended across (default: 192 px, at least the "
         "model card's).")]

# Composite options shared by the gee-* commands (defaults: the GHSL epoch 2018).
StartOption = Annotated[str, typer.Option("--start", callback=date_check,
                                          help="First day (YYYY-MM-DD).")]
EndOption = Annotated[str, typer.Option("--end", callback=date_check,
                                        help="Day after the last (YYYY-MM-DD).")]
CloudOption = Annotated[float, typer.Option(
    "--cloud-threshold", callback=number_check("the Cloud Score+ threshold is between 0 and 1",
                                               lambda v: 0 <= v <= 1),
    help="Cloud Score+ cs_cdf threshold 0-1.")]
ReducerOption = Annotated[str, typer.Option("--reducer", callback=choice_check(("median", "mean")),
                                            help="median or mean.")]

#: Said when a band folder looks like Level-2A and no --dn-offset was given.
LEVEL2A_HINT = ("This looks like a Level-2A product. Products of processing baseline 04.00 "
                "or later (all since 25 January 2022, and older scenes reprocessed since) "
                "store reflectance + 0.1: add --dn-offset -1000 (the product's "
                "BOA_ADD_OFFSET in MTD_MSIL2A.xml), or built-up area is underestimated.")


def band_list(bands: str | None) -> list[str] | None:
    """``"B2,B3,..."`` -> ``["B2", "B3", ...]`` (``None`` stays ``None``)."""
    return [b.strip() for b in bands.split(",")] if bands else None


def note(text: str) -> None:
    """Print ``Note: text`` on stderr."""
    typer.echo(f"Note: {text}", err=True)


def check_paths(outputs: Sequence[Path | None], inputs: Sequence[Path | None],
                overwrite: bool, example: str = "mask.tif") -> None:
    """Before any work: outputs never replace an input, exist only with ``--overwrite``
    (:func:`~urbanseg_core.io.outputs.check_outputs`; the error is worded by
    :mod:`.errors`), and their folders exist and are writable (:func:`check_writable`)."""
    for path in outputs:
        if path is not None:
            check_writable(path, example)
    check_outputs(outputs, inputs, overwrite)


def check_geotiff_name(path: Path, what: str = "mask") -> None:
    """Fail early when a GeoTIFF output is named otherwise (``-o mask.png`` would hold a
    GeoTIFF that picture viewers cannot open)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        fail(f"{path.name}: the {what} is written as a GeoTIFF; name it "
             f"{path.with_suffix('.tif').name}.")


def check_writable(path: Path, example: str = "mask.tif") -> None:
    """Fail early (before any work) when an output file cannot be written; ``example``: a
    file name to suggest when ``path`` is a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail(f"{path} is a folder; give a file name such as {path / example}.")
    if not folder.is_dir():
        fail(f"The output folder {folder} does not exist. Create it first.")
    if not os.access(folder, os.W_OK):
        fail(f"The output folder {folder} is not writable. Choose another location.")


def stack_band_folder(path: Path, output: Path, max_pixels: int | None = None,
                      bands: str | None = None,
                      dn_offset: float | None = None) -> tuple[Path, float]:
    """Stack a folder of single-band files into the GeoTIFF ``output`` and choose its DN
    offset (:func:`~urbanseg_core.io.bandfolder.choose_offset`), printing what was done on
    stderr. ``max_pixels``: refuse larger stacks; ``bands``: refused (a band file's band is
    read from its name).

    Returns:
        ``(stack path, DN offset)``.

    Raises:
        InputError: the folder cannot be stacked (see
            :func:`~urbanseg_core.io.bandfolder.stack_folder`).
    """
    if bands:
        fail("--bands does not apply to a folder of band files: each file's band is read "
             "from its name. Leave --bands out.")
    stack, notes = stack_folder(path, output, max_pixels=max_pixels)
    typer.echo(f"Stacked the band files of {path} onto a 10 m grid (nearest neighbour).",
               err=True)
    choice = choose_offset(path, dn_offset)
    if choice.metadata is not None and not choice.given:
        notes.append(f"DN offset {choice.offset:g} as declared in {choice.metadata.name} "
                     "(--dn-offset overrides it).")
    elif choice.looks_level2a:
        notes.append(LEVEL2A_HINT)
    for text in notes:
        note(text)
    return stack, choice.offset


@contextmanager
def image_input(path: Path, max_pixels: int | None = None, bands: str | None = None,
                dn_offset: float | None = None) -> Iterator[tuple[Path, float]]:
    """The raster to read for an INPUT/IMAGE argument and the DN offset to read it with.

    A file is used as it is (offset: ``dn_offset`` or 0). A folder of single-band files is
    stacked by :func:`stack_band_folder` into a temporary folder (removed afterwards;
    ``urbanseg stack`` keeps one)."""
    if not path.is_dir():
        yield path, dn_offset or 0.0
        return
    with tempfile.TemporaryDirectory(prefix="urbanseg-stack-") as tmp:
        yield stack_band_folder(path, Path(tmp) / f"{path.name or 'bands'}.tif", max_pixels,
                                bands, dn_offset)


def user_notes(notes, from_folder: bool) -> list[str]:
    """Notes worth printing: for a band folder, not how the (generated) stack's bands were
    found."""
    return [n for n in notes if not (from_folder and n == how_note(HOW_DESCRIPTIONS))]


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A tqdm progress callback ``(done, total)`` on stderr, closed at the end."""
    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, desc=label, unit="tile", file=sys.stderr,
                                      leave=False, disable=None)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
