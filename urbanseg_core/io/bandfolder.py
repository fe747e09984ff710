"""Use a folder of single-band Sentinel-2 files (one file per band) as one input image.

Sentinel-2 products (the SAFE ``IMG_DATA`` folders, ``R10m``/``R20m``/``R60m``), the Onera
change-detection dataset and many download tools deliver one GeoTIFF or JPEG 2000 file per band,
each on the band's native 10, 20 or 60 m grid. :func:`find_band_files` recognises the band in
each file name (``..._B02.tif``, ``T43SCT_..._B8A_20m.jp2``, ``B2.tif``); :func:`stack_folder`
puts the model's 11 bands onto one 10 m grid with :func:`~urbanseg_core.io.stacking.stack_bands`
(nearest neighbour, so every pixel keeps a measured value) and writes one GeoTIFF that every
command reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable
from xml.etree import ElementTree

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from shapely.geometry import Polygon, box

from .scene import MODEL_BANDS, canonical_band_name
from ..errors import InputError
from .stacking import stack_bands, target_grid, write_stack

#: File name endings searched for band files (GeoTIFF and JPEG 2000, as in SAFE products).
BAND_FILE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".jp2")

#: Bands that may stand in for a missing one: B8A (20 m) for B8 (10 m), as in the training
#: data of the bundled model (the Islamabad scene has no B8).
SUBSTITUTES: dict[str, str] = {"B8": "B8A"}

_TOKEN_SPLIT = re.compile(r"[_\s.\-]+")

#: Product metadata files that declare the DN offset (SAFE root of Level-2A / Level-1C).
METADATA_NAMES: tuple[str, ...] = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
#: Their offset elements (one per band).
OFFSET_TAGS: tuple[str, ...] = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")

#: Smallest overlap (intersection over union of the footprints) a band file must have with
#: B2's footprint to count as the same image.
SAME_IMAGE_IOU = 0.8


def is_quality_mask(path: str | Path) -> bool:
    """True for the per-band quality masks of SAFE products (``QI_DATA/MSK_*_B02.jp2``...),
    which name a band but hold no reflectance."""
    path = Path(path)
    return path.name.upper().startswith("MSK_") or "QI_DATA" in (p.upper() for p in path.parts)


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


def _open(path: Path):
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path.name} cannot be read as a raster "
                         f"({str(exc).splitlines()[0]}). Remove it or replace it.") from exc


def _pixel_count(path: Path) -> int:
    with _open(path) as src:
        return src.width * src.height


def level2a_signs(names: Iterable[str]) -> bool:
    """True when file or folder names look like a Level-2A product: an ``SCL``, ``AOT`` or
    ``WVP`` layer, a resolution suffix or folder (``_20m``, ``R20m``), or ``MSIL2A``/``L2A``."""
    for name in names:
        tokens = {t.upper() for t in _TOKEN_SPLIT.split(Path(name).stem)}
        if tokens & {"SCL", "AOT", "WVP", "L2A", "10M", "20M", "60M", "R10M", "R20M", "R60M"}:
            return True
        if "MSIL2A" in name.upper():
            return True
    return False


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
        InputError: the metadata cannot be parsed or gives different offsets per band.
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
        InputError: the file cannot be parsed or gives different offsets per band.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise InputError(f"{path.name} cannot be read ({exc}). Give --dn-offset yourself.") \
            from exc
    values = {float(e.text) for e in root.iter()
              if e.tag.rsplit("}", 1)[-1] in OFFSET_TAGS and (e.text or "").strip()}
    if len(values) > 1:
        raise InputError(f"{path.name} declares different offsets per band "
                         f"({', '.join(f'{v:g}' for v in sorted(values))}); urbanseg applies "
                         "one offset to all bands. Stack and correct the bands yourself.")
    return values.pop() if values else 0.0


def looks_level2a(folder: str | Path) -> bool:
    """True when a band folder, its subfolders or its files look like a Level-2A product
    (:func:`level2a_signs`)."""
    folder = Path(folder).resolve()
    return level2a_signs([*folder.parts, *(str(p.relative_to(folder))
                                           for p in folder.rglob("*"))])


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
    candidates: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if (path.is_file() and path.suffix.lower() in BAND_FILE_SUFFIXES
                and not is_quality_mask(path.relative_to(folder))):
            band = band_of(path)
            if band is not None:
                candidates.setdefault(band, []).append(path)
    if not candidates:
        raise InputError(
            f"No band files found in {label}: expected one GeoTIFF or JPEG 2000 file per band "
            "with the band in its name (e.g. ..._B02.tif, ..._B8A_20m.jp2).")
    several = ("it looks like more than one image. Use the band files of one image only "
               "(one date, one area).")
    chosen = {}
    for band, paths in candidates.items():
        if len(paths) > 1:
            sizes = sorted(((_pixel_count(p), p) for p in paths), reverse=True)
            if sizes[0][0] == sizes[1][0]:
                raise InputError(
                    f"{_cap(label)} holds more than one {band} file on the same grid "
                    f"({sizes[0][1].relative_to(folder)}, {sizes[1][1].relative_to(folder)}): "
                    + several)
            paths = [sizes[0][1]]
        chosen[band] = paths[0]
    if "B2" in chosen:
        ref = _footprint(chosen["B2"])
        for band, path in chosen.items():
            if _iou(ref, _footprint(path)) < SAME_IMAGE_IOU:
                raise InputError(
                    f"In {label}, {path.relative_to(folder)} ({band}) covers a different area "
                    f"than {chosen['B2'].relative_to(folder)} (B2): " + several)
    return chosen


def _footprint(path: Path) -> Polygon:
    """A file's bounds as a box in longitude/latitude degrees (EPSG:4326)."""
    with _open(path) as src:
        if src.crs is None:
            return box(*src.bounds)  # compared as is: files without CRS share pixel space
        return box(*transform_bounds(src.crs, "EPSG:4326", *src.bounds))


def _iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two footprints (shapely)."""
    union = a.union(b).area
    return a.intersection(b).area / union if union > 0 else 0.0


def stack_folder(folder: str | Path, output: str | Path, resolution: float = 10.0,
                 max_pixels: int | None = None,
                 label: str | None = None) -> tuple[Path, list[str]]:
    """Stack a band folder's files into one 11-band GeoTIFF on a ``resolution`` m grid.

    The grid is B2's when B2 is projected at ``resolution`` m, else a north-up UTM grid over
    B2's footprint (:func:`~urbanseg_core.io.stacking.target_grid`). Every band is resampled with
    nearest neighbour; values stay the files' digital numbers (DN, uint16 for Sentinel-2), with
    band descriptions B2...B12 so the stack is read without a ``--bands`` option. The Level-2A
    offset is not applied here: pass ``--dn-offset -1000`` when reading a non-harmonised
    Level-2A product of processing baseline 04.00 or later.

    Args:
        folder: the band folder (see :func:`find_band_files`).
        output: the GeoTIFF to write.
        resolution: output pixel size in metres (the model's 10 m by default).
        max_pixels: refuse, before reading any band, a stack with more pixels than this.
        label: how messages name the source (default: "the folder <name>").

    Returns:
        ``(output path, notes)``: notes say which band stood in for a missing one.

    Raises:
        InputError: no band files, a model band is missing with no substitute, or the stack
            would exceed ``max_pixels``.
    """
    label = label or f"the folder {Path(folder).name}"
    files = find_band_files(folder, label)
    notes: list[str] = []
    missing = []
    for band in MODEL_BANDS:
        if band in files:
            continue
        alt = SUBSTITUTES.get(band)
        if alt in files:
            notes.append(f"{band} is missing from {label}; {alt} is used in its "
                         "place (the bundled model was trained that way too).")
        else:
            missing.append(band)
    if missing:
        raise InputError(
            f"{_cap(label)} lacks the band file(s) {', '.join(missing)} (found "
            f"{', '.join(sorted(files, key=_band_sort_key))}). The model needs "
            f"{', '.join(MODEL_BANDS)}.")
    if max_pixels is not None:
        _, _, height, width = target_grid(files["B2"], resolution)
        if height * width > max_pixels:
            raise InputError(
                f"The bands of {label} make a {width} x {height} px image at "
                f"{resolution:g} m ({height * width:,} pixels), more than the {max_pixels:,} "
                "allowed here. Crop the band files to a smaller area first, or stack them with "
                "`urbanseg stack` and segment the stack with `urbanseg batch`.")
    data, crs, transform = stack_bands(files, MODEL_BANDS, reference="B2",
                                       resolution=resolution, substitute=SUBSTITUTES)
    out = write_stack(output, data, crs, transform, MODEL_BANDS,
                      tags={"source_folder": str(Path(folder).resolve()),
                            "resampling": "nearest"})
    return out, notes


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _band_sort_key(band: str) -> tuple[int, str]:
    digits = "".join(ch for ch in band if ch.isdigit())
    return int(digits), band
