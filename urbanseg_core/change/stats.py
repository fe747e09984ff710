"""Areas of a from-to map: km² and share of each of the nine pairs, net change per class."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from rasterio.crs import CRS

from ..evaluation.areas import class_areas
from .codes import N_CLASSES, pair_names


@dataclass
class PairArea:
    """One from-to pair: its code, classes, pixels, area (km²) and share of the overlap."""

    code: int
    before: str
    after: str
    name: str
    pixels: int
    area_km2: float
    share_of_overlap: float


@dataclass
class ChangeStats:
    """Areas of a change map.

    Attributes:
        pairs: the nine :class:`PairArea`, code order.
        overlap_km2: area compared (data at both dates), km².
        nodata_km2: area of BEFORE's grid outside the overlap, km².
        changed_km2: area whose class differs between the dates, km².
        changed_share: ``changed_km2 / overlap_km2`` (``nan`` without overlap).
        before_km2, after_km2: area of each class at each date within the overlap, km².
        net_change_km2: ``after_km2 - before_km2`` per class, km² (gains minus losses).
        pixel_area_method: how pixel areas were computed (planar or geodesic).
    """

    pairs: list[PairArea]
    overlap_km2: float
    nodata_km2: float
    changed_km2: float
    changed_share: float
    before_km2: dict[str, float]
    after_km2: dict[str, float]
    net_change_km2: dict[str, float]
    pixel_area_method: str

    def matrix_km2(self) -> np.ndarray:
        """``(3, 3)`` float64 km², rows BEFORE class, columns AFTER class."""
        return np.array([p.area_km2 for p in self.pairs]).reshape(N_CLASSES, N_CLASSES)

    def rows(self) -> list[dict]:
        """Table rows (code, from, to, pixels, km², % of overlap), for displays and CSV."""
        return [{"code": p.code, "from": p.before, "to": p.after, "pixels": p.pixels,
                 "area_km2": round(p.area_km2, 4), "share_%": round(100 * p.share_of_overlap, 3)}
                for p in self.pairs]

    def csv_bytes(self) -> bytes:
        """The from-to table (:meth:`rows`, nine rows in code order) as UTF-8 CSV: code, from,
        to, pixels, area_km2 (km²), share_% (% of the area compared)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["code", "from", "to", "pixels", "area_km2",
                                                 "share_%"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buf.getvalue().encode("utf-8")

    def to_dict(self) -> dict:
        """JSON-ready dict; km² and shares rounded to 6 decimals (1 m², 0.0001 %)."""
        d = asdict(self)
        for p in d["pairs"]:
            p["area_km2"], p["share_of_overlap"] = _r6(p["area_km2"]), _r6(p["share_of_overlap"])
        for key in ("overlap_km2", "nodata_km2", "changed_km2", "changed_share"):
            d[key] = _r6(d[key])
        for key in ("before_km2", "after_km2", "net_change_km2"):
            d[key] = {k: _r6(v) for k, v in d[key].items()}
        return d


def _r6(value: float) -> float:
    return value if value != value else round(float(value), 6)  # nan stays nan


def change_areas(codes: np.ndarray, crs: CRS | None, transform,
                 class_names: Sequence[str]) -> ChangeStats:
    """Areas of each from-to pair and the net change of each class.

    Pixel areas are planar for projected CRSs and geodesic (WGS 84) for geographic ones, as
    :func:`urbanseg_core.evaluation.areas.pixel_areas_km2` computes them.

    Args:
        codes: ``(H, W)`` uint8 from-to codes ``3 * before + after`` (255 nodata).
        crs, transform: the map's georeference.
        class_names: the three class names, index order.

    Returns:
        :class:`ChangeStats`.

    Raises:
        ModelLoadError: ``class_names`` does not hold three classes.
    """
    names = pair_names(class_names)
    areas = class_areas(codes, crs, transform, names, built_up=())
    overlap = areas.valid_km2
    pairs = [PairArea(c.index, class_names[c.index // N_CLASSES],
                      class_names[c.index % N_CLASSES], c.name, c.pixels, c.area_km2,
                      c.share_of_valid)
             for c in areas.classes]
    matrix = np.array([p.area_km2 for p in pairs]).reshape(N_CLASSES, N_CLASSES)
    changed = float(matrix.sum() - np.trace(matrix))
    before = {n: float(matrix[i].sum()) for i, n in enumerate(class_names)}
    after = {n: float(matrix[:, i].sum()) for i, n in enumerate(class_names)}
    net = {n: after[n] - before[n] for n in class_names}
    return ChangeStats(pairs, overlap, areas.nodata_km2, changed,
                       changed / overlap if overlap else float("nan"), before, after, net,
                       areas.pixel_area_method)
