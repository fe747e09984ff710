"""Uploaded files: store them once by content, stack single-band uploads, inspect their
bands, propose a band order.

Uploads are written to ``<tmp>/urbanseg_uploads/<sha256[:16]>/<name>`` so that the same file
uploaded again (or by another session) is the same path and the same cache key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import rasterio
from rasterio.errors import RasterioIOError

from ..io.scene import (
    L1C_SAFE_ORDER, MODEL_BANDS, _overview_sample, canonical_band_name, resolve_band_order,
)
from ..io.bandfolder import METADATA_NAMES, band_of, declared_offset, level2a_signs, stack_folder
from ..errors import BandOrderError, InputError

UPLOAD_DIR = Path(tempfile.gettempdir()) / "urbanseg_uploads"
#: Level-2A band order without B10 (12 bands, as Earth Engine's S2_SR and most L2A stacks).
L2A_ORDER: tuple[str, ...] = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                              "B11", "B12")
#: Choices offered per band in the band-mapping form ("" = not a model band).
BAND_CHOICES: tuple[str, ...] = ("",) + L1C_SAFE_ORDER
#: Largest raster the app segments interactively, pixels (about 35 x 35 km at 10 m; the
#: reflectance stack alone then takes 0.5 GB). The `urbanseg` CLI handles larger rasters.
MAX_PIXELS = 12_000_000


def save_upload(data: bytes, name: str) -> tuple[Path, str]:
    """Write uploaded bytes to the upload folder (once per content).

    Returns:
        ``(path, sha256 hex)``.
    """
    digest = hashlib.sha256(data).hexdigest()
    safe = _safe_name(name)
    folder = UPLOAD_DIR / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (safe or "upload.tif")
    if not path.exists() or path.stat().st_size != len(data):
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, digest


class StackedUpload(NamedTuple):
    """Uploaded band files stacked into one GeoTIFF (:func:`save_band_uploads`)."""

    path: Path
    sha256: str
    notes: list[str]
    #: Band files stacked (uploads whose names name no band are left out).
    band_files: int
    #: DN offset declared by an uploaded MTD_MSIL2A.xml / MTD_MSIL1C.xml; None without one.
    dn_offset: float | None = None


def save_band_uploads(files: Sequence[tuple[str, bytes]]) -> StackedUpload:
    """Write uploaded single-band files (one per Sentinel-2 band) to one folder and stack them.

    The folder is keyed by the files' names and contents, so the same set uploaded again is
    stacked once. Stacking is :func:`~urbanseg_core.io.bandfolder.stack_folder` (every band
    resampled with nearest neighbour onto a 10 m grid, DN kept). A product metadata file
    uploaded with the bands (``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``) gives the DN offset
    (:func:`~urbanseg_core.io.bandfolder.declared_offset`).

    Args:
        files: ``(file name, bytes)`` per upload; the band is read from each name.

    Returns:
        :class:`StackedUpload`: the stack's path and sha256 hex, notes, the number of band
        files stacked, the declared offset.

    Files whose names name no band (``SCL``, ``TCI``...) are left out, with a note.

    Raises:
        InputError: no file name names a band, a model band is missing, the files cannot
            be read as rasters, the metadata cannot be read, or the stack would exceed
            :data:`MAX_PIXELS`.
    """
    names = [name for name, _ in files]
    metadata = [(name, data) for name, data in files if Path(name).name in METADATA_NAMES]
    unnamed = [name for name in names
               if band_of(name) is None and Path(name).name not in METADATA_NAMES]
    files = [(name, data) for name, data in files if band_of(name) is not None]
    if not files:
        raise InputError(
            f"{', '.join(unnamed or names)}: no Sentinel-2 band in the file names. Upload either "
            "one multi-band GeoTIFF, or one file per band with the band in each name "
            "(..._B02.tif, ..._B8A_20m.jp2).")
    if len(metadata) > 1:
        raise InputError("More than one product metadata file (MTD_MSIL*.xml) in the upload: "
                         "upload the band files of one product with its own metadata file.")
    key = hashlib.sha256()
    for name, data in sorted(files + metadata, key=lambda f: f[0]):
        key.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    folder = UPLOAD_DIR / f"bands-{key.hexdigest()[:16]}"
    band_dir = folder / "bands"
    band_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (band_dir / _safe_name(name)).write_bytes(data)
    offset = None
    if metadata:
        mtd = folder / Path(metadata[0][0]).name
        mtd.write_bytes(metadata[0][1])
        offset = declared_offset(mtd)
        if offset not in (0.0, -1000.0):
            raise InputError(f"{mtd.name} declares a DN offset of {offset:g}; the app applies "
                             "0 or -1000 only. Use the command line, which applies any "
                             "offset: urbanseg predict FOLDER -o mask.tif.")
    stack = folder / f"{_common_stem([name for name, _ in files])}_stack.tif"
    part = folder / "stack.part.tif"
    _, notes = stack_folder(band_dir, part, max_pixels=MAX_PIXELS, label="the upload")
    part.replace(stack)
    if unnamed:
        notes.append(f"Not used (no band in the name): {', '.join(unnamed)}.")
    if offset is not None:
        notes.append(f"{mtd.name} declares a DN offset of {offset:g}: the Level-2A offset "
                     f"box below is {'ticked' if offset else 'left unticked'} accordingly.")
    elif level2a_signs(names):
        notes.append("These look like Level-2A files: tick the Level-2A offset box below if "
                     "the product is of processing baseline 04.00 or later (or upload its "
                     "MTD_MSIL2A.xml with the bands).")
    return StackedUpload(stack, hashlib.sha256(stack.read_bytes()).hexdigest(), notes,
                         len(files), offset)


def _common_stem(names: Sequence[str]) -> str:
    """The shared start of band file names, without the band: ``T31UDQ_20161130`` from
    ``T31UDQ_20161130_B02.tif``, ``T31UDQ_20161130_B8A.tif``... (``bands`` if none)."""
    prefix = os.path.commonprefix([_safe_name(Path(n).stem) for n in names])
    return re.sub(r"[_\-. ]*B0?$", "", prefix).rstrip("_-. ") or "bands"


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).name)[-80:]


@dataclass(frozen=True)
class RasterInfo:
    """What the band form needs to know about an uploaded raster.

    Attributes:
        count: number of bands.
        width, height: pixels.
        dtype: data type of the bands.
        crs: CRS as text ("none" when absent).
        descriptions: band descriptions ("" where absent).
        named: the descriptions name the model's bands (no form needed).
        default_order: proposed Sentinel-2 name per file band ("" = unused).
        how: a sentence on how the proposal was made.
        footprint: the raster's outline (GeoJSON geometry, EPSG:4326), ``None`` without CRS.
    """

    count: int
    width: int
    height: int
    dtype: str
    crs: str
    descriptions: tuple[str, ...]
    named: bool
    default_order: tuple[str, ...]
    how: str
    footprint: dict | None = None


def inspect_raster(path: str | Path) -> RasterInfo:
    """Read an uploaded raster's header and propose a band order.

    Raises:
        InputError: the file is not a raster rasterio can read.
    """
    path = Path(path)
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(
            f"{path.name} could not be read as a raster. Upload a "
            "Sentinel-2 GeoTIFF (.tif) with the bands B2, B3, B4, B5, B6, B7, B8, B8A, B9, "
            "B11, B12."
        ) from exc
    with src:
        descriptions = tuple(d or "" for d in src.descriptions)
        named = all(canonical_band_name(d) for d in descriptions) and all(
            b in {canonical_band_name(d) for d in descriptions} for b in MODEL_BANDS)
        if named:
            order = tuple(canonical_band_name(d) or "" for d in descriptions)
            how = "The file names its bands; no mapping needed."
        elif src.count == len(MODEL_BANDS):
            order, how = MODEL_BANDS, "11 bands: proposed in the model's order."
        elif src.count == 12:
            order, how = L2A_ORDER, "12 bands: proposed as Level-2A (B1-B12 with B8A, no B10)."
        elif src.count == 13:
            try:
                order, how = resolve_band_order(13, descriptions, None, _overview_sample(src))
                how = how[0].upper() + how[1:] + "."
            except BandOrderError:
                order, how = L1C_SAFE_ORDER, "13 bands: proposed as Level-1C (SAFE order)."
        else:
            order = tuple("" for _ in range(src.count))
            how = (f"{src.count} band(s) without names: choose which Sentinel-2 band each "
                   "one is.")
        from ..io.display import footprint

        return RasterInfo(src.count, src.width, src.height, str(src.dtypes[0]),
                          src.crs.to_string() if src.crs else "none", descriptions, named,
                          tuple(order), how,
                          footprint(src.crs, src.transform, (src.height, src.width)))


def check_band_order(order: tuple[str, ...]) -> tuple[str, ...]:
    """Check a band order from the form: every model band once.

    Raises:
        BandOrderError: a model band is missing or given twice (plain message).
    """
    used = [b for b in order if b]
    missing = [b for b in MODEL_BANDS if b not in used]
    twice = sorted({b for b in used if used.count(b) > 1})
    if missing or twice:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if twice:
            parts.append(f"chosen twice: {', '.join(twice)}")
        raise BandOrderError("The band mapping is incomplete (" + "; ".join(parts) + "). "
                             "Give each of B2, B3, B4, B5, B6, B7, B8, B8A, B9, B11, B12 to "
                             "exactly one band of the file.")
    return order

