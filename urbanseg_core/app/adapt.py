"""Improving the model for an area (Results page) and the session's models (Model page).

With a reference beside a result (uploaded, or GHSL from Earth Engine), the Results page
offers "Improve the model for this area": the session's model is fine-tuned on the result's
image and reference (:mod:`urbanseg_core.training.adapt`) in a background thread, within a
time limit the user sees beforehand, with a progress bar and a Stop button. The outcome is
the macro built-up Dice of the parent and of the adapted model on the block held back from
training; an adapted model that is no better is not kept, and says so. A better one is saved
for the session (card and weights in a temporary folder) and listed on the Model page, where
"Use this model" makes new runs use it (their manifest then names it and its parent).

The job lives in ``st.session_state`` (:data:`JOB`); its thread calls no Streamlit function.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import streamlit as st

from ..errors import UrbansegError
from ..io.scene import Scene
from ..lazy import lazy_import
from ..runs.compute import read_request_scene
from ..runs.request import RunRequest
from ..runs.result import RunResult
from ..util import safe_name
from . import earthengine, resources, state
from .controller import current_ref
from .messages import as_text, describe
from .widgets import show_error

if TYPE_CHECKING:  # the adaptation modules import PyTorch: loaded when a job starts
    from ..model.loading import LoadedModel
    from ..training.adapt.loop import AdaptResult

#: The adaptation package (imports PyTorch), imported when it is used.
ADAPT_PACKAGE = "urbanseg_core.training.adapt"

#: The session's adaptation job (:class:`AdaptJob`), or absent.
JOB = "urbanseg_adapt_job"
#: The session's adapted models: a list of :class:`SessionModel`.
MODELS = "urbanseg_session_models"
#: Where adapted models are saved, one folder per session.
MODEL_DIR = Path(tempfile.gettempdir()) / "urbanseg_models"
#: The time limits offered, minutes.
MINUTES = (2, 5, 10)


@dataclass
class AdaptJob:
    """One adaptation running (or finished) in a background thread.

    Attributes:
        run_id: the result it adapts on.
        minutes: its time limit.
        cancel: set to stop it between two training steps.
        fraction, message: progress, written by the thread.
        result: the adaptation's outcome; error: what stopped it.
        model: the saved model when the adapted one was better.
    """

    run_id: str
    minutes: float
    cancel: threading.Event = field(default_factory=threading.Event)
    fraction: float = 0.0
    message: str = "Reading the image..."
    started: float = field(default_factory=time.perf_counter)
    result: AdaptResult | None = None
    error: BaseException | None = None
    model: "SessionModel | None" = None
    done: bool = False


@dataclass(frozen=True)
class SessionModel:
    """An adapted model of this session, saved for it (card and weights)."""

    name: str
    path: str
    parent: str
    source: str
    before: float
    after: float
    minutes: float


def scene_loader(request: RunRequest) -> Callable[[], Scene]:
    """A function that reads a run's image again, as the run read it
    (:data:`urbanseg_core.runs.compute.READERS`: the sample, the uploaded file, or the Earth
    Engine composite), so it lies on the grid of the run's reference."""
    sample = resources.sample_scene() if request.kind == "sample" else None
    return lambda: read_request_scene(request, sample, earthengine.EARTH_ENGINE)


def request_of(result: RunResult) -> RunRequest | None:
    """The request the session ran for ``result``, or ``None`` when it is not known."""
    request = state.get(state.REQUEST)
    if request is None or request.key(result.model["sha256"]) != result.run_id:
        return None
    return request


def _session_folder() -> Path:
    key = "urbanseg_session_folder"
    if key not in st.session_state:
        st.session_state[key] = str(MODEL_DIR / uuid.uuid4().hex[:16])
    return Path(st.session_state[key])


def _keep(job: AdaptJob, folder: Path, source: str) -> None:
    """Save an accepted adaptation for the session (in the job's thread)."""
    result = job.result
    area = source.rsplit(".", 1)[0][:24]
    name = safe_name(f"model-adapted-{time.strftime('%H%M%S')}-{area}", 60,
                     "adapted")
    folder.mkdir(parents=True, exist_ok=True)
    save_adapted = lazy_import(ADAPT_PACKAGE + ".card").save_adapted
    path, card = save_adapted(result, folder / f"{name}.json")
    job.model = SessionModel(card.name, str(path), result.parent.card.name, source,
                             result.score_before, result.score_after, result.minutes)


def run_job(job: AdaptJob, load_scene: Callable[[], Scene], reference, parent: LoadedModel,
            folder: Path, source: str) -> None:
    """The job's work: read the image, adapt, keep the model when it is better. Errors are
    kept in ``job.error``; no Streamlit call is made (it runs in a background thread)."""
    try:
        inputs = lazy_import(ADAPT_PACKAGE + ".inputs")
        loop = lazy_import(ADAPT_PACKAGE + ".loop")
        pair = inputs.pair_from_arrays(load_scene(), reference, source, {"image": source})
        settings = loop.AdaptSettings(minutes=job.minutes,
                                      threads=lazy_import("torch").get_num_threads())

        def progress(fraction: float, message: str) -> None:  # noqa: ARG001 - steps, loss
            job.fraction = fraction
            job.message = "Learning from your reference"

        job.message = "Training..."
        job.result = loop.adapt([pair], parent, settings, progress=progress,
                                cancel=job.cancel.is_set)
        if job.result.accepted:
            _keep(job, folder, source)
    except BaseException as exc:  # noqa: BLE001 - shown on the page by the script thread
        job.error = exc
    finally:
        job.done = True


def start(result: RunResult, request: RunRequest, minutes: float) -> AdaptJob:
    """Start adapting the session's model on a result's image and reference."""
    job = AdaptJob(result.run_id, minutes)
    parent = resources.get_model(current_ref())  # loaded by then: the run used it
    args = (job, scene_loader(request), result.reference, parent, _session_folder(),
            str(result.source.get("name") or "area"))
    threading.Thread(target=run_job, args=args, name="urbanseg-adapt", daemon=True).start()
    st.session_state[JOB] = job
    return job


def improve_section(result: RunResult) -> None:
    """The Results page's "Improve the model for this area" (only with a reference)."""
    if result.reference is None:
        return
    st.subheader("Improve the model for this area")
    job = st.session_state.get(JOB)
    if job is None or job.run_id != result.run_id:
        _offer(result)
    elif not job.done:
        _running()
    else:
        _outcome(job)


def _offer(result: RunResult) -> None:
    request = request_of(result)
    if request is None:
        st.caption("Run these inputs again on the Map & run page to improve the model for "
                   "this area.")
        return
    st.write("Fine-tune the model on this image and its reference, so it follows your "
             "reference's idea of residential and non-residential areas here. A block of the "
             "image is held back to check that the new model is better; if it is not, it is "
             "not kept.")
    minutes = st.select_slider("Time limit (minutes)", MINUTES, value=5, key="w_adapt_min")
    st.caption(f"Takes about {minutes} minutes on this computer, plus reading the image; you "
               "can stop it at any time. The current results stay as they are.")
    if st.button("Improve the model for this area", key="w_adapt_start"):
        try:
            start(result, request, float(minutes))
        except UrbansegError as exc:
            show_error(exc)
            return
        st.rerun()


@st.fragment(run_every=1.0)
def _running() -> None:
    job: AdaptJob = st.session_state[JOB]
    if job.done:
        st.rerun()
    if job.cancel.is_set():
        st.info("Stopping: the model being trained will not be kept; the current results "
                "and model stay as they are.")
        return
    left = max(job.minutes * 60 - (time.perf_counter() - job.started), 0)
    st.progress(min(job.fraction, 1.0), text=f"{job.message} (at most {left / 60:.1f} min left)")
    st.button("Stop", key="w_adapt_stop", on_click=job.cancel.set)


def _outcome(job: AdaptJob) -> None:
    if job.cancel.is_set() and job.model is None:
        st.info("Stopped: no model was kept. The current model and results are unchanged.")
    elif job.error is not None:
        show_error(job.error)
    elif job.model is not None:
        m = job.model
        remember(m)
        st.success(f"The adapted model is better on the held-back block: macro built-up Dice "
                   f"{m.before:.3f} with {m.parent}, {m.after:.3f} adapted "
                   f"({job.result.steps} training steps, {m.minutes:.1f} min).")
        card = lazy_import(ADAPT_PACKAGE + ".card")
        for note in [card.absent_note(job.result), *card.thin_note(job.result)]:
            if note:
                st.caption(note)
        use_button(m, key="w_adapt_use")
    elif job.result is not None:  # finished, not better: say so, with the scores
        refusal = lazy_import(ADAPT_PACKAGE + ".card").not_better(job.result)
        st.info(as_text(f"{describe(refusal)} The current model and results stay as they "
                        "are."))
    if st.button("Start again", key="w_adapt_again"):
        st.session_state.pop(JOB, None)
        st.rerun()


def use_button(model: SessionModel, key: str) -> None:
    """"Use this model": new runs use it (it becomes the session's model)."""
    if state.get(state.MODEL_PATH) == model.path:
        st.caption(f"New runs use **{model.name}**: press **Run** on the Map & run page to "
                   "see its map.")
        return
    if st.button("Use this model", key=key, type="primary"):
        remember(model)
        state.put(state.MODEL_PATH, model.path)
        st.rerun()


def remember(model: SessionModel) -> None:
    """Add a model to the session's list (once)."""
    models = st.session_state.setdefault(MODELS, [])
    if model not in models:
        models.append(model)


def session_models() -> None:
    """The Model page's list of this session's adapted models, each usable and downloadable."""
    job = st.session_state.get(JOB)
    if job is not None and job.model is not None:
        remember(job.model)
    models = st.session_state.get(MODELS, [])
    if not models:
        st.caption("None yet: after a run with a reference, use \"Improve the model for this "
                   "area\" on the Results page.")
        return
    for i, m in enumerate(models):
        st.markdown(f"**{m.name}**: adapted from {m.parent} on {m.source}; held-back block "
                    f"macro built-up Dice {m.before:.3f} -> {m.after:.3f}.")
        a, b, c = st.columns(3)
        with a:
            use_button(m, key=f"w_model_use_{i}")
        card = Path(m.path)
        b.download_button("Model card (.json)", card.read_bytes(), file_name=card.name,
                          key=f"w_model_card_{i}")
        weights = card.with_suffix(".pt")
        c.download_button("Weights (.pt)", weights.read_bytes(), file_name=weights.name,
                          key=f"w_model_weights_{i}")
