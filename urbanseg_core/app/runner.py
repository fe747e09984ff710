"""The run controller: a request -> its (cached) result, with progress from the script thread.

A run is described by a :class:`~urbanseg_core.runs.request.RunRequest`. Its
:meth:`~urbanseg_core.runs.request.RunRequest.key` hashes what determines the answer (source
content sha256, band order, DN offset, reference, AOI, dates, model sha256), and
:func:`urbanseg_core.runs.compute.compute` is cached with ``st.cache_data`` under that key:
the same inputs re-run instantly, in any session. Concurrent sessions asking for the same key
wait for one computation (Streamlit's per-key compute lock).

The cached computation runs in a worker thread while the script thread shows its progress
(stage and fraction from a queue), so a cached function never writes to the page itself
(which ``st.cache_data`` could not replay).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from ..io.display import ImageLayer
from ..io.scene import Scene
from ..model.loading import LoadedModel
from ..runs.compute import StageProgress, compute
from ..runs.request import RunRequest
from ..runs.result import RunResult
from .earthengine import EARTH_ENGINE


@st.cache_data(max_entries=16, show_spinner=False)
def cached_compute(key: str, _request: RunRequest, _loaded: LoadedModel,  # noqa: ARG001
                   _progress: StageProgress, _sample: Scene | None,
                   _true_colour: ImageLayer | None) -> RunResult:
    """:func:`~urbanseg_core.runs.compute.compute` cached per request key (Earth Engine
    requests are fetched with :data:`~urbanseg_core.app.earthengine.EARTH_ENGINE`)."""
    return compute(_request, _loaded, _progress, _sample, _true_colour, remote=EARTH_ENGINE)


def start_thread(target, name: str) -> threading.Thread:
    """A daemon thread that may use the session's Streamlit context, started."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()
    return thread


def run(request: RunRequest, loaded: LoadedModel, on_progress: StageProgress,
        sample: Scene | None = None, true_colour: ImageLayer | None = None
        ) -> tuple[RunResult, bool]:
    """Run (or fetch from the cache) a request, reporting progress from the script thread.

    Args:
        request: the inputs.
        loaded: the model.
        on_progress: called in the script thread as ``on_progress(stage, fraction)``.
        sample, true_colour: the shared sample scene and its layer (for the sample).

    Returns:
        ``(result, from_cache)``.

    Raises:
        UrbansegError: from the computation (plain-language message).
    """
    key = request.key(loaded.sha256)
    updates: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}
    started = time.perf_counter()

    def work() -> None:
        try:
            box["result"] = cached_compute(key, request, loaded,
                                           lambda s, f: updates.put((s, f)), sample,
                                           true_colour)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the script thread
            box["error"] = exc

    worker = start_thread(work, "urbanseg-run")
    seen = False
    while worker.is_alive() or not updates.empty():
        try:
            stage, fraction = updates.get(timeout=0.05)
        except queue.Empty:
            continue
        seen = True
        on_progress(stage, fraction)
    worker.join()
    if "error" in box:
        raise box["error"]
    from_cache = not seen and time.perf_counter() - started < 1.0
    return box["result"], from_cache
