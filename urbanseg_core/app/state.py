"""Session state: the keys pages share, so results and inputs survive reruns and page switches.

Everything a user chose or got lives under these keys in ``st.session_state``; widgets that
must keep their value across pages copy it here (Streamlit drops a widget's own key when its
page is not shown).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

#: The latest :class:`~urbanseg_core.runs.result.RunResult`.
RESULT = "urbanseg_result"
#: The :class:`~urbanseg_core.runs.request.RunRequest` of the latest result.
REQUEST = "urbanseg_request"
#: The last error shown after Run (a plain sentence), kept until the next run.
RUN_ERROR = "urbanseg_run_error"
#: Source choice: "sample" | "upload" | "earthengine".
SOURCE = "urbanseg_source"
#: The drawn or uploaded AOI as a GeoJSON geometry (EPSG:4326).
AOI = "urbanseg_aoi"
#: Path of a model chosen on the Model page (``None``: the default model).
MODEL_PATH = "urbanseg_model_path"
#: Opacity of class overlays (0-1).
OPACITY = "urbanseg_opacity"
#: Timing of the last run: {"run_clicked": t, "done": t} (perf_counter seconds).
TIMING = "urbanseg_timing"

_DEFAULTS: dict[str, Any] = {
    RESULT: None, REQUEST: None, RUN_ERROR: None, SOURCE: "sample", AOI: None, MODEL_PATH: None,
    OPACITY: 0.7, TIMING: None,
}


def init() -> None:
    """Put every shared key in the session with its default and restore the settings
    widgets dropped by a page switch (idempotent; every page calls it first)."""
    for key, value in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    persist_widgets()


def get(key: str) -> Any:
    """The value under ``key`` (its default when unset)."""
    return st.session_state.get(key, _DEFAULTS.get(key))


def put(key: str, value: Any) -> None:
    """Store ``value`` under ``key``."""
    st.session_state[key] = value


def keep(widget_key: str, store_key: str) -> None:
    """``on_change`` callback: copy a widget's value to a persistent key."""
    st.session_state[store_key] = st.session_state[widget_key]


#: Widget keys (or key prefixes) whose values must survive page switches. Streamlit drops a
#: widget's value when its page is not shown, so every run first copies the values of these
#: widgets to a plain session-state dict and restores the ones that were dropped. Buttons and
#: file uploaders cannot be assigned; their results are kept under the keys above instead.
PERSISTENT_WIDGETS: tuple[str, ...] = (
    "w_source", "w_offset", "w_ref_codes", "w_dates", "w_cloud", "w_opacity", "w_codes",
    "w_band_",
)
_MEMORY = "urbanseg_widget_memory"


def persist_widgets() -> None:
    """Keep the settings widgets' values across pages (call on every run, before pages)."""
    memory = st.session_state.setdefault(_MEMORY, {})
    present = {k for k in st.session_state.keys()
               if isinstance(k, str) and k.startswith(PERSISTENT_WIDGETS)}
    for key in present:
        memory[key] = st.session_state[key]
    for key, value in memory.items():
        if key not in present:
            st.session_state[key] = value
