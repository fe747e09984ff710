"""Compare two dates: what became built up, what was lost, what changed use."""

import streamlit as st

from urbanseg_core.app import shell

loading = shell.header("Compare two dates", "1 Give two images of one area, or two date "
                       "ranges · 2 press **Compare the two dates** · 3 see what changed, "
                       "from what to what · 4 download it.")
from urbanseg_core.app import compare, views  # noqa: E402

loading.empty()
views.flash_messages()
mode = compare.mode_choice()
with st.container():  # the inputs in one container, so the map below keeps its place
    panel = compare.INPUTS[mode]()
ref = views.model_ref_or_notice()
if panel.draw:
    compare.input_map(panel)
result = compare.run_section(panel, ref)
if result is None:
    st.stop()

st.subheader("Before and after")
compare.headline(result, panel.request, ref)
compare.maps(result)

st.subheader("What changed, from what to what")
compare.table(result)

st.subheader("Area of each class at both dates")
compare.class_chart(result)

st.subheader("Downloads")
compare.downloads(result)
