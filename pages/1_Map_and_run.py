"""Map & run: choose the imagery, see it on the map, run the model."""

import streamlit as st

from urbanseg_core.app import state, views
from urbanseg_core.app.controller import prefetch_sample
from urbanseg_core.app.panels import PANELS

state.init()
st.title("Map & run")
st.caption("1 Choose the imagery · 2 check it on the map · 3 press **Run** · "
           "4 look at the result · 5 download it.")

source = views.source_choice()
# Everything that depends on the source sits in one container, so the map below keeps its
# place in the page whatever is shown here (a moved map would reload).
with st.container():
    panel = PANELS[source][1]()

loaded = views.model_or_notice()
left, right = st.columns([3, 1])
with right:
    result = views.run_column(panel, loaded)
current = views.is_current(result, panel.request, loaded)
with left:
    views.run_map(source, panel, result, current)
with right:
    if current:
        views.result_summary(result)

if source == "sample" and not current:
    prefetch_sample()  # the sample's answer is fixed: have it ready before Run is pressed
