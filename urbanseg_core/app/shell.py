"""The first paint: each page's title at once, a loading note on a cold start, the sidebar, and
the background warm-up (the model).

Everything here is light (Streamlit and the state model only), so a page can draw its header
before it imports the modules that draw maps and run the model (folium, rasterio, PyTorch;
seconds on a cold start). The model itself loads in a background thread from the first page
view (:func:`warm_up`), so the page never waits for it: Run does, saying so.
"""

from __future__ import annotations

import logging
import sys
import threading

import streamlit as st

from ..lazy import lazy_import
from . import state
from .messages import as_text

log = logging.getLogger("urbanseg.app")

#: The module whose import is the slow part of a cold start.
_HEAVY = "urbanseg_core.app.views"
_STARTED: dict[str, bool] = {}
_LOCK = threading.Lock()


def header(title: str, caption: str | None = None, heavy: bool = True):
    """The page's title (and caption) at once; on a cold start, a loading note below them
    while the app's heavy modules are imported (``heavy``; the About page needs none).
    Counts a new page visit when the page changed (:func:`~.state.enter_page`: its widgets
    are then drawn afresh from the settings model).

    The heavy modules are imported here, through one module (:data:`_HEAVY`), for every page:
    the first thread imports them and the others wait for it. Two pages of a starting app
    importing them each their own way (the map page through Earth Engine's AOI, the compare
    page through change detection) imported shapely in two threads at once, which fails with
    "cannot import name ... from partially initialized module".

    Returns:
        The note's placeholder: call ``.empty()`` on it once the page is drawn.
    """
    state.enter_page(title)
    st.title(title)
    if caption:
        st.caption(caption)
    note = st.empty()
    if heavy:
        if _HEAVY not in sys.modules:
            note.info("Starting up: loading the map and the model (the first time only, "
                      "about 10 seconds)...", icon=":material/hourglass_top:")
        lazy_import(_HEAVY)
    return note


def _warm() -> None:
    """Start loading the default model (background thread)."""
    try:
        resources = lazy_import("urbanseg_core.app.resources")
        resources.start_loading(resources.model_ref())
    except Exception as exc:  # noqa: BLE001 - the page shows model errors itself
        log.warning("warm-up failed: %r", exc)


def warm_up() -> None:
    """Once per process: start loading the model in the background, so it is ready (or
    under way) when Run is pressed."""
    with _LOCK:
        if _STARTED.get("warm"):
            return
        _STARTED["warm"] = True
    threading.Thread(target=_warm, name="urbanseg-warm-up", daemon=True).start()


def sidebar():
    """What the app is, and a place for the latest result of this session.

    Returns:
        The latest result's placeholder: :func:`show_latest` fills it (call it again after
        the page ran, so a result made on this run shows at once).
    """
    with st.sidebar:
        st.markdown("**urbanseg** maps residential and non-residential built-up areas in "
                    "Sentinel-2 imagery.")
        slot = st.empty()
    show_latest(slot)
    return slot


def show_latest(slot) -> None:
    """The latest result's name (as text) and built-up share in the sidebar's placeholder."""
    result = state.get(state.RESULT)
    if result is not None:
        slot.caption(as_text(f"Latest result: {result.source.get('name')} — built-up "
                             f"{100 * result.stats.built_up_share:.1f} %"))
