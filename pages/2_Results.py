"""Results: map with layers, areas per class, agreement with a reference, downloads."""

import streamlit as st

from urbanseg_core.app import adapt, state, views
from urbanseg_core.app.widgets import legend, stats_frame

state.init()
st.title("Results")
result = state.get(state.RESULT)
if result is None:
    st.info("No result yet. Choose the imagery and press **Run** on the Map & run page.")
    st.page_link("pages/1_Map_and_run.py", label="Go to Map & run →")
    st.stop()

views.headline(result)

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
    views.results_map(result)

st.subheader("Prediction and reference side by side")
views.side_by_side(result)

st.subheader("Area per class")
st.dataframe(stats_frame(result), hide_index=True, width="stretch")
st.caption(f"Pixel areas: {result.stats.pixel_area_method}. Area without data: "
           f"{result.stats.nodata_km2:,.2f} km².")

if result.metrics:
    st.subheader("Agreement with the reference")
    views.agreement(result)
    adapt.improve_section(result)

st.subheader("Downloads")
views.downloads(result)
st.caption("The GeoJSON holds the non-residential and residential areas as polygons in "
           "longitude/latitude (EPSG:4326), simplified to about one pixel. The manifest records "
           "the inputs, model (name and sha256), parameters and package versions of this run.")
