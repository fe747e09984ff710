"""Use a folder of single-band Sentinel-2 files (one file per band) as one input image.

Sentinel-2 products (the SAFE ``IMG_DATA`` folders, ``R10m``/``R20m``/``R60m``), the Onera
change-detection dataset and many download tools deliver one GeoTIFF or JPEG 2000 file per band,
each on the band's native 10, 20 or 60 m grid. :func:`find_band_files` recognises the band in
each file name (``..._B02.tif``, ``T43SCT_..._B8A_20m.jp2``, ``B2.tif``); :func:`stack_folder`
puts the model's 11 bands onto one 10 m grid with :func:`~urbanseg_core.stacking.stack_bands`
(nearest neighbour, so every pixel keeps a measured value) and writes one GeoTIFF that every
command reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import rasterio
from rasterio.errors import RasterioIOError

from .bands import MODEL_BANDS, canonical_band_name
from .errors import InputError
from .stacking import stack_bands, target_grid, write_stack

#: File name endings searched for band files (GeoTIFF and JPEG 2000, as in SAFE products).
BAND_FILE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".jp2")

#: Bands that may stand in for a missing one: B8A (20 m) for B8 (10 m), as in the training
#: data of the bundled model (the Islamabad scene has no B8).
SUBSTITUTES: dict[str, str] = {"B8": "B8A"}

_TOKEN_SPLIT = re.compile(r"[_\s.\-]+")


def band_of(path: str | Path) -> str | None:
    """The Sentinel-2 band a file name names (``"B2"``, ``"B8A"``), or ``None``.

    The name is split at ``_``, ``-``, ``.`` and spaces and the last part that is a band name
    wins, so ``S2A_..._T31UDQ_B02.tif`` and ``T43SCT_20181227T055231_B8A_20m.jp2`` are both
    recognised, and ``..._SCL_20m.jp2`` or ``TCI.tif`` are not.
    """
    tokens = _TOKEN_SPLIT.split(Path(path).stem)
    for token in reversed(tokens):
        band = canonical_band_name(token)
        if band is not None:
            return band
    return None


def _pixel_count(path: Path) -> int:
    try:
        with rasterio.open(path) as src:
            return src.width * src.height
    except RasterioIOError as exc:
        raise InputError(f"{path.name} in the band folder cannot be read as a raster "
                         f"({str(exc).splitlines()[0]}). Remove it or replace it.") from exc


def find_band_files(folder: str | Path) -> dict[str, Path]:
    """Map band names to the files of a band folder (searched recursively).

    When a band is present at several resolutions (a SAFE Level-2A product holds B2 in R10m,
    R20m and R60m), the file with the most pixels, i.e. the finest grid, is used; two files
    of one band with the same number of pixels mean two images (e.g. both dates of a
    change-detection pair) and are refused.

    Args:
        folder: a directory holding one raster file per band (``.tif``, ``.tiff``, ``.jp2``).

    Returns:
        ``{"B2": Path, ...}`` for every band found (all Sentinel-2 bands, not only the model's).

    Raises:
        InputError: ``folder`` is not a directory, holds no recognisable band files, or
            holds one band twice on the same grid.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of band files.")
    candidates: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in BAND_FILE_SUFFIXES:
            band = band_of(path)
            if band is not None:
                candidates.setdefault(band, []).append(path)
    if not candidates:
        raise InputError(
            f"No band files found in {folder}: expected one GeoTIFF or JPEG 2000 file per band "
            "with the band in its name (e.g. ..._B02.tif, ..._B8A_20m.jp2).")
    chosen = {}
    for band, paths in candidates.items():
        if len(paths) > 1:
            sizes = sorted(((_pixel_count(p), p) for p in paths), reverse=True)
            if sizes[0][0] == sizes[1][0]:
                raise InputError(
                    f"{folder} holds more than one {band} file on the same grid "
                    f"({sizes[0][1].relative_to(folder)}, {sizes[1][1].relative_to(folder)}): "
                    "it looks like several images. Give the folder of one image.")
            paths = [sizes[0][1]]
        chosen[band] = paths[0]
    return chosen


def stack_folder(folder: str | Path, output: str | Path, resolution: float = 10.0,
                 max_pixels: int | None = None) -> tuple[Path, list[str]]:
    """Stack a band folder's files into one 11-band GeoTIFF on a ``resolution`` m grid.

    The grid is B2's when B2 is projected at ``resolution`` m, else a north-up UTM grid over
    B2's footprint (:func:`~urbanseg_core.stacking.target_grid`). Every band is resampled with
    nearest neighbour; values stay the files' digital numbers (DN, uint16 for Sentinel-2), with
    band descriptions B2...B12 so the stack is read without a ``--bands`` option. The Level-2A
    offset is not applied here: pass ``--dn-offset -1000`` when reading a non-harmonised
    Level-2A product of processing baseline 04.00 or later.

    Args:
        folder: the band folder (see :func:`find_band_files`).
        output: the GeoTIFF to write.
        resolution: output pixel size in metres (the model's 10 m by default).
        max_pixels: refuse, before reading any band, a stack with more pixels than this.

    Returns:
        ``(output path, notes)``: notes say which band stood in for a missing one.

    Raises:
        InputError: no band files, a model band is missing with no substitute, or the stack
            would exceed ``max_pixels``.
    """
    files = find_band_files(folder)
    notes: list[str] = []
    missing = []
    for band in MODEL_BANDS:
        if band in files:
            continue
        alt = SUBSTITUTES.get(band)
        if alt in files:
            notes.append(f"{band} is missing from {Path(folder).name}; {alt} is used in its "
                         "place (the bundled model was trained that way too).")
        else:
            missing.append(band)
    if missing:
        raise InputError(
            f"{Path(folder).name} lacks the band file(s) {', '.join(missing)} (found "
            f"{', '.join(sorted(files, key=_band_sort_key))}). The model needs "
            f"{', '.join(MODEL_BANDS)}.")
    if max_pixels is not None:
        _, _, height, width = target_grid(files["B2"], resolution)
        if height * width > max_pixels:
            raise InputError(
                f"The bands of {Path(folder).name} make a {width} x {height} px image at "
                f"{resolution:g} m ({height * width:,} pixels), more than the {max_pixels:,} "
                "allowed here. Crop the band files to a smaller area first, or stack them with "
                "`urbanseg stack` and segment the stack with `urbanseg batch`.")
    data, crs, transform = stack_bands(files, MODEL_BANDS, reference="B2",
                                       resolution=resolution, substitute=SUBSTITUTES)
    out = write_stack(output, data, crs, transform, MODEL_BANDS,
                      tags={"source_folder": str(Path(folder).resolve()),
                            "resampling": "nearest"})
    return out, notes


def _band_sort_key(band: str) -> tuple[int, str]:
    digits = "".join(ch for ch in band if ch.isdigit())
    return int(digits), band
