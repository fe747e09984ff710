"""Per-class areas (km²) and shares of a class map.

The built-up share is ``(non-residential + residential) / valid area``, the figure the original
project reported per image. Areas are geodesic for geographic CRSs (WGS 84 ellipsoid, per row
of pixels) and planar for projected CRSs in metres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from rasterio.crs import CRS

from ..io.grid import crs_name, is_geographic, linear_unit_m
from ..lazy import lazy_import
from ..sentinel2 import BUILT_UP, CLASS_NAMES, NODATA


@dataclass
class ClassArea:
    """One row of the area table."""

    index: int
    name: str
    pixels: int
    area_km2: float
    share_of_valid: float


@dataclass
class AreaStats:
    """Areas of a class map.

    Attributes:
        classes: one :class:`ClassArea` per class, index order.
        valid_km2: area with data, km².
        nodata_km2: area without data, km².
        built_up_share: (non-residential + residential) / valid, 0-1 (``nan`` without data).
        pixel_area_method: how pixel areas were computed (planar, geodesic or assumed 10 m).
    """

    classes: list[ClassArea]
    valid_km2: float
    nodata_km2: float
    built_up_share: float
    pixel_area_method: str

    def to_dict(self) -> dict:
        """JSON-ready dict; km² and shares rounded to 6 decimals (1 m², 0.0001 %)."""
        d = asdict(self)
        for c in d["classes"]:
            c["area_km2"], c["share_of_valid"] = _r6(c["area_km2"]), _r6(c["share_of_valid"])
        for key in ("valid_km2", "nodata_km2", "built_up_share"):
            d[key] = _r6(d[key])
        return d

    def rows(self) -> list[dict]:
        """Table rows: class, pixels, km², % of valid area."""
        return [{"class": c.name, "pixels": c.pixels, "area_km2": round(c.area_km2, 4),
                 "share_%": round(100 * c.share_of_valid, 2)} for c in self.classes]


def _r6(value: float) -> float:
    return value if value != value else round(float(value), 6)  # nan stays nan


def pixel_areas_km2(shape: tuple[int, int], crs: CRS | None, transform) -> tuple[np.ndarray, str]:
    """Area of each pixel row in km².

    Returns:
        ``(areas, method)``: ``areas`` is ``(H,)`` float64 (pixels of one row share an area),
        ``method`` says how it was computed.
    """
    height = shape[0]
    if crs is None:
        return np.full(height, 1e-4), "assumed 10 m x 10 m pixels (the file has no CRS)"
    if is_geographic(crs):
        geod = lazy_import("pyproj").Geod(ellps="WGS84")  # only here: 0.05 s to import
        dx, dy = abs(transform.a), abs(transform.e)
        x0 = transform.c
        ys = transform.f + transform.e * (np.arange(height) + 0.5)
        areas = np.empty(height)
        for i, y in enumerate(ys):
            lons = [x0, x0 + dx, x0 + dx, x0]
            lats = [y - dy / 2, y - dy / 2, y + dy / 2, y + dy / 2]
            areas[i] = abs(geod.polygon_area_perimeter(lons, lats)[0]) / 1e6
        return areas, "geodesic (WGS 84 ellipsoid)"
    unit = linear_unit_m(crs)
    area = abs(transform.a * transform.e - transform.b * transform.d) * unit * unit / 1e6
    return np.full(height, area), f"planar ({crs_name(crs)})"


def class_areas(classes: np.ndarray, crs: CRS | None, transform,
                class_names: Sequence[str] = CLASS_NAMES,
                built_up: Sequence[int] = BUILT_UP) -> AreaStats:
    """Per-class pixel counts, areas in km² and shares of the valid area.

    Args:
        classes: ``(H, W)`` uint8 class map (class indices, 255 nodata).
        crs, transform: the map's georeference.
        class_names: names in index order.
        built_up: class indices that count as built up.

    Returns:
        :class:`AreaStats`.
    """
    row_area, method = pixel_areas_km2(classes.shape, crs, transform)
    n = len(class_names)
    # bincount works on int64 copies: count blocks of rows to keep memory bounded
    # (a 10000 x 10000 px map would otherwise need an 800 MB temporary)
    step = max(1, (1 << 22) // max(1, classes.shape[1]))
    pixels = np.zeros(256, dtype=np.int64)
    areas = np.zeros(256)
    uniform = bool(np.all(row_area == row_area[0]))  # projected CRS: one area for all rows
    for r0 in range(0, classes.shape[0], step):
        block = classes[r0:r0 + step]
        if uniform:
            counts = np.bincount(block.ravel(), minlength=256)
            pixels += counts
            areas += counts * row_area[0]
        else:
            counts = np.stack([np.bincount(row, minlength=256) for row in block])
            pixels += counts.sum(axis=0)
            areas += (counts * row_area[r0:r0 + step, None]).sum(axis=0)
    valid_km2 = float(areas[:n].sum())
    rows = [
        ClassArea(i, class_names[i], int(pixels[i]), float(areas[i]),
                  float(areas[i] / valid_km2) if valid_km2 else float("nan"))
        for i in range(n)
    ]
    built = float(sum(areas[i] for i in built_up) / valid_km2) if valid_km2 else float("nan")
    return AreaStats(rows, valid_km2, float(areas[NODATA]), built, method)


def areas_of(segmentation) -> AreaStats:
    """:func:`class_areas` of a :class:`~urbanseg_core.inference.pipeline.Segmentation` (any
    object with ``classes``, ``crs``, ``transform`` and ``class_names``)."""
    return class_areas(segmentation.classes, segmentation.crs, segmentation.transform,
                       segmentation.class_names)


#: Below this split confidence (%), a built-up pixel's residential / non-residential call is
#: "unsure": the more likely built-up class holds less than 75 % of the built-up probability.
UNSURE_BELOW_PCT = 50


@dataclass
class UnsureArea:
    """Built-up area where the model cannot tell residential from non-residential well.

    Attributes:
        threshold_pct: split confidence (%) below which a built-up pixel counts as unsure.
        unsure_km2: unsure built-up area, km².
        built_up_km2: all built-up area with a confidence value, km².
        share_of_built_up: ``unsure_km2 / built_up_km2``, 0-1 (``nan`` without built-up area).
    """

    threshold_pct: int
    unsure_km2: float
    built_up_km2: float
    share_of_built_up: float

    def to_dict(self) -> dict:
        """JSON-ready dict, km² and share rounded to 6 decimals."""
        return {k: (_r6(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def unsure_built_up(segmentation, threshold_pct: int = UNSURE_BELOW_PCT) -> UnsureArea | None:
    """The built-up area whose split confidence is below ``threshold_pct``.

    Args:
        segmentation: any object with ``confidence`` (``(H, W)`` uint8 0-100 %, 255 where not
            built up; see :class:`~urbanseg_core.inference.pipeline.Segmentation`), ``crs`` and
            ``transform``.
        threshold_pct: 0-100.

    Returns:
        :class:`UnsureArea`, or ``None`` when the segmentation carries no confidence layer.
    """
    conf = getattr(segmentation, "confidence", None)
    if conf is None:
        return None
    sure_or_not = np.where(conf == NODATA, NODATA, (conf < threshold_pct).astype("uint8"))
    stats = class_areas(sure_or_not.astype("uint8"), segmentation.crs, segmentation.transform,
                        ("sure", "unsure"), built_up=(1,))
    unsure, total = stats.classes[1].area_km2, stats.valid_km2
    return UnsureArea(threshold_pct, unsure, total, unsure / total if total else float("nan"))
