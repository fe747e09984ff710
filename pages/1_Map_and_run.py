"""Map & run: choose the imagery, see it on the map, run the model."""

import streamlit as st

from urbanseg_core.app import shell

loading = shell.header("Map & run", "1 Choose the imagery · 2 check it on the map · 3 press "
                       "**Run** · 4 look at the result · 5 download it.")
# after the header, so the title shows before the map and model code loads
from urbanseg_core.app import views  # noqa: E402
from urbanseg_core.app.controller import prefetch_sample  # noqa: E402
from urbanseg_core.app.panels import PANELS  # noqa: E402

loading.empty()
views.flash_messages()
source = views.source_choice()
# Everything that depends on the source sits in one container, so the map below keeps its
# place in the page whatever is shown here (a moved map would reload).
with st.container():
    panel = PANELS[source][1]()

ref = views.model_ref_or_notice()
left, right = st.columns([3, 1])
with right:
    result = views.run_column(panel, ref)
current = views.is_current(result, panel.request, ref)
with left:
    views.run_map(source, panel, result, ref, current)
with right:
    if current:
        views.result_summary(result)
    st.page_link("pages/5_Compare_dates.py", label="Compare two dates of one area →")

if source == "sample" and not current and ref is not None:
    prefetch_sample(ref)  # the sample's answer is fixed: have it ready before Run is pressed
