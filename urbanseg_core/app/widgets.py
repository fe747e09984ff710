"""Small pieces of UI shared by the pages: errors, the map, progress, tables, downloads."""

from __future__ import annotations

import logging
from typing import Any, Callable

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from ..errors import UrbansegError
from ..runs.result import RunResult
from .map import legend_html
from .messages import describe

log = logging.getLogger("urbanseg.app")

_STAGES = {
    "read": "Reading the imagery",
    "predict": "Running the model on the tiles",
    "reference": "Reading the reference mask",
    "maps": "Drawing the map layers",
}


def show_error(exc: BaseException) -> str:
    """Show an error as a plain sentence (never a traceback) and return the sentence.

    Problems the user can fix (:class:`~urbanseg_core.errors.UrbansegError`) are shown with
    the fix in page terms (:func:`~urbanseg_core.app.messages.describe`); anything else is
    logged with its traceback on the server and shown as a short, honest sentence.
    """
    if isinstance(exc, UrbansegError):
        text = describe(exc)
    else:
        log.exception("Unexpected error in the app", exc_info=exc)
        text = ("Something unexpected went wrong (" + type(exc).__name__ + "). Your inputs are "
                "kept: try again, or try another file. If it happens again, please report it "
                "with the run manifest.")
    st.error(text)
    return text


def progress_reporter(status) -> Callable[[str, float], None]:
    """A ``(stage, fraction)`` callback that updates an ``st.status`` box and a progress bar."""
    bar = status.progress(0.0, text="Starting...")
    shown: dict[str, Any] = {"stage": None}

    def update(stage: str, fraction: float) -> None:
        label = _STAGES.get(stage, stage)
        if shown["stage"] != stage:
            shown["stage"] = stage
            status.update(label=label + "...")
        # predict takes most of the time: give it 10-90 % of the bar
        base = {"read": (0.0, 0.1), "predict": (0.1, 0.8), "reference": (0.9, 0.05),
                "maps": (0.95, 0.05)}.get(stage, (0.0, 1.0))
        value = min(1.0, base[0] + base[1] * max(0.0, min(1.0, fraction)))
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


def legend(class_names: list[str], colours: list[str], skip_first: bool = True) -> None:
    """A legend in the page (coloured squares and class names)."""
    st.markdown(legend_html(class_names, colours, "Legend", skip_first), unsafe_allow_html=True)


def stats_frame(result: RunResult) -> pd.DataFrame:
    """Class areas as a table: class, km², % of the valid area, pixels."""
    rows = [{"Class": c.name, "Area (km²)": round(c.area_km2, 3),
             "Share of valid area (%)": round(100 * c.share_of_valid, 2), "Pixels": c.pixels}
            for c in result.stats.classes]
    return pd.DataFrame(rows)


def metrics_frame(metrics: dict) -> pd.DataFrame:
    """Per-class Dice, IoU, precision, recall and support."""
    rows = []
    for name, s in metrics.get("per_class", {}).items():
        rows.append({"Class": name, "Dice": s.get("dice"), "IoU": s.get("iou"),
                     "Precision": s.get("precision"), "Recall": s.get("recall"),
                     "Reference pixels": s.get("support_px")})
    return pd.DataFrame(rows)


def confusion_chart(metrics: dict, class_names: list[str]):
    """An Altair heatmap of the confusion matrix (rows = reference, columns = prediction)."""
    cm = metrics["confusion_matrix"]
    rows = []
    for i, row in enumerate(cm):
        total = sum(row) or 1
        for j, count in enumerate(row):
            rows.append({"Reference": class_names[i], "Prediction": class_names[j],
                         "Pixels": int(count), "Share of reference class (%)":
                         round(100 * count / total, 1)})
    df = pd.DataFrame(rows)
    base = alt.Chart(df).encode(
        x=alt.X("Prediction:N", sort=class_names), y=alt.Y("Reference:N", sort=class_names))
    heat = base.mark_rect().encode(
        color=alt.Color("Share of reference class (%):Q", scale=alt.Scale(scheme="blues",
                                                                          domain=[0, 100])),
        tooltip=["Reference", "Prediction", "Pixels", "Share of reference class (%)"])
    text = base.mark_text(fontSize=13).encode(text=alt.Text("Share of reference class (%):Q"))
    return (heat + text).properties(height=260)


#: The Results page's downloads: (label, kind for :func:`download_bytes`, file-name suffix,
#: MIME type, widget key). ``{codes}`` is the mask's code convention (index or esm).
DOWNLOADS = (
    ("Mask (GeoTIFF)", "tif-{codes}", "_mask_{codes}.tif", "image/tiff", "w_dl_tif"),
    ("Polygons (GeoJSON)", "geojson", "_builtup.geojson", "application/geo+json",
     "w_dl_geojson"),
    ("Overlay (PNG)", "png", "_overlay.png", "image/png", "w_dl_png"),
    ("Statistics (CSV)", "csv", "_statistics.csv", "text/csv", "w_dl_csv"),
    ("Run manifest (JSON)", "manifest", "_manifest.json", "application/json", "w_dl_manifest"),
)


#: Download kind -> how its bytes are made from a result.
DOWNLOAD_BYTES: dict[str, Callable[[RunResult], bytes]] = {
    "tif-index": lambda r: r.geotiff("index"),
    "tif-esm": lambda r: r.geotiff("esm"),
    "geojson": RunResult.geojson,
    "png": RunResult.overlay_png,
    "csv": RunResult.csv,
    "manifest": RunResult.manifest_json,
}


@st.cache_data(max_entries=32, show_spinner="Preparing the download...")
def download_bytes(run_id: str, kind: str, _result: RunResult) -> bytes:  # noqa: ARG001
    """The bytes of one download of a result (cached per run and kind).

    ``kind``: ``"tif-index"``, ``"tif-esm"``, ``"geojson"``, ``"png"``, ``"csv"``,
    ``"manifest"``.
    """
    return DOWNLOAD_BYTES[kind](_result)


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
            row = {"Evaluation": " / ".join(path) or "(card)",
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
