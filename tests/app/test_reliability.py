"""The dashboard keeps its promises (AppTest): names are text, Earth Engine never blocks the
page, the status says where a result came from, the reference's values are the user's to map,
and settings survive page switches into the value Run uses."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from urbanseg_core.model.loading import DEFAULT_CARD

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
if not DEFAULT_CARD.exists():
    pytest.skip("the bundled model is missing", allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402

from urbanseg_core.app import earthengine, resources, runner, state  # noqa: E402
from urbanseg_core.app.controller import sample_request  # noqa: E402
from urbanseg_core.sentinel2 import MODEL_BANDS  # noqa: E402

from .helpers import ee_settled, errors, key, plain  # noqa: E402

CRAFTED = "[click me](http://evil.example) :red[x] <b>b</b> $x$.tif"
SQUARE = {"type": "Polygon", "coordinates": [[[12.50, 52.46], [12.55, 52.46], [12.55, 52.49],
                                              [12.50, 52.49], [12.50, 52.46]]]}


@pytest.fixture(autouse=True)
def _no_prefetch(monkeypatch):
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")


def _fresh() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _raster(values: np.ndarray, names=None, nodata=None) -> bytes:
    count, height, width = values.shape
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width, height=height, count=count,
                      dtype=values.dtype, crs="EPSG:32633", nodata=nodata,
                      transform=from_origin(330000, 5822040, 10, 10)) as dst:
            dst.write(values)
            for i, d in enumerate(names or [], start=1):
                dst.set_band_description(i, d)
        return mem.read()


def _scene_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.random((11, 4, 4)), np.ones((16, 16)))
    return _raster((blocks * 3000 + 500).astype("uint16"), list(MODEL_BANDS))


def _all_text(at: AppTest) -> list[str]:
    """Every string the page renders as Markdown (captions, alerts, markdown, headings)."""
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                 "header", "subheader"):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def test_a_crafted_file_name_is_shown_as_text_never_as_markdown():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value((CRAFTED, _scene_bytes(),
                                                       "image/tiff")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Image: {CRAFTED}" in [t.value for t in at.text]  # shown exactly, as text
    for text in _all_text(at):  # and nowhere as live Markdown: every special char escaped
        assert "[click me](http" not in text and "<b>" not in text and ":red[" not in text
    at.button(key="w_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/2_Results.py").run()
    texts = _all_text(at)
    assert any(CRAFTED in plain(t) for t in texts)  # the headline names it...
    assert not any("[click me](http" in t for t in texts)  # ...escaped


def test_earth_engine_checks_never_block_the_page(monkeypatch):
    release = threading.Event()

    def slow_connect(secrets=None, env=None):  # credentials but no network: a long wait
        release.wait(60)
        raise OSError("network unreachable")

    monkeypatch.setattr(earthengine.auth, "connect", slow_connect)
    monkeypatch.setattr(earthengine, "CHECK_TIMEOUT_S", 3.0)
    earthengine._CHECK.clear()
    try:
        at = _fresh()
        at.radio(key=key(at, "source")).set_value("earthengine").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not earthengine._CHECK["future"].done()  # the page was drawn during the check
        assert any("Checking the Earth Engine connection" in i.value for i in at.info)
        assert at.button(key="w_run").disabled
        time.sleep(3.2)
        at.run()
        assert any("did not answer within a few seconds" in w.value for w in at.warning)
        assert not earthengine._CHECK["future"].done()
    finally:
        release.set()
        earthengine._CHECK.clear()


def test_the_status_says_the_sample_was_prepared_in_the_background():
    at = _fresh()
    ref = resources.model_ref()
    loaded = resources.get_model(ref)
    request = sample_request()
    runner.cached_compute.clear()
    runner.cached_compute(request.key(loaded.sha256), request, loaded, lambda s, f: None,
                          resources.sample_scene(), resources.sample_view().true_colour,
                          "prefetch")
    at.button(key="w_run").click().run()
    label = at.status[0].label if len(at.status) else ""
    timing = at.session_state[state.TIMING]
    assert timing["origin"] == "prefetch" and timing["cached"] is True
    assert "segmented in the background" in label and "model" in label, label
    assert "Done in 0.0 s" not in label  # an instant answer is not "done in no time"
    model_s = at.session_state[state.RESULT].seconds
    assert f"model {model_s:.1f} s" in label  # the same time the Results page shows
    at.switch_page("pages/2_Results.py").run()
    assert any(f"model time {model_s:.1f} s" in plain(c.value) for c in at.caption)


def test_reference_values_are_mapped_by_the_user_and_a_swap_is_flagged():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value(("scene.tif", _scene_bytes(3),
                                                       "image/tiff")).run()
    at.button(key="w_run").click().run()
    pred = at.session_state[state.RESULT].classes
    swapped = np.choose(pred, [0, 2, 1]).astype("uint8")[None]  # 1 residential, 2 non-res.
    at.file_uploader(key=key(at, "reference")).set_value(("ghsl_3class.tif", _raster(swapped),
                                                          "image/tiff")).run()
    assert not at.exception, [e.value for e in at.exception]
    sha = at.session_state["urbanseg_reference"]["sha256"][:16]
    boxes = {v: at.selectbox(key=key(at, "ref_values", f"{sha}:{v}")) for v in (0, 1, 2)}
    assert [boxes[v].value for v in (0, 1, 2)] == [0, 1, 2]  # proposed: index codes
    at.button(key="w_run").click().run()
    at.switch_page("pages/2_Results.py").run()
    assert any("look swapped" in w.value for w in at.warning)
    at.button(key=key(at, "swap")).click().run()  # exchange them in the value table
    # until Run, the old comparison stays, said to be from the earlier table, without the
    # warning and its button (a second click would undo the exchange)
    assert not any("look swapped" in w.value for w in at.warning)
    assert any("value table has changed" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == key(at, "swap")]
    at.switch_page("pages/1_Map_and_run.py").run()
    assert [at.selectbox(key=key(at, "ref_values", f"{sha}:{v}")).value
            for v in (0, 1, 2)] == [0, 2, 1]
    at.button(key="w_run").click().run()
    metrics = at.session_state[state.RESULT].metrics
    assert metrics["dice_weighted"] == pytest.approx(1.0)
    assert metrics["swapped_builtup"] is None


def test_every_setting_survives_page_switches_into_what_run_uses():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    at.slider(key=key(at, "cloud")).set_value(0.7).run()
    at.file_uploader(key=key(at, "aoi_upload")).set_value(
        ("aoi.geojson", json.dumps(SQUARE).encode(), "application/geo+json")).run()
    ee_settled(at)
    for page in ("pages/3_Model.py", "pages/2_Results.py", "pages/4_About.py"):
        at.switch_page(page).run()
        at.switch_page("pages/1_Map_and_run.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.radio(key=key(at, "source")).value == "earthengine"  # shown...
        assert at.slider(key=key(at, "cloud")).value == pytest.approx(0.7)
        summary = [c.value for c in at.caption if c.value.startswith("Run will use")]
        assert summary and "cloud masking 0.70" in summary[0]  # ...and what Run uses
    at.run()  # a plain rerun changes nothing
    assert at.slider(key=key(at, "cloud")).value == pytest.approx(0.7)
    assert state.Settings().cloud == 0.6 and at.session_state[state.SETTINGS].cloud == 0.7


def test_a_large_upload_gets_a_size_and_time_estimate():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value(("scene.tif", _scene_bytes(),
                                                       "image/tiff")).run()
    caption = " ".join(plain(c.value) for c in at.caption)
    assert "64 × 64 px (0.6 × 0.6 km), 11 bands: the model needs about" in caption
    assert not errors(at)


def test_a_ready_answer_says_done_not_done_in_no_time():
    from urbanseg_core.app.runner import RunInfo, status_label

    for origin in ("run", "prefetch"):
        label = status_label(RunInfo(False, origin, 0.01, 1.04))
        assert label.startswith("Done:") and "0.0 s" not in label and "model 1.0 s" in label
    assert status_label(RunInfo(True, "run", 2.04, 1.0)) == "Done in 2.0 s (model 1.0 s)."
