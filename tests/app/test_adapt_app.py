"""Improve the model for this area (Results page) and the session's models (Model page),
through Streamlit's AppTest, with a tiny model so that a run takes seconds."""

from __future__ import annotations

import hashlib
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import load_once
from urbanseg_core.app import adapt as app_adapt
from urbanseg_core.app import state
from urbanseg_core.errors import CancelledError
from urbanseg_core.evaluation.manifest import model_record
from urbanseg_core.model.loading import load_model
from urbanseg_core.runs.compute import compute
from urbanseg_core.runs.request import RunRequest
from urbanseg_core.training.adapt import loop as loop_module

TIMEOUT = 120


def results_page() -> None:
    """The Results page's adaptation section and the Model page's list, on one page."""
    import streamlit as st  # noqa: F401 - AppTest runs this function's body as a script
    from urbanseg_core.app import adapt, state
    state.init()
    adapt.improve_section(state.get(state.RESULT))
    adapt.session_models()


@pytest.fixture
def small_adaptation(monkeypatch):
    original = loop_module.AdaptSettings

    def small(**kwargs):
        return original(**{**kwargs, "crop_size": 64, "batch_size": 4, "max_steps": 10,
                           "checks": 2})

    monkeypatch.setattr(loop_module, "AdaptSettings", small)


@pytest.fixture
def run_with_reference(learnable_files, tiny_model_path):
    """A run of the tiny model on an uploaded image with a reference: (request, result)."""
    image, reference = learnable_files
    request = RunRequest(kind="upload", name=image.name, path=str(image),
                         sha256=hashlib.sha256(image.read_bytes()).hexdigest(),
                         reference_path=str(reference), reference_sha256="ref")
    return request, compute(request, load_once(tiny_model_path))


def page(request, result, model_path) -> AppTest:
    at = AppTest.from_function(results_page, default_timeout=TIMEOUT)
    at.session_state[state.RESULT] = result
    at.session_state[state.REQUEST] = request
    at.session_state[state.MODEL_PATH] = str(model_path)
    return at.run()


def wait_for_job(at: AppTest) -> app_adapt.AdaptJob:
    job = at.session_state[app_adapt.JOB]
    deadline = time.monotonic() + TIMEOUT
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.done
    return job


def test_improving_the_model_keeps_a_better_model_that_new_runs_use(
        small_adaptation, run_with_reference, tiny_model_path):
    request, result = run_with_reference
    at = page(request, result, tiny_model_path)
    assert not at.exception, [e.value for e in at.exception]
    assert "Improve the model for this area" in [h.value for h in at.subheader]
    assert "Takes about 5 minutes" in " ".join(c.value for c in at.caption)
    at.button(key="w_adapt_start").click().run()
    job = wait_for_job(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert job.error is None and job.model is not None
    success = at.success[0].value
    assert "better on the held-back block" in success and "tiny-test" in success
    at.button(key="w_adapt_use").click().run()
    assert at.session_state[state.MODEL_PATH] == job.model.path
    listed = " ".join(m.value for m in at.markdown)
    assert job.model.name in listed and "adapted from tiny-test" in listed
    record = model_record(load_model(job.model.path))
    assert record["name"] == job.model.name
    assert record["adapted_from"]["name"] == "tiny-test"


def test_a_model_no_better_than_its_parent_is_not_kept_and_the_page_says_why(
        monkeypatch, run_with_reference, tiny_model_path):
    """A learning rate of 1e-12 leaves the weights as they were: the adapted model ties with
    its parent on the held-back block, and the page says it was not kept, with both scores."""
    original = loop_module.AdaptSettings
    monkeypatch.setattr(loop_module, "AdaptSettings", lambda **kw: original(**{
        **kw, "crop_size": 64, "batch_size": 4, "max_steps": 4, "checks": 1, "lr": 1e-12}))
    request, result = run_with_reference
    at = page(request, result, tiny_model_path)
    at.button(key="w_adapt_start").click().run()
    job = wait_for_job(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert job.error is None and job.model is None and not job.result.accepted
    info = " ".join(i.value for i in at.info)
    assert "not saved" in info and "stay as they are" in info
    assert f"{job.result.score_before:.3f}" in info.replace("\\", "")
    assert not at.success and at.button(key="w_adapt_again")


def test_stop_ends_the_adaptation_and_keeps_no_model(run_with_reference, tiny_model,
                                                     tmp_path):
    request, result = run_with_reference
    job = app_adapt.AdaptJob(result.run_id, minutes=5)
    job.cancel.set()
    folder = tmp_path / "models"
    app_adapt.run_job(job, app_adapt.scene_loader(request), result.reference, tiny_model,
                      folder, "region.tif")
    assert job.done and isinstance(job.error, CancelledError)
    assert job.model is None and not folder.exists()


def test_a_run_without_reference_offers_nothing(run_with_reference, tiny_model_path):
    request, result = run_with_reference
    result.reference = None
    at = page(request, result, tiny_model_path)
    assert "Improve the model for this area" not in [h.value for h in at.subheader]
    assert "None yet" in " ".join(c.value for c in at.caption)


def test_a_result_from_another_run_asks_to_run_again(run_with_reference, tiny_model_path):
    request, result = run_with_reference
    at = page(RunRequest(kind="sample", name="sample"), result, tiny_model_path)
    assert "Run these inputs again" in " ".join(c.value for c in at.caption)
    assert not at.button
