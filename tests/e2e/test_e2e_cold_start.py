"""Cold start: a fresh server shows the page's title at once with a loading note, the layout
and Run button without waiting for the model, and the map after; the moments are taken in
the browser (a MutationObserver) and written to test-artifacts/e2e/timing_cold_start.json
(measured and recorded; the test asserts their order, not a clock)."""

from __future__ import annotations

import json

import pytest

from .conftest import new_context
from .helpers import wait_for_layers

pytestmark = pytest.mark.e2e

#: name -> JavaScript test on the document, recorded the first time it holds.
MARKS = {
    "title": "[...document.querySelectorAll('h1')].some(h => h.innerText.includes('Map & run'))",
    "loading note": "text().includes('Starting up: loading the map')",
    "run button": "[...document.querySelectorAll('button')].some(b => b.innerText.trim()"
                  " === 'Run')",
    "map frame": "!!document.querySelector('iframe[title=\"streamlit_folium.st_folium\"]')",
    "model loading": "text().includes('loading in the background')",
    "model ready": "/Model urbanseg-unet [0-9.]+: ready, on /.test(text())",
}
OBSERVER = """
window.__marks = {};
const text = () => document.body.innerText.replaceAll('\\u2060', '');
const tests = %s;
const check = () => { for (const [name, test] of Object.entries(tests)) {
    if (!(name in window.__marks)) { try { if (eval(test))
        window.__marks[name] = Math.round(performance.now()) / 1000; } catch (e) {} } } };
new MutationObserver(check).observe(document, {subtree: true, childList: true,
                                                characterData: true});
""" % json.dumps(MARKS)


def test_cold_start_shows_the_layout_before_the_model(browser, app_url, artifacts):
    context = new_context(browser, app_url)  # folium's CDN files answered offline
    page = context.new_page()
    page.add_init_script(OBSERVER)
    try:
        page.goto(app_url)
        wait_for_layers(page, 1, timeout_s=240)  # the sample's image on the map
        page.wait_for_function("() => 'model ready' in window.__marks", timeout=240_000)
        marks = page.evaluate("() => window.__marks")
    finally:
        context.close()
    (artifacts / "timing_cold_start.json").write_text(json.dumps(marks, indent=1) + "\n")
    print(f"\ncold start (s after navigation): {marks}")
    assert {"title", "loading note", "run button", "map frame", "model ready"} <= set(marks)
    # the title and the loading note come first, before the map and model code loads...
    assert marks["title"] <= marks["loading note"] < marks["run button"]
    # ...and the page is laid out (Run, map) without waiting for the model
    assert marks["run button"] <= marks["map frame"]
    assert marks["run button"] < marks["model ready"] or "model loading" not in marks
