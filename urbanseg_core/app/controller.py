"""What the Run button does: wait for the model, run with a status box, keep the result.

The result goes to ``st.session_state`` (see :mod:`.state`) so it survives reruns and page
switches; an error is shown as a plain sentence and kept until the next run, with every
input left as it was. The status says honestly where the result came from
(:func:`~.runner.status_label`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import streamlit as st

from ..runs.request import RunRequest
from ..util import sha256_file
from . import resources, state
from .runner import cached_compute, run, start_thread, status_label
from .widgets import progress_reporter, show_error

log = logging.getLogger("urbanseg.app")


def current_ref() -> resources.ModelRef:
    """The session's model as the page knows it (card and sha256; chosen on the Model page,
    else the default); its weights start loading in the background.

    Raises:
        ModelLoadError: the card cannot be read or the weights are missing (plain message).
    """
    ref = resources.model_ref(state.get(state.MODEL_PATH))
    resources.start_loading(ref)
    return ref


def _wait_for_model(ref: resources.ModelRef, report):
    """The loaded model; while it loads, the status box says so."""
    try:
        return resources.get_model(ref, timeout=0.05)
    except FutureTimeout:
        report("model", 0.0)
    while True:
        try:
            return resources.get_model(ref, timeout=0.25)
        except FutureTimeout:
            continue


@dataclass(frozen=True)
class SessionKeys:
    """Where a kind of run keeps its outcome in the session (:mod:`.state` keys).

    Attributes:
        result, request: the latest result and the request it answers.
        error: the last error shown after Run.
        timing: how the run went (``None``: not kept).
    """

    result: str
    request: str
    error: str
    timing: str | None = None


#: The Map & run page's run.
MAP_RUN = SessionKeys(state.RESULT, state.REQUEST, state.RUN_ERROR, state.TIMING)


def run_request(request, ref: resources.ModelRef, cached=None, keys: SessionKeys = MAP_RUN):
    """Run a request under an ``st.status`` box; store and return the result.

    Args:
        request: a :class:`~urbanseg_core.runs.request.RunRequest` (or, with ``cached``
            :func:`~.runner.cached_change`, a change request).
        ref: the session's model.
        cached: the cached computation (default: a segmentation run).
        keys: where the result, request and error are kept.

    Returns:
        The result, or ``None`` after showing the error.
    """
    state.put(keys.error, None)
    with st.status("Running...", expanded=True) as box:
        report = progress_reporter(box)
        try:
            loaded = _wait_for_model(ref, report)
            box.write(f"Model {loaded.card.name} on {resources.device_summary(loaded)}")
            sample = tv = None
            if request.kind == "sample":
                sample = resources.sample_scene()
                tv = resources.sample_view().true_colour
            result, info = run(request, loaded, report, sample, tv, cached)
        except Exception as exc:  # noqa: BLE001 - every error becomes a sentence
            box.update(label="The run did not finish", state="error", expanded=True)
            state.put(keys.error, show_error(exc))
            return None
        box.update(label=status_label(info), state="complete", expanded=False)
    state.put(keys.result, result)
    state.put(keys.request, request)
    if keys.timing:
        state.put(keys.timing, {"seconds": info.waited, "cached": not info.computed,
                                "origin": info.origin, "model_seconds": info.model_seconds})
    return result


@functools.lru_cache(maxsize=1)
def _sample_sha256() -> str:
    return sha256_file(resources.sample_path())


def sample_request() -> RunRequest:
    """The request for the bundled sample scene (the same in every session)."""
    return RunRequest(kind="sample", name="sample_t33uuu_2017-02-16",
                      path=str(resources.sample_path()), sha256=_sample_sha256())


def prefetch_sample(ref: resources.ModelRef) -> None:
    """Compute the sample's result in the background, once per process and model.

    The sample is a fixed input, so its answer can be ready before the user presses Run;
    pressing Run then shows it at once (or waits for the computation under way), and the
    status says it was prepared in the background. Set ``URBANSEG_PREFETCH=0`` to turn this
    off (e.g. to time cold runs).
    """
    if os.environ.get("URBANSEG_PREFETCH", "1") == "0":
        return
    _prefetch_once(ref.sha256, ref)


@st.cache_resource(show_spinner=False)
def _prefetch_once(model_sha256: str, _ref: resources.ModelRef) -> bool:
    request = sample_request()

    def work() -> None:
        start = time.perf_counter()
        try:
            loaded = resources.get_model(_ref)
            cached_compute(request.key(loaded.sha256), request, loaded,
                           lambda _s, _f: None, resources.sample_scene(),
                           resources.sample_view().true_colour, "prefetch")
            log.info("prefetch of the sample done in %.1f s", time.perf_counter() - start)
        except BaseException as exc:  # noqa: BLE001 - a real Run reports errors
            log.warning("prefetch of the sample failed: %r", exc)

    start_thread(work, "urbanseg-prefetch")
    return True


def measured_throughput() -> float | None:
    """Model throughput on this machine, pixels per second (this session's latest run, else
    any run of this process; ``None`` before any), for time estimates."""
    result = state.get(state.RESULT)
    if result is not None and result.seconds > 0:
        return result.classes.size / result.seconds
    return resources.throughput()
