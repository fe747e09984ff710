"""One date's input as a :class:`~urbanseg_core.io.scene.Scene`: a scene, a GeoTIFF or a band
folder (the forms ``urbanseg predict`` takes).

A Level-2A band folder that holds the scene classification layer (``..._SCL_20m.jp2``) has its
clouds, cloud shadows and cirrus set to nodata (:func:`mask_clouds`), so they are not compared:
a cloud at one date is the largest source of spurious change.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject

from ..io.bandfolder import choose_offset, stack_folder
from ..sentinel2 import BAND_FILE_SUFFIXES
from ..io.scene import Scene, read_scene
from ..errors import InputError

#: Scene classification (Sen2Cor SCL) values treated as nodata: 1 saturated or defective,
#: 3 cloud shadow, 8 cloud (medium probability), 9 cloud (high probability), 10 thin cirrus
#: (ESA, Sentinel-2 Level-2A Product Format Specification).
SCL_MASKED: tuple[int, ...] = (1, 3, 8, 9, 10)
_SCL_NAME = re.compile(r"(^|[_\-.])SCL([_\-.]|$)", re.IGNORECASE)

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
            :func:`urbanseg_core.io.bandfolder.stack_folder`).
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
        choice = choose_offset(path, dn_offset)
        if choice.metadata is not None:
            notes.append(f"DN offset {choice.offset:g} of {path.name} as declared in "
                         f"{choice.metadata.name}.")
        elif choice.looks_level2a:
            notes.append(LEVEL2A_NOTE.format(name=path.name))
        scene = read_scene(stack, dn_offset=choice.offset)
    scene.source = str(path)
    scene.notes = [f"Stacked the band files of {path.name} onto a 10 m grid (nearest "
                   "neighbour)."] + notes
    scl = scl_file(path)
    if scl is not None:
        share = mask_clouds(scene, scl)
        scene.notes.append(f"{100 * share:.1f} % of {path.name} set to nodata as cloud, cloud "
                           f"shadow, cirrus or defective by its scene classification "
                           f"({scl.name}).")
    return scene


def scl_file(folder: Path) -> Path | None:
    """The finest scene classification file (``*_SCL_20m.jp2``) under a band folder, if any."""
    found = [p for p in folder.rglob("*") if p.is_file()
             and p.suffix.lower() in BAND_FILE_SUFFIXES and _SCL_NAME.search(p.stem)]
    if not found:
        return None

    def pixels(p: Path) -> int:
        try:
            with rasterio.open(p) as src:
                return src.width * src.height
        except RasterioIOError:
            return -1

    best = max(found, key=pixels)
    return best if pixels(best) > 0 else None


def mask_clouds(scene: Scene, scl_path: Path) -> float:
    """Set a scene's cloud, cloud-shadow, cirrus and defective pixels (:data:`SCL_MASKED`) to
    nodata, in place.

    Args:
        scene: the date, read from a band folder.
        scl_path: its scene classification layer (any grid; put on the scene's with nearest
            neighbour).

    Returns:
        The share of the scene's valid pixels masked (0-1).

    References:
        Main-Knorn et al. (2017), "Sen2Cor for Sentinel-2", Proc. SPIE 10427.
    """
    scl = np.zeros(scene.shape, dtype="uint8")
    with rasterio.open(scl_path) as src:
        reproject(rasterio.band(src, 1), scl, dst_transform=scene.transform,
                  dst_crs=scene.crs, resampling=Resampling.nearest, src_nodata=0,
                  dst_nodata=0)
    masked = scene.valid & np.isin(scl, SCL_MASKED)
    before = int(scene.valid.sum())
    scene.valid &= ~masked
    scene.reflectance[:, masked] = 0.0
    return float(masked.sum() / before) if before else 0.0
