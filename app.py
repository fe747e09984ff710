"""urbanseg dashboard: ``streamlit run app.py``.

The entry point only declares the pages and the sidebar; each page in ``pages/`` holds layout
and calls :mod:`urbanseg_core.app`.
"""

import streamlit as st

from urbanseg_core.app import state

st.set_page_config(page_title="urbanseg: built-up areas from Sentinel-2",
                   page_icon=":material/location_city:", layout="wide")
state.init()  # shared session keys; settings survive page switches

pages = [
    st.Page("pages/1_Map_and_run.py", title="Map & run", icon=":material/map:", default=True),
    st.Page("pages/2_Results.py", title="Results", icon=":material/bar_chart:"),
    st.Page("pages/3_Model.py", title="Model", icon=":material/neurology:"),
    st.Page("pages/4_About.py", title="About & help", icon=":material/help:"),
]
nav = st.navigation(pages)

with st.sidebar:
    st.markdown("**urbanseg** maps residential and non-residential built-up areas in "
                "Sentinel-2 imagery.")
    result = state.get(state.RESULT)
    if result is not None:
        st.caption(f"Latest result: {result.source.get('name')} — built-up "
                   f"{100 * result.stats.built_up_share:.1f} %")

nav.run()
