"""Results: map with layers, areas per class, agreement with a reference, downloads."""

import streamlit as st

from urbanseg_core.app import shell

loading = shell.header("Results")
from urbanseg_core.app import adapt, state, views  # noqa: E402
from urbanseg_core.app.widgets import stats_frame  # noqa: E402

loading.empty()
views.flash_messages()
result = state.get(state.RESULT)
if result is None:
    st.info("No result yet. Choose the imagery and press **Run** on the Map & run page.")
    st.page_link("pages/1_Map_and_run.py", label="Go to Map & run →")
    st.stop()

views.headline(result)
col_map, col_side = st.columns([3, 1])
with col_side:
    state.bind(st.slider, "opacity", "Overlay opacity", min_value=0.0, max_value=1.0,
               step=0.05)
    views.results_legend(result)
with col_map:
    views.results_map(result)

st.subheader("Prediction and reference side by side" if result.reference is not None
             else "True colour and prediction side by side")
views.side_by_side(result)

st.subheader("Area per class")
st.dataframe(stats_frame(result), hide_index=True, width="stretch")
views.area_caption(result)

if result.metrics:
    st.subheader("Agreement with the reference")
    views.agreement(result)
    adapt.improve_section(result)

st.subheader("Downloads")
views.downloads(result)
st.caption("The GeoJSON holds the non-residential and residential areas as polygons in "
           "longitude/latitude (EPSG:4326), simplified to about one pixel. The manifest records "
           "the inputs, the model, the parameters and the package versions of this run, so it "
           "can be made again.")
