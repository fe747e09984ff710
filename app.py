"""urbanseg dashboard: ``streamlit run app.py``.

The entry point only declares the pages and the sidebar; each page in ``pages/`` holds layout
and calls :mod:`urbanseg_core.app`. Nothing heavy is imported here: every page draws its title
at once, and the model loads in the background (:mod:`urbanseg_core.app.shell`).
"""

import streamlit as st

from urbanseg_core.app import shell, state

st.set_page_config(page_title="urbanseg: built-up areas from Sentinel-2",
                   page_icon=":material/location_city:", layout="wide")

pages = [
    st.Page("pages/1_Map_and_run.py", title="Map & run", icon=":material/map:", default=True),
    st.Page("pages/2_Results.py", title="Results", icon=":material/bar_chart:"),
    st.Page("pages/5_Compare_dates.py", title="Compare two dates",
            icon=":material/compare:"),
    st.Page("pages/3_Model.py", title="Model", icon=":material/neurology:"),
    st.Page("pages/4_About.py", title="About & help", icon=":material/help:"),
]
nav = st.navigation(pages)
state.init()
latest = shell.sidebar()
shell.warm_up()
nav.run()
shell.show_latest(latest)  # a result made by this run shows without another page switch
