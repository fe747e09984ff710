"""Reference land-use masks: recognise their class codes and put them on a scene's grid.

A reference raster (ESM, GHSL GHS-BUILT-C, CORINE / Urban Atlas, or a class map in the model's
own index codes) is turned into the model's index classes and reprojected onto the grid of a
:class:`~urbanseg_core.io.scene.Scene`, so it can be compared pixel by pixel with a prediction.

Code conventions (see ``../shared/data/README.md``, "Label and class conventions"):

=========  =========================  ======================  ===================  =========
codes      other (0)                  non-residential (1)     residential (2)      nodata
=========  =========================  ======================  ===================  =========
index      0                          1                       2                    255
esm        1                          250                     255                  0
ghsl       every other value (0-5)    21-25                   11-15                255
corine     every other code           121 / 12100             111, 112 / 11xxx     0, 65535
=========  =========================  ======================  ===================  =========

Sources: ESM = European Settlement Map 2015 (JRC); GHS-BUILT-C R2023A (JRC, Pesaresi et al.
2023), classes 11-15 residential and 21-25 non-residential; CORINE Land Cover (EEA) classes
1.1.1/1.1.2 urban fabric and 1.2.1 industrial, commercial and public units; Copernicus Urban
Atlas codes 11100-11300 (urban fabric) and 12100 (industrial, commercial, public, military,
private units).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Literal, Mapping, NamedTuple

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject

from ..errors import ReferenceCodesError, ReferenceError_
from ..sentinel2 import ESM_CODES, NODATA

Codes = Literal["index", "esm", "ghsl", "corine"]
#: Accepted values of ``codes``.
CODE_NAMES: tuple[str, ...] = ("auto", "index", "esm", "ghsl", "corine")
#: GHS-BUILT-C ``built_characteristics`` codes of residential and non-residential buildings.
GHSL_RESIDENTIAL: tuple[int, ...] = (11, 12, 13, 14, 15)
GHSL_NON_RESIDENTIAL: tuple[int, ...] = (21, 22, 23, 24, 25)
#: The "give the codes" advice, naming no user interface.
_GIVE_CODES = "Give the reference's codes: index, esm, ghsl or corine."


def detect_codes(array: np.ndarray) -> Codes:
    """Guess a reference raster's code convention from the values present.

    Rules, in order: any value above 255 or any of 100-249/251-254 -> ``corine`` (CORINE
    3-digit or Urban Atlas 5-digit codes); 250 present with only 0/1/255 beside it -> ``esm``;
    any value in 11-25 -> ``ghsl``; values within 0/1/2/255 -> ``index``, except that
    ``{0, 1, 255}`` without 2 where 1 is more common than 0 is read as ``esm`` (an ESM tile
    without non-residential pixels); values within 0-5 (and 255) with some of 3-5 -> ``ghsl``.
    The ambiguous cases are rare; pass the codes explicitly when in doubt.

    Args:
        array: ``(H, W)`` integer reference raster.

    Returns:
        One of ``"index"``, ``"esm"``, ``"ghsl"``, ``"corine"``.

    Raises:
        ReferenceError_: floating-point values or an empty array.
        ReferenceCodesError: negative values, or values that fit no convention.
    """
    arr = np.asarray(array)
    if arr.size == 0:
        raise ReferenceError_("The reference mask is empty.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ReferenceError_(
                "The reference mask holds fractional values; it must hold integer class codes "
                "(index 0/1/2, ESM, GHSL or CORINE)."
            )
        arr = arr.astype("int64")
    values, counts = np.unique(arr, return_counts=True)
    vals = set(int(v) for v in values)
    if min(vals) < 0:
        raise ReferenceCodesError(
            f"The reference mask holds negative values ({min(vals)}); class codes are "
            "non-negative integers.", "Declare the file's nodata value, or " +
            _GIVE_CODES[0].lower() + _GIVE_CODES[1:], values=sorted(vals)[:12])
    if max(vals) > 255 or any(100 <= v <= 254 and v != 250 for v in vals):
        return "corine"
    if 250 in vals and vals <= {0, 1, 250, 255}:
        return "esm"
    if any(11 <= v <= 25 for v in vals):
        return "ghsl"
    if vals <= {0, 1, 2, NODATA}:
        count = dict(zip((int(v) for v in values), counts))
        if 2 not in vals and NODATA in vals and count.get(1, 0) > count.get(0, 0):
            return "esm"
        return "index"
    if vals <= {0, 1, 2, 3, 4, 5, 255}:
        return "ghsl"
    shown = ", ".join(str(v) for v in sorted(vals)[:12])
    raise ReferenceCodesError(
        f"The class codes of the reference mask ({shown}) match no known convention.",
        _GIVE_CODES, values=sorted(vals)[:12])


def _from_index(a: np.ndarray, out: np.ndarray) -> None:
    out[a == 1] = 1
    out[a == 2] = 2
    out[(a < 0) | (a > 2)] = NODATA


def _from_esm(a: np.ndarray, out: np.ndarray) -> None:
    for index, code in ESM_CODES.items():
        out[a == code] = index
    out[~np.isin(a, list(ESM_CODES.values()))] = NODATA


def _from_ghsl(a: np.ndarray, out: np.ndarray) -> None:
    out[np.isin(a, GHSL_NON_RESIDENTIAL)] = 1
    out[np.isin(a, GHSL_RESIDENTIAL)] = 2
    out[(a == NODATA) | (a < 0)] = NODATA


def _from_corine(a: np.ndarray, out: np.ndarray) -> None:
    """CORINE 1.1.1/1.1.2 (Urban Atlas 11xxx) residential, 1.2.1 (12100) non-residential."""
    residential = (a == 111) | (a == 112) | ((a >= 11000) & (a < 12000))
    out[(a == 121) | (a == 12100)] = 1
    out[residential] = 2
    out[(a <= 0) | (a == 65535)] = NODATA


#: Code convention -> converter writing index classes (0 other by default) into ``out``.
CONVERTERS: dict[str, Callable[[np.ndarray, np.ndarray], None]] = {
    "index": _from_index, "esm": _from_esm, "ghsl": _from_ghsl, "corine": _from_corine,
}


def to_index(array: np.ndarray, codes: str = "auto") -> np.ndarray:
    """Convert a reference raster to the model's index classes.

    Args:
        array: ``(H, W)`` integer raster in the ``codes`` convention (see module docstring).
        codes: ``"auto"`` (see :func:`detect_codes`), ``"index"``, ``"esm"``, ``"ghsl"`` or
            ``"corine"``.

    Returns:
        ``(H, W)`` uint8: 0 other, 1 non-residential, 2 residential, 255 no reference.

    Raises:
        ReferenceError_: unknown ``codes`` or codes that cannot be detected.
    """
    arr = np.asarray(array)
    if codes == "auto":
        codes = detect_codes(arr)
    if codes not in CONVERTERS:
        raise ReferenceError_(
            f"Unknown reference codes {codes!r}; use one of {', '.join(CODE_NAMES)}."
        )
    out = np.zeros(arr.shape, dtype="uint8")
    # integers are compared as they are (a uint8 mask stays 1 byte a pixel); floats as int64
    CONVERTERS[codes](arr.astype("int64") if arr.dtype.kind == "f" else arr, out)
    return out


def map_values(array: np.ndarray, values: Mapping[int, int]) -> np.ndarray:
    """Convert a reference raster with a value -> class table the user gave.

    Args:
        array: ``(H, W)`` integer raster.
        values: ``{value: class}``: class index 0-2, or 255 for "no data"; values not in the
            table become 255 (not compared).

    Returns:
        ``(H, W)`` uint8 index classes, 255 where there is no reference.
    """
    out = np.full(array.shape, NODATA, dtype="uint8")
    for value, cls in values.items():
        out[array == value] = cls
    return out


class ReferenceValues(NamedTuple):
    """What a reference file holds: its values, the codes detected for them, and how many
    of its pixels have no data."""

    values: list[tuple[int, int]]
    codes: str
    nodata_px: int


def reference_values(path: str | Path, limit: int = 32) -> ReferenceValues:
    """The values a reference file holds (nodata left out) and the codes detected for them.

    Args:
        path: a single-band raster of class codes.
        limit: most values returned (the most frequent, in value order).

    Returns:
        ``(values [(value, pixels), ...], codes, nodata_px)``; ``codes`` is
        :func:`detect_codes` of the values, or ``""`` when they fit no convention;
        ``nodata_px`` the pixels equal to the file's declared nodata value (or not finite),
        which are never compared.

    Raises:
        ReferenceError_: the file is missing, unreadable, only nodata, or holds fractions.
    """
    raw, nodata_mask, _, _ = _read_codes(Path(path))
    values, counts = np.unique(raw[~nodata_mask], return_counts=True)
    if values.dtype.kind == "f" and not np.all(values == np.round(values)):
        raise ReferenceError_("The reference mask holds fractional values; it must hold "
                              "integer class codes.")
    keep = np.sort(np.argsort(counts)[::-1][:limit])
    pairs = [(int(values[i]), int(counts[i])) for i in keep]
    try:
        codes = detect_codes(values.astype("int64"))
    except ReferenceError_:
        codes = ""
    return ReferenceValues(pairs, codes, int(nodata_mask.sum()))


def default_classes(values: list[int], codes: str) -> dict[int, int]:
    """The class each value has under a code convention (the start of a mapping form)."""
    if not codes or not values:
        return {v: NODATA for v in values}
    return dict(zip(values, (int(c) for c in to_index(np.array(values), codes))))


def _read_codes(path: Path) -> tuple[np.ndarray, np.ndarray, object, object]:
    """``(codes, nodata mask, crs, transform)`` of a single-band reference file.

    Raises:
        ReferenceError_: the file is missing, a folder, unreadable, or only nodata.
    """
    if not path.exists():
        raise ReferenceError_(f"Reference file not found: {path}.", "Check the path.")
    if path.is_dir():
        raise ReferenceError_(f"{path} is a folder.", "Give the reference mask's GeoTIFF.")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise ReferenceError_(
            f"{path.name} could not be read as a raster ({str(exc).splitlines()[0][:160]}).",
            "Give a single-band GeoTIFF of class codes.") from exc
    with src:
        try:
            raw = src.read(1)
        except RasterioIOError as exc:
            raise ReferenceError_(f"{path.name} is damaged or truncated.",
                                  "Export it again.") from exc
        nodata, crs, transform = src.nodata, src.crs, src.transform
    nodata_mask = np.zeros(raw.shape, dtype=bool)
    if raw.dtype.kind == "f":
        nodata_mask |= ~np.isfinite(raw)
        raw = np.where(nodata_mask, 0, raw)
    if nodata is not None and np.isfinite(nodata):
        nodata_mask |= raw == nodata
    if nodata_mask.all():
        raise ReferenceError_(f"{path.name} holds only nodata.")
    return raw, nodata_mask, crs, transform


def read_reference(path: str | Path, scene, codes: str = "auto",
                   values: Mapping[int, int] | None = None) -> np.ndarray:
    """Read a reference raster and put it on a scene's grid as index classes.

    The codes are converted to index classes on the file's own grid (the file's nodata value
    becomes 255), then reprojected with nearest-neighbour resampling
    (:func:`rasterio.warp.reproject`) onto ``scene.crs`` / ``scene.transform`` /
    ``scene.shape``. A file without a CRS is accepted only when it has the scene's shape.

    Args:
        path: a single-band raster (GeoTIFF) of class codes.
        scene: a :class:`~urbanseg_core.io.scene.Scene` (only ``crs``, ``transform``,
            ``shape`` are used).
        codes: see :func:`to_index`.
        values: a ``{value: class}`` table (:func:`map_values`) that replaces ``codes``.

    Returns:
        ``(H, W)`` uint8 index classes on the scene grid, 255 where there is no reference.

    Raises:
        ReferenceError_: the file is missing or unreadable, its codes are unknown, it cannot
            be placed on the scene grid, or it does not overlap the scene.
    """
    path = Path(path)
    raw, nodata_mask, src_crs, src_transform = _read_codes(path)
    if values is not None:
        index = map_values(raw, values)
    else:
        if codes == "auto":
            codes = detect_codes(raw[~nodata_mask])
        index = to_index(raw, codes)
    index[nodata_mask] = NODATA
    height, width = scene.shape
    if src_crs is None or scene.crs is None:
        if index.shape != (height, width):
            raise ReferenceError_(
                f"{path.name} has no CRS (or the image has none) and its size "
                f"{index.shape[0]} x {index.shape[1]} differs from the image's "
                f"{height} x {width}, so the two cannot be aligned.", "Give it a CRS.")
        return index
    out = np.full((height, width), NODATA, dtype="uint8")
    reproject(
        source=index, destination=out, src_transform=src_transform, src_crs=src_crs,
        dst_transform=scene.transform, dst_crs=scene.crs, resampling=Resampling.nearest,
        src_nodata=NODATA, dst_nodata=NODATA,
    )
    if (out == NODATA).all():
        raise ReferenceError_(
            f"{path.name} does not overlap the image (or holds no reference there).",
            "Check that both cover the same area.")
    return out
