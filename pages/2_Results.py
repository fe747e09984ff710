"""Results: map with layers, areas per class, agreement with a reference, downloads."""

import math

import streamlit as st

from urbanseg_core.io import display as mapview
from urbanseg_core.app import state
from urbanseg_core.app.widgets import (
    DOWNLOADS, confusion_chart, download_bytes, legend, metrics_frame, render_map, stats_frame,
)
from urbanseg_core.io.outputs import overlay_rgba, png_bytes

state.init()
st.title("Results")
result = state.get(state.RESULT)
if result is None:
    st.info("No result yet. Choose the imagery and press **Run** on the Map & run page.")
    st.page_link("pages/1_Map_and_run.py", label="Go to Map & run →")
    st.stop()

st.caption(f"Source: **{result.source.get('name')}** · model **{result.model['name']}** "
           f"(sha256 {result.model['sha256'][:12]}…) · {result.classes.shape[1]} × "
           f"{result.classes.shape[0]} px · model time {result.seconds:.1f} s")
for note in result.notes:
    st.caption(note)

m1, m2, m3 = st.columns(3)
m1.metric("Built-up share", f"{100 * result.stats.built_up_share:.1f} %" if not math.isnan(
    result.stats.built_up_share) else "–",
    help="(non-residential + residential) / area with data")
m2.metric("Area with data", f"{result.stats.valid_km2:,.2f} km²")
if result.metrics:
    dw = result.metrics.get("dice_weighted")
    m3.metric("Dice (weighted) vs reference", f"{dw:.3f}" if dw is not None else "–",
              help="Sørensen-Dice per class, weighted by reference pixels (as the original "
                   "project reported). 1 = identical.")

# ---------------------------------------------------------------- map
if "w_opacity" not in st.session_state:
    st.session_state["w_opacity"] = state.get(state.OPACITY)
col_map, col_side = st.columns([3, 1])
with col_side:
    st.slider("Overlay opacity", 0.0, 1.0, step=0.05, key="w_opacity",
              on_change=state.keep, args=("w_opacity", state.OPACITY))
    legend(result.class_names, result.colours)
    st.caption("Use the layer switcher (top right of the map) to show or hide the true-colour "
               "image, the prediction and the reference.")
with col_map:
    if result.prediction_layer is None:
        st.warning("The input has no CRS, so it cannot be placed on a map; the class maps are "
                   "shown below.")
    else:
        overlays = []
        if result.reference_layer is not None:  # under the prediction; untick to compare
            overlays.append(("Reference", result.reference_layer, True))
        overlays.append(("Prediction", result.prediction_layer, True))
        # overlays are feature groups updated in place: a new opacity keeps zoom and position
        fmap, groups, control = mapview.build_dynamic_map(
            true_colour=result.true_colour, outline=result.outline, overlays=overlays,
            opacity=state.get(state.OPACITY),
            legend=mapview.legend_html(result.class_names, result.colours), height=460)
        render_map(fmap, key="map_results", height=460, groups=groups, layer_control=control)

# ---------------------------------------------------------------- side by side
st.subheader("Prediction and reference side by side")
left, right = st.columns(2)
with left:
    st.image(png_bytes(overlay_rgba(result.classes, result.colours, 1.0, show_other=True)),
             caption="Prediction", width="stretch")
with right:
    if result.reference is not None:
        st.image(png_bytes(overlay_rgba(result.reference, result.colours, 1.0,
                                        show_other=True)),
                 caption=f"Reference ({result.reference_codes})", width="stretch")
    else:
        st.info("No reference for this run. Upload a reference mask with your GeoTIFF on the "
                "Map & run page to compare (ESM, GHSL, CORINE or 0/1/2 codes).")

# ---------------------------------------------------------------- tables
st.subheader("Area per class")
st.dataframe(stats_frame(result), hide_index=True, width="stretch")
st.caption(f"Pixel areas: {result.stats.pixel_area_method}. Area without data: "
           f"{result.stats.nodata_km2:,.2f} km².")

if result.metrics:
    st.subheader("Agreement with the reference")
    mt = result.metrics
    a, b, c = st.columns(3)

    def fmt(v):
        return "–" if v is None else f"{v:.3f}"

    a.metric("Dice, weighted", fmt(mt.get("dice_weighted")))
    b.metric("Dice, built-up classes (mean)", fmt(mt.get("dice_macro_builtup")))
    c.metric("Dice, built-up vs other", fmt(mt.get("dice_binary_builtup")))
    st.dataframe(metrics_frame(mt), hide_index=True, width="stretch")
    st.caption("Empty cells are undefined (the class is absent from both maps). Built-up "
               f"share: predicted {fmt(mt.get('built_up_share_pred'))}, reference "
               f"{fmt(mt.get('built_up_share_ref'))}.")
    st.altair_chart(confusion_chart(mt, result.class_names), width="stretch")
    st.caption("Confusion matrix: rows are the reference class, columns the predicted class; "
               "each cell is the share of the reference class's pixels.")

# ---------------------------------------------------------------- downloads
st.subheader("Downloads")
codes = st.radio("Codes in the mask GeoTIFF", ["index", "esm"], horizontal=True,
                 key="w_codes", format_func={
                     "index": "0 other, 1 non-residential, 2 residential (255 no data)",
                     "esm": "ESM: 1 other, 250 non-residential, 255 residential (0 no data)"}.get)
for col, (label, kind, suffix, mime, key) in zip(st.columns(len(DOWNLOADS)), DOWNLOADS):
    col.download_button(label, download_bytes(result.run_id, kind.format(codes=codes), result),
                        file_name=result.stem + suffix.format(codes=codes), mime=mime,
                        key=key, width="stretch")
st.caption("The GeoJSON holds the non-residential and residential areas as polygons in "
           "longitude/latitude (EPSG:4326), simplified to about one pixel. The manifest records "
           "the inputs, model (name and sha256), parameters and package versions of this run.")
