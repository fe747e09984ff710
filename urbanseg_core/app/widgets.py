"""Small pieces of UI shared by the pages: errors, progress, tables, charts, downloads.

Everything a user names reaches the page through :func:`~.messages.as_text` (or ``st.text``),
never as Markdown or HTML.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from ..errors import ModelLoadError, UrbansegError
from ..training.cities import city_name
from .map import Overlay
from .mapcontrols import LegendItem, legend_block
from .messages import as_text, describe

log = logging.getLogger("urbanseg.app")

_STAGES = {
    "queue": "Waiting for a free place to run",
    "model": "Loading the model (first start only)",
    "read": "Reading the imagery",
    "predict": "Running the model on the tiles",
    "reference": "Reading the reference mask",
    "maps": "Drawing the map layers",
}
#: Share of the progress bar each stage takes: (start, width).
_BAR = {"queue": (0.0, 0.0), "model": (0.0, 0.05), "read": (0.05, 0.05),
        "predict": (0.1, 0.8), "reference": (0.9, 0.05), "maps": (0.95, 0.05)}


def show_error(exc: BaseException) -> str:
    """Show an error as a plain sentence (never a traceback) and return the sentence.

    Problems the user can fix (:class:`~urbanseg_core.errors.UrbansegError`) are shown with
    the fix in page terms (:func:`~urbanseg_core.app.messages.describe`), file names as text;
    a loader's technical words go in an expander. Anything else is logged with its traceback
    on the server and shown as a short, honest sentence.
    """
    if isinstance(exc, UrbansegError):
        text = describe(exc)
    else:
        log.exception("Unexpected error in the app", exc_info=exc)
        text = ("Something unexpected went wrong (" + type(exc).__name__ + "). Your inputs are "
                "kept: try again, or try another file. If it happens again, please report it "
                "with the run manifest.")
    st.error(as_text(text))
    if isinstance(exc, ModelLoadError) and exc.detail:
        with st.expander("Technical detail"):
            st.text(exc.detail)
    return text


def progress_reporter(status) -> Callable[[str, float], None]:
    """A ``(stage, fraction)`` callback that updates an ``st.status`` box and a progress bar;
    for the ``"queue"`` stage the number is the runs ahead."""
    bar = status.progress(0.0, text="Starting...")
    shown: dict[str, Any] = {"stage": None}

    def update(stage: str, fraction: float) -> None:
        label = _STAGES.get(stage, stage)
        if shown["stage"] != stage:
            shown["stage"] = stage
            status.update(label=label + "...")
        if stage == "queue":
            ahead = int(fraction)
            bar.progress(0.0, text=f"{ahead} run{'s' if ahead != 1 else ''} ahead of you: "
                                   "yours starts when a place is free.")
            return
        start, width = _BAR.get(stage, (0.0, 1.0))
        value = min(1.0, start + width * max(0.0, min(1.0, fraction)))
        bar.progress(value, text=f"{label}: {int(round(100 * fraction))} %")

    return update


def render_map(fmap, key: str, height: int = 520,
               returned_objects: list[str] | None = None, groups=None,
               layer_control=None, center=None, zoom=None) -> dict | None:
    """Show a folium map with a stable key; only ``returned_objects`` trigger reruns.

    ``groups`` (folium FeatureGroups), ``layer_control``, ``center`` ``(lat, lon)`` and
    ``zoom`` are updated in place by streamlit-folium, without reloading the map (see
    :func:`urbanseg_core.app.map.build_dynamic_map`).
    """
    return st_folium(fmap, key=key, height=height, use_container_width=True,
                     returned_objects=returned_objects or [], feature_group_to_add=groups,
                     layer_control=layer_control, center=center, zoom=zoom)


def layer_legend(overlays: Sequence[Overlay],
                 on_top: Sequence[tuple[str, Sequence[LegendItem]]] = ()) -> None:
    """The legend of every layer a map offers, in the page beside it: each layer's name and
    its lines, the top layer first as in the map's own legend, the ones not shown at first
    marked as such.

    Args:
        overlays: the map's images (:class:`~.map.Overlay`), bottom to top.
        on_top: ``(name, lines)`` of the lines drawn over every image (the footprint).
    """
    blocks = "".join(legend_block(name, items) for name, items in on_top) + "".join(
        legend_block(o.name if o.shown else f"{o.name} (off at first: tick it on in the "
                     "layer switcher)", o.legend)
        for o in reversed(overlays) if o.legend)
    st.markdown(blocks, unsafe_allow_html=True)


def stats_frame(result) -> "pd.io.formats.style.Styler":
    """Class areas as a table: class, km², % of the valid area, pixels (numbers stay numbers,
    shown with thousands separators)."""
    rows = [{"Class": c.name, "Area (km²)": c.area_km2,
             "Share of the area with data (%)": 100 * c.share_of_valid, "Pixels": c.pixels}
            for c in result.stats.classes]
    return pd.DataFrame(rows).style.format({
        "Area (km²)": "{:,.3f}", "Share of the area with data (%)": "{:.2f}",
        "Pixels": "{:,}"})


def metrics_frame(metrics: dict) -> "pd.io.formats.style.Styler":
    """Per-class Dice, IoU, precision, recall and support; undefined scores are empty."""
    rows = []
    for name, s in metrics.get("per_class", {}).items():
        rows.append({"Class": name, "Dice": s.get("dice"), "IoU": s.get("iou"),
                     "Precision": s.get("precision"), "Recall": s.get("recall"),
                     "Reference pixels": s.get("support_px")})
    scores = ["Dice", "IoU", "Precision", "Recall"]
    frame = pd.DataFrame(rows)
    return frame.style.format({**{c: "{:.3f}" for c in scores if c in frame},
                               "Reference pixels": "{:,.0f}"}, na_rep="")


def confusion_spec(metrics: dict, class_names: list[str]) -> tuple[list[dict], dict]:
    """The confusion matrix as a Vega-Lite heatmap: ``(rows of data, spec)``; rows are the
    reference class, columns the prediction, each cell the share of the reference class's
    pixels (``None``, drawn empty, in the row of a class the reference does not have). Labels
    are horizontal and the axes titled in words."""
    data = []
    for i, row in enumerate(metrics["confusion_matrix"]):
        total = sum(row)
        for j, count in enumerate(row):  # no reference pixels: no share (an empty row)
            data.append({"Reference": class_names[i], "Prediction": class_names[j],
                         "Pixels": int(count),
                         "Share": round(100 * count / total, 1) if total else None})
    axis = {"labelAngle": 0, "labelLimit": 200, "labelFontSize": 13, "titleFontSize": 13}
    spec = {
        "height": 260,
        "encoding": {
            "x": {"field": "Prediction", "type": "nominal", "sort": class_names,
                  "axis": {**axis, "orient": "top"}, "title": "Predicted class"},
            "y": {"field": "Reference", "type": "nominal", "sort": class_names,
                  "axis": axis, "title": "Reference class"}},
        "layer": [
            {"mark": "rect", "encoding": {
                "color": {"field": "Share", "type": "quantitative",
                          "scale": {"scheme": "blues", "domain": [0, 100]},
                          "title": "% of the reference class",
                          # below the matrix, across: a legend beside it was cut at "0"
                          "legend": {"orient": "bottom", "direction": "horizontal",
                                     "gradientLength": 240, "titleLimit": 300}},
                "tooltip": [{"field": f} for f in ("Reference", "Prediction", "Pixels",
                                                   "Share")]}},
            {"mark": {"type": "text", "fontSize": 14},
             "transform": [{"filter": "datum.Share != null"}],  # an empty row, no "null"
             "encoding": {
                "text": {"field": "Share", "type": "quantitative", "format": ".1f"},
                "color": {"condition": {"test": "datum.Share > 50", "value": "white"},
                          "value": "black"}}},
        ],
    }
    return data, spec


def confusion_chart(metrics: dict, class_names: list[str]) -> None:
    """Draw :func:`confusion_spec` (Vega-Lite through Streamlit, no Altair import)."""
    data, spec = confusion_spec(metrics, class_names)
    st.vega_lite_chart(pd.DataFrame(data), spec, width="stretch")


def download_button(result, kind: str, label: str, key: str, **kwargs) -> None:
    """A download of a result (a run's or a change's), made when clicked (in the background,
    once per result and kind: :meth:`~urbanseg_core.runs.result.DeferredDownloads.download`)
    and without a rerun, so quick clicks never cancel each other and the file keeps its
    name."""
    st.download_button(label, data=functools.partial(result.download, kind),
                       file_name=result.file_name(kind), mime=result.mime(kind), key=key,
                       on_click="ignore", **kwargs)


#: Most download buttons side by side (more were cut: "Polygons (GeoJS...").
BUTTONS_PER_ROW = 3


def download_row(result, buttons) -> None:
    """Download buttons side by side, at most :data:`BUTTONS_PER_ROW` a row: ``buttons`` is
    ``((label, kind, key), ...)``; each file is made when its button is clicked
    (:func:`download_button`)."""
    for start in range(0, len(buttons), BUTTONS_PER_ROW):
        for column, (label, kind, key) in zip(st.columns(BUTTONS_PER_ROW),
                                              buttons[start:start + BUTTONS_PER_ROW]):
            with column:
                download_button(result, kind, label, key=key, width="stretch")


def flat_text(value: Any) -> str:
    """A card value as short readable text: lists joined, dicts as ``key: value`` pairs."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {flat_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(flat_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


#: Columns of the cross-city table: the key in a crossval row -> the column's title.
CROSS_CITY_COLUMNS = {"non-residential": "Dice non-residential", "residential": "Dice residential",
                      "macro_builtup": "Dice, built-up mean",
                      "binary_builtup": "Dice, built-up vs other"}


def cross_city_frame(metrics: dict) -> pd.DataFrame:
    """The card's leave-one-city-out scores (``metrics["cross_city"]``, written by
    ``urbanseg crossval`` and copied into the card at training) as one table: a row per
    left-out city and a mean row for each table; empty when the card has none."""
    rows = []
    for table in metrics.get("cross_city") or []:
        label = str(table.get("label") or table.get("file") or "")
        cities = dict(table.get("cities") or {})
        if table.get("mean"):
            cities["mean of the left-out cities"] = table["mean"]
        for city, scores in cities.items():
            row = {"Run": label, "Left-out city": city_name(city)}
            row.update({title: scores.get(key) for key, title in CROSS_CITY_COLUMNS.items()})
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame) and frame["Run"].nunique() == 1:
        frame = frame.drop(columns="Run")
    return frame


def cities_without_other(tables: list[dict]) -> list[str]:
    """The left-out cities (in words) whose labels have no "other" pixels: their "built-up
    vs other" Dice only says that their labelled land was called built-up."""
    names = []
    for table in tables:
        for city, scores in (table.get("cities") or {}).items():
            if "per_class" in scores:  # a crossval table: the reference's pixel counts
                absent = ((scores["per_class"].get("other") or {}).get("support_px") == 0)
            else:  # a model card's copy: a class the labels lack has no score
                absent = "other" in scores and scores["other"] is None
            if absent and city_name(city) not in names:
                names.append(city_name(city))
    return names


#: Words for the keys of a card's metrics (rows of the Model page's table).
EVALUATION_NAMES = {"islamabad_holdout_test": "Islamabad test block",
                    "islamabad_holdout_val": "Islamabad validation block",
                    "model": "this model", "all_other": "everything \"other\" (baseline)",
                    "ndvi_mndwi_threshold": "NDVI < 0.3 and MNDWI < 0 (baseline)"}


def card_metrics_frame(metrics: dict) -> pd.DataFrame:
    """The model card's scores as a table: one row per evaluation found in ``metrics``.

    Any nested dict holding ``dice_weighted`` is an evaluation; its path (e.g.
    ``islamabad_holdout_test / model``) names the row.
    """
    rows = []

    def walk(node: Any, path: list[str]) -> None:
        if not isinstance(node, dict):
            return
        if "dice_weighted" in node:
            row = {"Evaluation": " / ".join(EVALUATION_NAMES.get(p, p.replace("_", " "))
                                            for p in path) or "(card)",
                   "Dice, weighted": node.get("dice_weighted"),
                   "Dice, built-up mean": node.get("dice_macro_builtup"),
                   "Dice, built-up vs other": node.get("dice_binary_builtup")}
            for name, s in (node.get("per_class") or {}).items():
                if isinstance(s, dict):
                    row[f"Dice {name}"] = s.get("dice")
            rows.append(row)
            return
        for key, value in node.items():
            walk(value, path + [str(key)])

    walk(metrics, [])
    return pd.DataFrame(rows)
