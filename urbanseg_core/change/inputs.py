"""One date's input as a :class:`~urbanseg_core.bands.Scene`: a scene, a GeoTIFF or a band
folder (the forms ``urbanseg predict`` takes)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from ..bandfolder import looks_level2a, product_offset, stack_folder
from ..bands import Scene, read_scene
from ..errors import InputError

#: Said when a band folder looks like Level-2A and declares no DN offset.
LEVEL2A_NOTE = ("{name} looks like a Level-2A product without metadata: if it is of processing "
                "baseline 04.00 or later (all since 25 January 2022), give its DN offset "
                "(-1000), or its built-up area is underestimated.")


def read_input(source: Scene | str | Path, band_order: Sequence[str] | None = None,
               dn_offset: float | None = None, max_pixels: int | None = None) -> Scene:
    """Read one date into memory.

    Args:
        source: a :class:`Scene` (returned as it is), a Sentinel-2 GeoTIFF, or a folder of
            single-band files (stacked onto a 10 m grid with nearest neighbour, see
            :func:`urbanseg_core.bandfolder.stack_folder`).
        band_order: band names of a GeoTIFF's bands (not for folders).
        dn_offset: added to DN before / 10000; ``None``: 0 for files, the offset a folder's
            product metadata declares (``MTD_MSIL*.xml``) for folders.
        max_pixels: refuse larger rasters before reading them.

    Returns:
        The :class:`Scene`; ``source`` is the path given, ``notes`` say how it was read.

    Raises:
        InputError, BandOrderError: the input cannot be read (plain-language message).
    """
    if isinstance(source, Scene):
        return source
    path = Path(source)
    if not path.exists():
        raise InputError(f"File or folder not found: {path}. Check the path and try again.")
    if not path.is_dir():
        return read_scene(path, band_order=band_order, dn_offset=dn_offset or 0.0,
                          max_pixels=max_pixels)
    if band_order:
        raise InputError(f"A band order does not apply to the folder {path}: each file's band "
                         "is read from its name.")
    with tempfile.TemporaryDirectory(prefix="urbanseg-change-") as tmp:
        stack, notes = stack_folder(path, Path(tmp) / "stack.tif", max_pixels=max_pixels)
        if dn_offset is None:
            declared = product_offset(path)
            if declared is not None:
                dn_offset = declared[0]
                notes.append(f"DN offset {dn_offset:g} of {path.name} as declared in "
                             f"{declared[1].name}.")
            elif looks_level2a(path):
                notes.append(LEVEL2A_NOTE.format(name=path.name))
        scene = read_scene(stack, dn_offset=dn_offset or 0.0)
    scene.source = str(path)
    scene.notes = [f"Stacked the band files of {path.name} onto a 10 m grid (nearest "
                   "neighbour)."] + notes
    return scene
