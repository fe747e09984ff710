"""Statistics of a run as CSV: per-class areas, built-up share and, with a reference, scores.

One long table (``section, class, metric, value, unit``) so that every number sits in one
column that spreadsheets read directly, whatever the sections a run has.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Mapping

from .areas import AreaStats, UnsureArea


def stats_rows(stats: AreaStats, metrics: Mapping[str, Any] | None = None,
               unsure: UnsureArea | None = None) -> list[dict]:
    """Rows of the statistics table.

    Args:
        stats: class areas of the prediction (:func:`urbanseg_core.evaluation.areas.class_areas`).
        metrics: optional scores against a reference
            (:func:`urbanseg_core.evaluation.metrics.evaluate_maps`).
        unsure: optional built-up area whose residential / non-residential call is unsure
            (:func:`urbanseg_core.evaluation.areas.unsure_built_up`).

    Returns:
        A list of dicts with keys ``section``, ``class``, ``metric``, ``value``, ``unit``.
    """
    rows: list[dict] = []
    for c in stats.classes:
        rows.append({"section": "area", "class": c.name, "metric": "pixels",
                     "value": c.pixels, "unit": "px"})
        rows.append({"section": "area", "class": c.name, "metric": "area",
                     "value": round(c.area_km2, 6), "unit": "km2"})
        rows.append({"section": "area", "class": c.name, "metric": "share_of_valid",
                     "value": _pct(c.share_of_valid), "unit": "%"})
    rows.append({"section": "area", "class": "all", "metric": "valid_area",
                 "value": round(stats.valid_km2, 6), "unit": "km2"})
    rows.append({"section": "area", "class": "all", "metric": "nodata_area",
                 "value": round(stats.nodata_km2, 6), "unit": "km2"})
    rows.append({"section": "area", "class": "built-up", "metric": "built_up_share",
                 "value": _pct(stats.built_up_share), "unit": "%"})
    if unsure is not None:
        metric = f"split_confidence_below_{unsure.threshold_pct}pct"
        rows.append({"section": "confidence", "class": "built-up", "metric": metric,
                     "value": round(unsure.unsure_km2, 6), "unit": "km2"})
        rows.append({"section": "confidence", "class": "built-up", "metric": metric,
                     "value": _pct(unsure.share_of_built_up), "unit": "% of built-up"})
    if metrics:
        for name, scores in metrics.get("per_class", {}).items():
            for key in ("dice", "iou", "precision", "recall"):
                rows.append({"section": "agreement", "class": name, "metric": key,
                             "value": _num(scores.get(key)), "unit": "0-1"})
            rows.append({"section": "agreement", "class": name, "metric": "support",
                         "value": scores.get("support_px"), "unit": "px"})
        for key in ("dice_weighted", "dice_macro_builtup", "dice_binary_builtup"):
            if key in metrics:
                rows.append({"section": "agreement", "class": "all", "metric": key,
                             "value": _num(metrics[key]), "unit": "0-1"})
        for key in ("built_up_share_pred", "built_up_share_ref"):
            if key in metrics:
                rows.append({"section": "agreement", "class": "built-up", "metric": key,
                             "value": _pct(metrics[key]), "unit": "%"})
    return rows


def stats_csv(stats: AreaStats, metrics: Mapping[str, Any] | None = None,
              unsure: UnsureArea | None = None) -> bytes:
    """The rows of :func:`stats_rows` as UTF-8 CSV bytes (empty cells for undefined values)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["section", "class", "metric", "value", "unit"],
                            lineterminator="\n")
    writer.writeheader()
    for row in stats_rows(stats, metrics, unsure):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue().encode("utf-8")


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def _pct(fraction: float) -> float | None:
    return None if fraction is None or math.isnan(fraction) else round(100 * fraction, 2)
