"""What the Run button does: load the model, run with a status box, keep the result.

The result goes to ``st.session_state`` (see :mod:`.state`) so it survives reruns and page
switches; an error is shown as a plain sentence and kept until the next run, with every
input left as it was.
"""

from __future__ import annotations

import time

import streamlit as st

from . import resources, state
from .result import RunResult
from .runner import RunRequest, run
from .widgets import progress_reporter, show_error


def current_model():
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
        how = "reused from an identical earlier run" if cached else (
            f"model time {result.seconds:.1f} s")
        box.update(label=f"Done in {took:.1f} s ({how})", state="complete", expanded=False)
    state.put(state.RESULT, result)
    state.put(state.TIMING, {"seconds": took, "cached": cached})
    return result
