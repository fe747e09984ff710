"""What the Run button does: load the model, run with a status box, keep the result.

The result goes to ``st.session_state`` (see :mod:`.state`) so it survives reruns and page
switches; an error is shown as a plain sentence and kept until the next run, with every
input left as it was.
"""

from __future__ import annotations

import functools
import logging
import os
import time

import streamlit as st

from ..model.loading import LoadedModel
from ..runs.request import RunRequest
from ..runs.result import RunResult
from ..util import sha256_file
from . import resources, state
from .runner import cached_compute, run, start_thread
from .widgets import progress_reporter, show_error

log = logging.getLogger("urbanseg.app")


def current_model() -> LoadedModel:
    """The session's model (chosen on the Model page, else the default), loaded once.

    Raises:
        ModelLoadError: the model cannot be loaded (plain message).
    """
    return resources.get_model(state.get(state.MODEL_PATH))


def run_request(request: RunRequest) -> RunResult | None:
    """Run a request under an ``st.status`` box; store and return the result.

    Returns:
        The result, or ``None`` after showing the error.
    """
    clicked = time.perf_counter()
    state.put(state.RUN_ERROR, None)
    with st.status("Running...", expanded=True) as box:
        try:
            loaded = current_model()
            box.write(f"Model: **{loaded.card.name}** on {resources.device_summary(loaded)}")
            sample = tv = None
            if request.kind == "sample":
                sample = resources.sample_scene()
                tv = resources.sample_view().true_colour
            result, cached = run(request, loaded, progress_reporter(box), sample, tv)
        except Exception as exc:  # noqa: BLE001 - every error becomes a sentence
            box.update(label="The run did not finish", state="error", expanded=True)
            state.put(state.RUN_ERROR, show_error(exc))
            return None
        took = time.perf_counter() - clicked
        label = f"Done in {took:.1f} s"
        if cached:
            label += " (same inputs as an earlier run: result reused)"
        box.update(label=label, state="complete", expanded=False)
    state.put(state.RESULT, result)
    state.put(state.REQUEST, request)
    state.put(state.TIMING, {"seconds": took, "cached": cached})
    return result


@functools.lru_cache(maxsize=1)
def _sample_sha256() -> str:
    return sha256_file(resources.sample_path())


def sample_request() -> RunRequest:
    """The request for the bundled sample scene (the same in every session)."""
    return RunRequest(kind="sample", name="sample_t33uuu_2017-02-16",
                      path=str(resources.sample_path()), sha256=_sample_sha256())


def prefetch_sample() -> None:
    """Start computing the sample's result in the background, once per process and model.

    The sample is a fixed input, so its answer can be ready before the user presses Run;
    pressing Run then shows it at once (or waits for the computation already under way).
    Set ``URBANSEG_PREFETCH=0`` to turn this off (e.g. to time cold runs).
    """
    if os.environ.get("URBANSEG_PREFETCH", "1") == "0":
        return
    try:
        loaded = current_model()
    except Exception:  # noqa: BLE001 - the page shows model errors itself
        return
    _prefetch_once(loaded.sha256, loaded)


@st.cache_resource(show_spinner=False)
def _prefetch_once(model_sha256: str, _loaded: LoadedModel) -> bool:  # noqa: ARG001 - key
    request = sample_request()
    sample = resources.sample_scene()
    tv = resources.sample_view().true_colour

    def work() -> None:
        start = time.perf_counter()
        try:
            cached_compute(request.key(_loaded.sha256), request, _loaded,
                           lambda _s, _f: None, sample, tv)
            log.info("prefetch of the sample done in %.1f s", time.perf_counter() - start)
        except BaseException as exc:  # noqa: BLE001 - a real Run reports errors
            log.warning("prefetch of the sample failed: %r", exc)

    start_thread(work, "urbanseg-prefetch")
    return True


def measured_throughput() -> float | None:
    """Model throughput of the latest run in this session, pixels per second (``None``
    before any run); used for time estimates."""
    result = state.get(state.RESULT)
    if result is None or result.seconds <= 0:
        return None
    return result.classes.size / result.seconds
