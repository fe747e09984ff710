"""Uploaded files: store them once by content, stack single-band uploads, inspect their
bands, propose a band order, and stage uploaded model weights.

Uploads are written to ``<tmp>/urbanseg_uploads/<sha256[:16]>/<name>`` so that the same file
uploaded again (or by another session) is the same path and the same cache key. Nothing here
words advice for a page: the results carry the facts (the declared DN offset, the files left
out) and the app says what they mean for the user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from ..errors import BandOrderError, InputError, ModelLoadError, UnsupportedOffsetError
from ..io.bandfolder import OffsetGuess, choose_offset, find_band_files, guess_offset, stack_folder
from ..io.display import footprint
from ..io.scene import missing_bands, overview_sample, propose_band_order
from ..sentinel2 import (L1C_SAFE_ORDER, L2A_OFFSET, METADATA_NAMES, MODEL_BANDS, band_of,
                         level2a_signs)
from ..util import safe_file_name, safe_name, sha256_file, write_bytes_atomic

UPLOAD_DIR = Path(tempfile.gettempdir()) / "urbanseg_uploads"
#: Choices offered per band in the band-mapping form ("" = not a model band).
BAND_CHOICES: tuple[str, ...] = ("",) + L1C_SAFE_ORDER
#: Largest raster the app segments, pixels (11,000 x 11,000 px, 110 x 110 km at 10 m). Files
#: on a 10 m grid are read tile by tile, so memory grows by about 24 bytes a pixel (the class
#: map, the reference, the scores), as for `urbanseg predict`; the run queue
#: (:mod:`urbanseg_core.runs.load`) admits runs by that need.
MAX_PIXELS = 121_000_000


def save_upload(data: bytes, name: str) -> tuple[Path, str]:
    """Write uploaded bytes to the upload folder (once per content).

    Returns:
        ``(path, sha256 hex)``.
    """
    digest = hashlib.sha256(data).hexdigest()
    folder = UPLOAD_DIR / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_file_name(name, default="upload.tif")
    if not path.exists() or path.stat().st_size != len(data):
        write_bytes_atomic(path, data)
    return path, digest


class StackedUpload(NamedTuple):
    """Uploaded band files stacked into one GeoTIFF (:func:`save_band_uploads`).

    Attributes:
        path, sha256: the stack and its content hash.
        notes: remarks on the stacking (a band standing in for a missing one).
        band_files: band files stacked.
        dn_offset: the DN offset an uploaded ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``
            declares; ``None`` without one.
        metadata: the metadata file's name, or ``None``.
        unused: uploads whose names name no band (left out).
        looks_level2a: no metadata came with the files, yet their names look like Level-2A.
        offset_guess: without metadata, the offset the files' names, darkest pixels or date
            point to (:func:`~urbanseg_core.io.bandfolder.guess_offset`), or ``None``.
    """

    path: Path
    sha256: str
    notes: list[str]
    band_files: int
    dn_offset: float | None = None
    metadata: str | None = None
    unused: tuple[str, ...] = ()
    looks_level2a: bool = False
    offset_guess: OffsetGuess | None = None


def _upload_folder(files: Sequence[tuple[str, bytes]]) -> Path:
    """``UPLOAD_DIR/bands-<key>``, keyed by the files' names and contents."""
    key = hashlib.sha256()
    for name, data in sorted(files, key=lambda f: f[0]):
        key.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return UPLOAD_DIR / f"bands-{key.hexdigest()[:16]}"


def _split_uploads(files: Sequence[tuple[str, bytes]]):
    """``(band files, metadata files, names naming no band)`` of an upload.

    Raises:
        InputError: no file names a band, or several metadata files came.
    """
    names = [name for name, _ in files]
    metadata = [(name, data) for name, data in files if Path(name).name in METADATA_NAMES]
    unnamed = [name for name in names
               if band_of(name) is None and Path(name).name not in METADATA_NAMES]
    bands = [(name, data) for name, data in files if band_of(name) is not None]
    if not bands:
        raise InputError(
            f"{', '.join(unnamed or names)}: no Sentinel-2 band in the file names.",
            "Upload either one multi-band GeoTIFF, or one file per band with the band in "
            "each name (..._B02.tif, ..._B8A_20m.jp2).")
    if len(metadata) > 1:
        raise InputError("More than one product metadata file (MTD_MSIL*.xml) in the upload.",
                         "Upload the band files of one product with its own metadata file.")
    return bands, metadata, unnamed


def save_band_uploads(files: Sequence[tuple[str, bytes]]) -> StackedUpload:
    """Write uploaded single-band files (one per Sentinel-2 band) to one folder and stack them.

    The folder is keyed by the files' names and contents, so the same set uploaded again is
    stacked once. Stacking is :func:`~urbanseg_core.io.bandfolder.stack_folder` (every band
    resampled with nearest neighbour onto a 10 m grid, DN kept). A product metadata file
    uploaded with the bands (``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``) gives the DN offset
    (:func:`~urbanseg_core.io.bandfolder.choose_offset`). Files whose names name no band
    (``SCL``, ``TCI``...) are left out.

    Args:
        files: ``(file name, bytes)`` per upload; the band is read from each name.

    Returns:
        :class:`StackedUpload`.

    Raises:
        InputError: no file name names a band, a model band is missing, or the files cannot
            be read as rasters.
        OffsetMetadataError: the metadata cannot be read.
        UnsupportedOffsetError: the metadata declares an offset other than 0 or -1000.
        TooLargeError: the stack would exceed :data:`MAX_PIXELS`.
    """
    bands, metadata, unnamed = _split_uploads(files)
    folder = _upload_folder(bands + metadata)
    band_dir = folder / "bands"
    band_dir.mkdir(parents=True, exist_ok=True)
    for name, data in bands:
        write_bytes_atomic(band_dir / safe_file_name(name), data)
    if metadata:
        write_bytes_atomic(folder / Path(metadata[0][0]).name, metadata[0][1])
    choice = choose_offset(band_dir)
    if choice.metadata is not None and choice.offset not in (0.0, L2A_OFFSET):
        raise UnsupportedOffsetError(
            f"{choice.metadata.name} declares a DN offset of {choice.offset:g}; the app "
            "applies 0 or -1000 only.", "Use the command line, which applies any offset.",
            offset=choice.offset)
    stack = folder / f"{_common_stem([name for name, _ in bands])}_stack.tif"
    _, notes = stack_folder(band_dir, stack, max_pixels=MAX_PIXELS, label="the upload")
    names = [n for n, _ in files]
    level2a = level2a_signs(names)
    guess = None
    if choice.metadata is None:
        guess = guess_offset(names, _blue_sample(find_band_files(band_dir)["B2"], 1),
                             level2a)
    return StackedUpload(stack, sha256_file(stack), notes, len(bands), choice.declared,
                         choice.metadata.name if choice.metadata else None, tuple(unnamed),
                         choice.metadata is None and level2a, guess)


def _blue_sample(path: Path, band: int) -> np.ndarray | None:
    """Valid B2 DN of a file's band ``band`` (1-based), read decimated to 512 x 512 px."""
    try:
        with rasterio.open(path) as src:
            data = src.read(band, out_shape=(min(512, src.height), min(512, src.width)))
            nodata = src.nodata
    except RasterioIOError:
        return None
    valid = np.isfinite(data) & (data != (0 if nodata is None else nodata))
    return data[valid].astype("float64")


def _common_stem(names: Sequence[str]) -> str:
    """The shared start of band file names, without the band: ``T31UDQ_20161130`` from
    ``T31UDQ_20161130_B02.tif``, ``T31UDQ_20161130_B8A.tif``... (``bands`` if none)."""
    prefix = os.path.commonprefix([safe_name(Path(n).stem) for n in names])
    return re.sub(r"[_\-. ]*B0?$", "", prefix).rstrip("_-. ") or "bands"


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
        offset_guess: the DN offset its name, tags, darkest pixels or date point to
            (:func:`~urbanseg_core.io.bandfolder.guess_offset`), or ``None``.
        pixel_size: the pixel side in CRS units (metres for projected files).
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
    offset_guess: OffsetGuess | None = None
    pixel_size: float = 10.0

    @property
    def pixels(self) -> int:
        """Width x height."""
        return self.width * self.height


def _file_offset(src, name: str, order: Sequence[str]) -> OffsetGuess | None:
    """:func:`~urbanseg_core.io.bandfolder.guess_offset` for one uploaded raster: its name
    and metadata tags, and its B2 band's darkest pixels when the band is known."""
    tags = {k: str(v) for k, v in src.tags().items()}
    texts = [name, *tags.values()]
    level2a = level2a_signs([name]) or "L2A" in tags.get("PROCESSING_LEVEL", "").upper()
    blue = None
    if "B2" in order and src.dtypes[0] not in ("float32", "float64"):
        blue = _blue_sample(Path(src.name), list(order).index("B2") + 1)
    return guess_offset(texts, blue, level2a)


def inspect_raster(path: str | Path, name: str | None = None) -> RasterInfo:
    """Read an uploaded raster's header, propose a band order
    (:func:`~urbanseg_core.io.scene.propose_band_order`) and guess its DN offset.

    Args:
        path: the stored upload.
        name: the file's name as uploaded (default: the stored name).

    Raises:
        InputError: the file is not a raster rasterio can read.
    """
    path = Path(path)
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(
            f"{path.name} could not be read as a raster.", "Upload a Sentinel-2 GeoTIFF (.tif) "
            "with the bands B2, B3, B4, B5, B6, B7, B8, B8A, B9, B11, B12.") from exc
    with src:
        descriptions = tuple(d or "" for d in src.descriptions)
        sample = overview_sample(src) if src.count == 13 else None
        order, how, named = propose_band_order(src.count, descriptions, sample)
        return RasterInfo(src.count, src.width, src.height, str(src.dtypes[0]),
                          src.crs.to_string() if src.crs else "none", descriptions, named,
                          tuple(order), how,
                          footprint(src.crs, src.transform, (src.height, src.width)),
                          _file_offset(src, name or path.name, order), abs(src.res[0]))


def check_band_order(order: tuple[str, ...]) -> tuple[str, ...]:
    """Check a band order from the form: every model band once.

    Raises:
        BandOrderError: a model band is missing or given twice (plain message).
    """
    used = [b for b in order if b]
    missing = missing_bands(used)
    twice = sorted({b for b in used if used.count(b) > 1})
    if missing or twice:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if twice:
            parts.append(f"chosen twice: {', '.join(twice)}")
        raise BandOrderError("The band mapping is incomplete (" + "; ".join(parts) + ").",
                             f"Give each of {', '.join(MODEL_BANDS)} to exactly one band of "
                             "the file.", missing=missing, found=order, duplicated=twice)
    return order


def stage_weights(weights: bytes, name: str, card: bytes | None = None) -> Path:
    """Write uploaded weights (and card) to their own folder; return the path to load.

    The weights keep their uploaded name, so messages about them name the file the user
    chose. With a card, a copy of it pointing to that name is written beside them and its
    path returned (the card's sha256 still checks the content); without one, the weights path
    is returned (read as the original 2022 checkpoint layout by
    :func:`~urbanseg_core.model.loading.load_model`).

    Raises:
        ModelLoadError: the card is not JSON or names no weights file.
    """
    digest = hashlib.sha256(weights).hexdigest()
    folder = UPLOAD_DIR / f"model_{digest[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    path = write_bytes_atomic(folder / safe_file_name(name, default="weights.pth"), weights)
    if card is None:
        return path
    try:
        data = json.loads(card.decode("utf-8"))
        str(data["weights"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelLoadError("The model card is not a valid card JSON (it must name its "
                             "weights file under \"weights\").",
                             "Upload the .json card that urbanseg train wrote beside the "
                             "weights.") from exc
    data["weights"] = path.name
    return write_bytes_atomic(path.with_suffix(".json"),
                              json.dumps(data, indent=2).encode("utf-8"))
