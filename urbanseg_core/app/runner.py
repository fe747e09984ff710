"""The run controller: a request -> its (cached) result, one process-wide queue, honest status.

A run is described by a :class:`~urbanseg_core.runs.request.RunRequest`. Its
:meth:`~urbanseg_core.runs.request.RunRequest.key` hashes what determines the answer (source
content sha256, band order, DN offset, reference and its value table, AOI, dates, model
sha256), and :func:`urbanseg_core.runs.compute.compute` is cached with ``st.cache_resource``
under that key (the result is shared, not copied: a 10,000 x 10,000 px class map is 100 MB):
the same inputs re-run instantly, in any session. Concurrent sessions asking for the same key
wait for one computation (Streamlit's per-key compute lock).

Every computation first takes a place in :data:`RUN_QUEUE` (:mod:`urbanseg_core.runs.load`):
at most a few runs at once across sessions, admitted by the memory their input needs, so ten
people pressing Run together wait their turn ("2 runs ahead of you") instead of exhausting
the server. It runs in a worker thread while the script thread shows its progress (stage and
fraction from a queue), so a cached function never writes to the page itself. Where a result
came from (this Run, an earlier run, the sample prepared in the background, another session
running the same inputs) is recorded in :data:`ORIGINS`, so the status says what happened.

The heavy modules (PyTorch through the model, the run chain) are imported on first use
(:func:`~urbanseg_core.lazy.lazy_import`), so pages draw before they load.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from ..lazy import lazy_import
from ..runs.load import Budget, RunQueue
from ..runs.request import RunRequest
from . import resources
from .earthengine import EARTH_ENGINE

log = logging.getLogger("urbanseg.app")

#: The one admission queue of this process (every session's runs go through it).
RUN_QUEUE = RunQueue(Budget.for_machine())
#: Run key -> how its result was made: {"origin": "run" | "prefetch", "model_seconds"}.
ORIGINS: dict[str, dict[str, Any]] = {}
_ORIGINS_LOCK = threading.Lock()


def _compute_module():
    """:mod:`urbanseg_core.runs.compute` (PyTorch), imported on first use."""
    return lazy_import("urbanseg_core.runs.compute")


def _change_module():
    """:mod:`urbanseg_core.runs.change_compute` (the model code), imported on first use."""
    return lazy_import("urbanseg_core.runs.change_compute")


def _admitted(key: str, need: int, progress: Callable, origin: str, ticket: dict | None,
              work: Callable[[], Any]):
    """Run ``work()`` once :data:`RUN_QUEUE` admits a run needing ``need`` bytes (progress
    stage ``"queue"`` with the runs ahead meanwhile) and record where its result came from."""
    with RUN_QUEUE.slot(need, on_wait=lambda ahead: progress("queue", ahead)):
        if ticket is not None:
            ticket["computed"] = True
        result = work()
    with _ORIGINS_LOCK:
        ORIGINS[key] = {"origin": origin, "model_seconds": result.seconds}
    return result


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_compute(key: str, _request: RunRequest, _loaded, _progress: Callable,
                   _sample=None, _true_colour=None, _origin: str = "run",
                   _ticket: dict | None = None):
    """:func:`~urbanseg_core.runs.compute.compute` cached per request key, admitted through
    :data:`RUN_QUEUE` (progress stage ``"queue"`` with the runs ahead); Earth Engine requests
    are fetched with :data:`~urbanseg_core.app.earthengine.EARTH_ENGINE`."""
    compute = _compute_module()
    need = compute.memory_need(_request, _loaded, EARTH_ENGINE)
    result = _admitted(key, need, _progress, _origin, _ticket, lambda: compute.compute(
        _request, _loaded, _progress, _sample, _true_colour, remote=EARTH_ENGINE))
    resources.record_throughput(result.classes.size, result.seconds)
    return result


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_change(key: str, _request, _loaded, _progress: Callable, _sample=None,
                  _true_colour=None, _origin: str = "run", _ticket: dict | None = None):
    """:func:`~urbanseg_core.runs.change_compute.compute_change` of a
    :class:`~urbanseg_core.runs.change_request.ChangeRequest`, cached per key and admitted
    through :data:`RUN_QUEUE` like :func:`cached_compute` (same arguments; no sample)."""
    module = _change_module()
    need = module.change_memory_need(_request, EARTH_ENGINE)
    return _admitted(key, need, _progress, _origin, _ticket, lambda: module.compute_change(
        _request, _loaded, _progress, remote=EARTH_ENGINE))


def start_thread(target, name: str) -> threading.Thread:
    """A daemon thread that may use the session's Streamlit context, started."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()
    return thread


@dataclass(frozen=True)
class RunInfo:
    """How a Run's result came to be (for an honest status line).

    Attributes:
        computed: this Run computed it.
        origin: ``"run"`` (a Run in some session) or ``"prefetch"`` (the sample, prepared in
            the background when the app opened).
        waited: seconds from the click to the result.
        model_seconds: the model's time when the result was made.
    """

    computed: bool
    origin: str
    waited: float
    model_seconds: float


def run(request, loaded, on_progress: Callable[[str, float], None],
        sample=None, true_colour=None, cached: Callable | None = None) -> tuple[Any, RunInfo]:
    """Run (or fetch from the cache) a request, reporting progress from the script thread.

    Args:
        request: the inputs (a :class:`~urbanseg_core.runs.request.RunRequest`, or a
            :class:`~urbanseg_core.runs.change_request.ChangeRequest` with ``cached``).
        loaded: the model (:class:`~urbanseg_core.model.loading.LoadedModel`).
        on_progress: called in the script thread as ``on_progress(stage, fraction)``;
            stage ``"queue"`` gives the number of runs ahead instead of a fraction.
        sample, true_colour: the shared sample scene and its layer (for the sample).
        cached: the cached computation (default :func:`cached_compute`; :func:`cached_change`
            for a change request).

    Returns:
        ``(result, info)``.

    Raises:
        UrbansegError: from the computation (plain-language message).
    """
    key = request.key(loaded.sha256)
    cached = cached or cached_compute
    updates: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}
    ticket: dict[str, bool] = {}
    started = time.perf_counter()

    def work() -> None:
        try:
            box["result"] = cached(key, request, loaded, lambda s, f: updates.put((s, f)),
                                   sample, true_colour, "run", ticket)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the script thread
            box["error"] = exc

    worker = start_thread(work, "urbanseg-run")
    while worker.is_alive() or not updates.empty():
        try:
            stage, fraction = updates.get(timeout=0.05)
        except queue.Empty:
            continue
        on_progress(stage, fraction)
    worker.join()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    made = ORIGINS.get(key, {"origin": "run", "model_seconds": result.seconds})
    return result, RunInfo(bool(ticket.get("computed")), made["origin"],
                           time.perf_counter() - started, made["model_seconds"])


def status_label(info: RunInfo) -> str:
    """The status box's last line: what happened, in plain words, with the model's time."""
    # an answer that was ready: "Done", not "Done in 0.0 s" (which reads as if nothing ran)
    took = "Done" if info.waited < 0.05 else f"Done in {info.waited:.1f} s"
    if info.computed:
        return f"{took} (model {info.model_seconds:.1f} s)."
    if info.origin == "prefetch":
        when = "when you pressed Run" if info.waited > 1.0 else "while the page opened"
        return (f"{took}: the sample was segmented in the background {when} "
                f"(model {info.model_seconds:.1f} s).")
    if info.waited > 1.0:
        return (f"{took}: another session was running the same inputs; its result is shown "
                f"(model {info.model_seconds:.1f} s).")
    return (f"{took}: these inputs were run before (model {info.model_seconds:.1f} s); the "
            "result is reused.")
