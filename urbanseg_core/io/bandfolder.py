"""Use a folder of single-band Sentinel-2 files (one file per band) as one input image.

Sentinel-2 products (the SAFE ``IMG_DATA`` folders, ``R10m``/``R20m``/``R60m``), the Onera
change-detection dataset and many download tools deliver one GeoTIFF or JPEG 2000 file per band,
each on the band's native 10, 20 or 60 m grid. :func:`find_band_files` recognises the band in
each file name (:func:`~urbanseg_core.sentinel2.band_of`); :func:`stack_folder` puts the
model's 11 bands onto one 10 m grid with :func:`~urbanseg_core.io.stacking.stack_bands`
(nearest neighbour, so every pixel keeps a measured value) and writes one GeoTIFF that every
command reads. :func:`choose_offset` is the one rule for a folder's DN offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable
from xml.etree import ElementTree

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from ..errors import InputError, OffsetMetadataError, TooLargeError
from ..lazy import lazy_import
from ..sentinel2 import (BAND_FILE_SUFFIXES, L2A_OFFSET, METADATA_NAMES, MODEL_BANDS,
                         NO_OFFSET_DARK_DN, OFFSET_BASELINE, OFFSET_DARK_DN, OFFSET_SINCE,
                         OFFSET_TAGS, SUBSTITUTES, acquisition_date, band_of, band_sort_key,
                         dates_are_processing_times, is_quality_mask, level2a_signs,
                         processing_baseline)
from .grid import target_grid
from .stacking import stack_bands, write_stack

if TYPE_CHECKING:
    from shapely.geometry import Polygon

#: Smallest overlap (intersection over union of the footprints) a band file must have with
#: B2's footprint to count as the same image.
SAME_IMAGE_IOU = 0.8

_SEVERAL_IMAGES = ("it looks like more than one image. Use the band files of one image only "
                   "(one date, one area).")


def _open(path: Path):
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path.name} cannot be read as a raster "
                         f"({str(exc).splitlines()[0]}).", "Remove it or replace it.") from exc


def _pixel_count(path: Path) -> int:
    with _open(path) as src:
        return src.width * src.height


# ------------------------------------------------------------------------------- DN offset

def product_offset(folder: str | Path, levels: int = 3) -> tuple[float, Path] | None:
    """The DN offset a Sentinel-2 product's metadata declares for its bands.

    Looks for ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` in ``folder`` and up to ``levels``
    folders above it (``IMG_DATA`` sits three levels below the ``.SAFE`` root) and reads
    ``BOA_ADD_OFFSET`` (Level-2A) or ``RADIO_ADD_OFFSET`` (Level-1C): -1000 for processing
    baseline 04.00 and later, absent (0) before (ESA, Sentinel-2 Products Specification
    Document, baseline 04.00). Reflectance = (DN + offset) / 10000.

    Returns:
        ``(offset in DN, metadata path)``, or ``None`` when no metadata file is found.

    Raises:
        OffsetMetadataError: the metadata cannot be parsed or gives different offsets per band.
    """
    folder = Path(folder).resolve()
    for directory in [folder, *list(folder.parents)[:levels]]:
        for name in METADATA_NAMES:
            path = directory / name
            if path.is_file():
                return declared_offset(path), path
    return None


def declared_offset(path: str | Path) -> float:
    """The DN offset one ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` declares (0 when it declares
    none: processing baselines before 04.00).

    Raises:
        OffsetMetadataError: the file cannot be parsed or gives different offsets per band.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise OffsetMetadataError(f"{path.name} cannot be read ({exc}).",
                                  "Give the DN offset yourself.", path=str(path)) from exc
    values = {float(e.text) for e in root.iter()
              if e.tag.rsplit("}", 1)[-1] in OFFSET_TAGS and (e.text or "").strip()}
    if len(values) > 1:
        raise OffsetMetadataError(
            f"{path.name} declares different offsets per band "
            f"({', '.join(f'{v:g}' for v in sorted(values))}); urbanseg applies one offset to "
            "all bands.", "Stack and correct the bands yourself.", path=str(path),
            offsets=sorted(values))
    return values.pop() if values else 0.0


def looks_level2a(folder: str | Path) -> bool:
    """True when a band folder, its subfolders or its files look like a Level-2A product
    (:func:`~urbanseg_core.sentinel2.level2a_signs`)."""
    folder = Path(folder).resolve()
    return level2a_signs([*folder.parts, *(str(p.relative_to(folder))
                                           for p in folder.rglob("*"))])


@dataclass(frozen=True)
class OffsetChoice:
    """The DN offset to read a band folder with, and why.

    Attributes:
        offset: DN added before /10000 (0, or -1000 for Level-2A of baseline 04.00+).
        given: the caller gave the offset (it wins; the metadata is not read).
        metadata: the product metadata file that declared it, or ``None``.
        declared: the offset that file declares (``None`` without one).
        looks_level2a: nothing gave an offset, yet the names look like Level-2A: a forgotten
            -1000 would halve the built-up area found, so front ends warn.
    """

    offset: float
    given: bool = False
    metadata: Path | None = None
    declared: float | None = None
    looks_level2a: bool = False


def choose_offset(folder: str | Path, given: float | None = None) -> OffsetChoice:
    """The one rule for a band folder's DN offset: the given one, else the one its product
    metadata declares (:func:`product_offset`), else 0 (flagging folders that look like
    Level-2A, :func:`looks_level2a`).

    Args:
        folder: the band folder.
        given: the offset the user gave, or ``None``.

    Raises:
        OffsetMetadataError: the metadata cannot be parsed or gives different offsets per band.
    """
    if given is not None:  # the metadata is not even read
        return OffsetChoice(float(given), given=True)
    found = product_offset(folder)
    if found is not None:
        return OffsetChoice(found[0], metadata=found[1], declared=found[0])
    return OffsetChoice(0.0, looks_level2a=looks_level2a(folder))


@dataclass(frozen=True)
class OffsetGuess:
    """The DN offset the evidence in a file points to, and the sentence that says why.

    Attributes:
        offset: 0 or -1000 DN.
        reason: one plain sentence naming the evidence (baseline, darkest pixels, date).
    """

    offset: float
    reason: str


def _long_date(day) -> str:
    return f"{day.day} {day:%B %Y}"


def guess_offset(texts: Iterable[str], blue_dn: np.ndarray | None = None,
                 level2a: bool = False) -> OffsetGuess | None:
    """The DN offset of a file without product metadata, from the evidence it carries.

    In order: a processing baseline in a product name (``_N0400_``: 04.00 and later carry the
    offset); for Level-2A files, the darkest blue pixels (the first percentile of B2 DN above
    :data:`~urbanseg_core.sentinel2.OFFSET_DARK_DN`: the offset is stored, which also catches
    older scenes reprocessed since 2022; below
    :data:`~urbanseg_core.sentinel2.NO_OFFSET_DARK_DN`: it is not); the acquisition date (since
    :data:`~urbanseg_core.sentinel2.OFFSET_SINCE`). Top-of-atmosphere (Level-1C) blue is
    bright even over water, so only the date speaks for those.

    Args:
        texts: file names and metadata values (dates, product names).
        blue_dn: B2 digital numbers of valid pixels (a sample), or ``None``.
        level2a: the file is Level-2A surface reflectance (names, tags).

    Returns:
        The guess, or ``None`` when nothing in the file says.
    """
    texts = list(texts)
    baseline = processing_baseline(texts)
    if baseline is not None:
        carries = baseline >= OFFSET_BASELINE
        return OffsetGuess(L2A_OFFSET if carries else 0.0, (
            f"The product name gives processing baseline {baseline:05.2f}, "
            + ("which stores the 1000 DN offset." if carries else "older than 04.00, which "
               "has no DN offset.")))
    if level2a and blue_dn is not None and blue_dn.size >= 100:
        dark = float(np.percentile(blue_dn, 1))
        if dark > OFFSET_DARK_DN or dark < NO_OFFSET_DARK_DN:
            carries = dark > OFFSET_DARK_DN
            return OffsetGuess(L2A_OFFSET if carries else 0.0, (
                f"These are Level-2A files and their darkest blue pixels read {dark:,.0f} DN, "
                + ("as only a stored 1000 DN offset makes them." if carries else
                   "so no 1000 DN offset is stored in them.")))
    day = acquisition_date(texts)
    if day is not None:
        carries = day >= OFFSET_SINCE
        done = "processed" if dates_are_processing_times(texts) else "taken"
        return OffsetGuess(L2A_OFFSET if carries else 0.0, (
            f"The image was {done} on {_long_date(day)}, "
            + ("after" if carries else "before") + f" {_long_date(OFFSET_SINCE)}, when "
            "Sentinel-2 products began to store a 1000 DN offset."))
    return None


# ------------------------------------------------------------------------------ band files

def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _candidates(folder: Path) -> dict[str, list[Path]]:
    """Band name -> files of the folder (recursively) whose names name it; quality masks
    (``QI_DATA``, ``MSK_*``) skipped."""
    candidates: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if (path.is_file() and path.suffix.lower() in BAND_FILE_SUFFIXES
                and not is_quality_mask(path.relative_to(folder))):
            band = band_of(path)
            if band is not None:
                candidates.setdefault(band, []).append(path)
    return candidates


def _finest(band: str, paths: list[Path], folder: Path, label: str) -> Path:
    """The file of a band on the finest grid; two on the same grid mean two images."""
    if len(paths) == 1:
        return paths[0]
    sizes = sorted(((_pixel_count(p), p) for p in paths), reverse=True)
    if sizes[0][0] == sizes[1][0]:
        raise InputError(
            f"{_cap(label)} holds more than one {band} file on the same grid "
            f"({sizes[0][1].relative_to(folder)}, {sizes[1][1].relative_to(folder)}): "
            + _SEVERAL_IMAGES)
    return sizes[0][1]


def _check_same_image(chosen: dict[str, Path], folder: Path, label: str) -> None:
    """Every file must cover B2's footprint (:data:`SAME_IMAGE_IOU`)."""
    if "B2" not in chosen:
        return
    ref = _footprint(chosen["B2"])
    for band, path in chosen.items():
        if _iou(ref, _footprint(path)) < SAME_IMAGE_IOU:
            raise InputError(
                f"In {label}, {path.relative_to(folder)} ({band}) covers a different area "
                f"than {chosen['B2'].relative_to(folder)} (B2): " + _SEVERAL_IMAGES)


def find_band_files(folder: str | Path, label: str | None = None) -> dict[str, Path]:
    """Map band names to the files of a band folder (searched recursively).

    When a band is present at several resolutions (a SAFE Level-2A product holds B2 in R10m,
    R20m and R60m), the file with the most pixels, i.e. the finest grid, is used; two files
    of one band with the same number of pixels mean two images (e.g. both dates of a
    change-detection pair) and are refused.

    Quality masks (``QI_DATA``, ``MSK_*``) are skipped, so a granule or ``.SAFE`` folder
    works. Every chosen file must cover B2's footprint (:data:`SAME_IMAGE_IOU`), so files of
    two images are not mixed.

    Args:
        folder: a directory holding one raster file per band (``.tif``, ``.tiff``, ``.jp2``).
        label: how messages name the source (default: "the folder <path>").

    Returns:
        ``{"B2": Path, ...}`` for every band found (all Sentinel-2 bands, not only the model's).

    Raises:
        InputError: ``folder`` is not a directory, holds no recognisable band files, holds
            one band twice on the same grid, or holds files of different areas.
    """
    folder = Path(folder)
    label = label or f"the folder {folder}"
    if not folder.is_dir():
        raise InputError(f"{_cap(label)} is not a folder of band files.")
    candidates = _candidates(folder)
    if not candidates:
        raise InputError(
            f"No band files found in {label}: expected one GeoTIFF or JPEG 2000 file per band "
            "with the band in its name (e.g. ..._B02.tif, ..._B8A_20m.jp2).")
    chosen = {band: _finest(band, paths, folder, label) for band, paths in candidates.items()}
    _check_same_image(chosen, folder, label)
    return chosen


def _footprint(path: Path) -> Polygon:
    """A file's bounds as a box in longitude/latitude degrees (EPSG:4326)."""
    box = lazy_import("shapely.geometry").box  # only for band folders: 0.02 s to import
    with _open(path) as src:
        if src.crs is None:
            return box(*src.bounds)  # compared as is: files without CRS share pixel space
        return box(*transform_bounds(src.crs, "EPSG:4326", *src.bounds))


def _iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two footprints (shapely)."""
    union = a.union(b).area
    return a.intersection(b).area / union if union > 0 else 0.0


def _substitutions(files: dict[str, Path], label: str) -> list[str]:
    """Notes on bands standing in for missing ones.

    Raises:
        InputError: a model band is missing and has no substitute.
    """
    notes: list[str] = []
    missing = []
    for band in MODEL_BANDS:
        alt = SUBSTITUTES.get(band)
        if band in files:
            continue
        if alt in files:
            notes.append(f"{band} is missing from {label}; {alt} is used in its "
                         "place (the bundled model was trained that way too).")
        else:
            missing.append(band)
    if missing:
        raise InputError(
            f"{_cap(label)} lacks the band file(s) {', '.join(missing)} (found "
            f"{', '.join(sorted(files, key=band_sort_key))}). The model needs "
            f"{', '.join(MODEL_BANDS)}.")
    return notes


def stack_folder(folder: str | Path, output: str | Path, resolution: float = 10.0,
                 max_pixels: int | None = None,
                 label: str | None = None) -> tuple[Path, list[str]]:
    """Stack a band folder's files into one 11-band GeoTIFF on a ``resolution`` m grid.

    The grid is B2's when B2 is projected at ``resolution`` m, else a north-up UTM grid over
    B2's footprint (:func:`~urbanseg_core.io.grid.target_grid`). Every band is resampled with
    nearest neighbour; values stay the files' digital numbers (DN, uint16 for Sentinel-2), with
    band descriptions B2...B12 so the stack is read without giving a band order. The Level-2A
    offset is not applied here (see :func:`choose_offset`): read the stack with it.

    Args:
        folder: the band folder (see :func:`find_band_files`).
        output: the GeoTIFF to write.
        resolution: output pixel size in metres (the model's 10 m by default).
        max_pixels: refuse, before reading any band, a stack with more pixels than this.
        label: how messages name the source (default: "the folder <name>").

    Returns:
        ``(output path, notes)``: notes say which band stood in for a missing one.

    Raises:
        InputError: no band files, or a model band is missing with no substitute.
        TooLargeError: the stack would exceed ``max_pixels`` (``stack`` is ``True``).
    """
    label = label or f"the folder {Path(folder).name}"
    files = find_band_files(folder, label)
    notes = _substitutions(files, label)
    if max_pixels is not None:
        grid = target_grid(files["B2"], resolution)
        pixels = grid.height * grid.width
        if pixels > max_pixels:
            raise TooLargeError(
                f"The bands of {label} make a {grid.width} x {grid.height} px image at "
                f"{resolution:g} m ({pixels:,} pixels), more than the {max_pixels:,} allowed "
                "here.", "Crop the band files to a smaller area first.", pixels=pixels,
                limit=max_pixels, source=label, stack=True)
    data, crs, transform = stack_bands(files, MODEL_BANDS, reference="B2",
                                       resolution=resolution, substitute=SUBSTITUTES)
    out = write_stack(output, data, crs, transform, MODEL_BANDS,
                      tags={"source_folder": str(Path(folder).resolve()),
                            "resampling": "nearest"})
    return out, notes
