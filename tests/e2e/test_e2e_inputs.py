"""Browser flows for the other inputs: an uploaded city GeoTIFF, a drawn Earth Engine area."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from urbanseg_core.io.bandfolder import stack_folder
from urbanseg_core.io.scene import read_scene

from .conftest import ROOT
from .helpers import (MAP_FRAME, REFERENCE_BOX, choose_upload, compare_state, dropzone, open_app,
                      wait_for_layers)

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect

CITY = "milano"


def _shared_data() -> Path:
    import os

    return Path(os.environ.get("URBANSEG_SHARED_DATA", ROOT / ".." / "shared" / "data"))


@pytest.fixture(scope="module")
def city_tif(tmp_path_factory) -> Path:
    folder = _shared_data() / "oscd_cities" / CITY / "imgs_1"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return stack_folder(folder, tmp_path_factory.mktemp("upload") / f"{CITY}_stack.tif")[0]


def test_upload_city_geotiff_shows_statistics(page, app_url, artifacts, city_tif):
    open_app(page, app_url)
    choose_upload(page).set_input_files(str(city_tif))
    page.get_by_text(f"Image: {city_tif.name}").wait_for()
    page.get_by_text("The file names its bands; no mapping needed.").wait_for()
    run = page.get_by_role("button", name="Run", exact=True)
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Run' && !b.disabled)")
    run.click()
    page.get_by_text("Built-up share").first.wait_for(timeout=120_000)
    wait_for_layers(page, 2)
    page.screenshot(path=str(artifacts / "upload_1_result.png"))

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Results").click()
    page.get_by_role("heading", name="Area per class").wait_for()
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for()
    page.screenshot(path=str(artifacts / "upload_2_results.png"))
    # the area with data matches the file: valid pixels x 100 m² (planar UTM grid)
    expected_km2 = read_scene(city_tif).valid.sum() * 100 / 1e6
    shown = page.get_by_test_id("stMetric").filter(has_text="Area with data")
    value = float(re.sub(r"[^\d.]", "", shown.get_by_test_id("stMetricValue").inner_text()))
    assert value == pytest.approx(expected_km2, abs=0.006)
    # names are shown as text: a word joiner after the dot keeps them from becoming links
    assert page.get_by_text(re.compile(CITY + "_stack\\.\u2060?tif")).first.is_visible()


def test_draw_rectangle_shows_area_estimate_and_not_connected(page, app_url, artifacts):
    open_app(page, app_url)
    page.get_by_text("Area from Earth Engine").click()
    page.get_by_text("Earth Engine is not connected here").first.wait_for()
    frame = page.frame_locator(MAP_FRAME).first
    tool = frame.locator("a.leaflet-draw-draw-rectangle")
    tool.wait_for()
    inner = page.locator(MAP_FRAME).first.element_handle().content_frame()
    inner.eval_on_selector(".leaflet-container", "c => { c.dataset.mark = 'before-draw'; }")
    tool.click()
    box = page.locator(MAP_FRAME).first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 60, y0 + 40, steps=5)
    page.mouse.move(x0 + 140, y0 + 100, steps=10)
    page.mouse.up()
    area = page.get_by_test_id("stMetric").filter(has_text="Area")
    value = area.first.get_by_test_id("stMetricValue")
    expect(value).to_contain_text("km²", timeout=60_000)
    text = value.inner_text()
    km2 = float(re.sub(r"[^\d.]", "", text))
    assert 0.1 < km2 < 500, text
    assert "km²" in text
    # the map was not reloaded by the rerun: the mark and the drawn rectangle are still there
    inner = page.locator(MAP_FRAME).first.element_handle().content_frame()
    assert inner.eval_on_selector(".leaflet-container", "c => c.dataset.mark") == "before-draw"
    assert inner.locator("path.leaflet-interactive").count() >= 1
    est = page.get_by_test_id("stMetric").filter(has_text="Estimated time")
    assert re.search(r"\d", est.get_by_test_id("stMetricValue").inner_text())
    assert page.get_by_text("Earth Engine is not connected here").first.is_visible()
    assert page.get_by_role("button", name="Run", exact=True).is_disabled()
    page.screenshot(path=str(artifacts / "draw_1_area.png"))
    # the area survives a rerun (another widget changes)
    page.get_by_text("Sample scene").first.click()
    wait_for_layers(page, 1)
    page.get_by_text("Area from Earth Engine").click()
    value = page.get_by_test_id("stMetric").filter(has_text="Area").first.get_by_test_id(
        "stMetricValue")
    expect(value).to_contain_text("km²", timeout=60_000)
    assert value.inner_text() == text


@pytest.fixture(scope="module")
def bercy(tmp_path_factory) -> tuple[Path, Path]:
    folder = _shared_data() / "bercy_urban_atlas"
    if not (folder / "imgs_1").is_dir():
        pytest.skip(f"{folder} is absent")
    image = stack_folder(folder / "imgs_1", tmp_path_factory.mktemp("bercy") / "bercy.tif")[0]
    return image, folder / "bercy_reference_10m.tif"


def test_reference_and_prediction_compare_in_linked_maps(page, app_url, artifacts, bercy):
    image, reference = bercy
    open_app(page, app_url)
    choose_upload(page).set_input_files(str(image))
    page.get_by_text(f"Image: {image.name}").wait_for()
    dropzone(page, REFERENCE_BOX).set_input_files(str(reference))
    page.get_by_text(f"Reference: {reference.name}").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Run' && !b.disabled)")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Built-up share").first.wait_for(timeout=120_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Results").click()
    page.get_by_role("heading", name="Agreement with the reference").wait_for()
    wait_for_layers(page, 3)  # true colour, prediction (filled), reference (outlines)
    legend = page.frame_locator(MAP_FRAME).first.locator(".urbanseg-legend").inner_text()
    assert "Reference (outlines)" in legend and "Prediction" in legend
    assert "missed built-up" not in legend  # the differences are ticked off at first

    page.locator(MAP_FRAME).nth(1).scroll_into_view_if_needed()
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline and (state is None or state["images"] != [2, 2]):
        time.sleep(0.2)
        state = compare_state(page, 1)
    assert state and state["images"] == [2, 2], state  # each map: true colour + class map
    assert state["zooms"][0] == state["zooms"][1]
    compare = page.frame_locator(MAP_FRAME).nth(1)
    compare.locator("#map_div .leaflet-control-zoom-in").click()
    page.wait_for_function(
        "sel => { const f = document.querySelectorAll(sel)[1].contentWindow;"
        " return f.map_div2.getZoom() === f.map.getZoom() &&"
        f" f.map.getZoom() === {state['zooms'][0] + 1}; }}", arg=MAP_FRAME)
    right = compare.locator("#map_div2")
    right.locator(".leaflet-control-layers").hover()
    right.get_by_text("Where prediction and reference differ").click()
    right.locator(".urbanseg-legend").get_by_text("missed built-up").wait_for()
    assert page.get_by_text(re.compile("where they differ: missed built-up")).is_visible()
    page.screenshot(path=str(artifacts / "compare_1_bercy.png"), full_page=True)
