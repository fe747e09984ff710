"""The state walk: every widget is set, the page switched away and back and the page rerun;
the value shown, the panel drawn and the value Run uses (the "Run will use" line, the map's
overlay) agree every time. Removing an upload clears the selection. Screenshots of every page
go to test-artifacts/e2e/."""

from __future__ import annotations

import json

import numpy as np
import pytest

from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import textured_reflectance, write_geotiff
from .helpers import (AOI_BOX, IMAGE_BOX, MAP_FRAME, checked_radio, choose_upload, dropzone, nav_to,
                      open_app, run_enabled, slider_value, wait_for_layers, wait_idle)

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect

SQUARE = {"type": "Polygon", "coordinates": [[[12.50, 52.46], [12.55, 52.46], [12.55, 52.49],
                                              [12.50, 52.49], [12.50, 52.46]]]}
PAGES = ("Results", "Model", "About & help")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    dn = (textured_reflectance(64, 96) * 10000).astype("uint16") + 1
    scene = write_geotiff(folder / "walk_scene.tif", dn, list(MODEL_BANDS))
    aoi = folder / "area.geojson"
    aoi.write_text(json.dumps(SQUARE))
    return scene, aoi


def _away_and_back(page) -> None:
    """Every other page, then back to Map & run."""
    for name in PAGES:
        nav_to(page, name)
        nav_to(page, "Map & run")


def _summary(page) -> str:
    return page.get_by_text("Run will use:").first.inner_text()


def _set_slider(page, label: str, presses: int, key: str = "ArrowRight") -> None:
    page.get_by_test_id("stSlider").filter(has_text=label).first.get_by_role("slider").focus()
    for _ in range(presses):
        page.keyboard.press(key)
    page.wait_for_timeout(300)


def test_earth_engine_settings_walk(page, app_url, artifacts, files):
    _, aoi = files
    open_app(page, app_url)
    page.get_by_text("Area from Earth Engine").click()
    page.get_by_text("Cloud masking").first.wait_for()
    _set_slider(page, "Cloud masking", 2)  # 0.60 -> 0.70
    dropzone(page, AOI_BOX).set_input_files(str(aoi))  # not a stale box of the sample's
    page.get_by_text("Run will use:").first.wait_for(timeout=60_000)
    for round_ in range(2):
        assert checked_radio(page, "Imagery") == "Area from Earth Engine"
        assert page.get_by_text("Cloud masking").first.is_visible()  # the panel drawn
        assert slider_value(page, "Cloud masking") == pytest.approx(0.7)  # the value shown
        assert "cloud masking 0.70" in _summary(page)  # the value Run uses
        _away_and_back(page)
        page.get_by_text("Run will use:").first.wait_for()
    # the next interaction keeps them (the bug: it sent the stale values)
    page.get_by_text("Sample scene").first.click()
    page.get_by_text("Run will use: the sample scene").wait_for()
    page.get_by_text("Area from Earth Engine").click()
    page.get_by_text("Run will use: the drawn area").wait_for()
    assert slider_value(page, "Cloud masking") == pytest.approx(0.7)
    assert "cloud masking 0.70" in _summary(page)
    page.screenshot(path=str(artifacts / "page_map_and_run_earth_engine.png"), full_page=True)


def test_upload_settings_walk_and_removal(page, app_url, artifacts, files):
    scene, _ = files
    open_app(page, app_url)
    choose_upload(page).set_input_files(str(scene))
    page.get_by_text("Image: walk_scene.tif").wait_for()
    run_enabled(page)
    box = page.get_by_text("Subtract the 1000 DN offset").first
    box.click()
    page.get_by_text("offset -1000 DN").first.wait_for()
    page.screenshot(path=str(artifacts / "page_map_and_run_upload.png"), full_page=True)
    for _ in range(2):
        _away_and_back(page)
        assert checked_radio(page, "Imagery") == "Upload Sentinel-2 files"
        page.get_by_text("Image: walk_scene.tif").wait_for()  # the kept upload
        checkbox = page.get_by_role("checkbox", name="Subtract the 1000 DN offset")
        assert checkbox.is_checked()
        assert "offset -1000 DN" in _summary(page)
    # removing the file from the uploader clears the selection: Run is off
    dropzone(page, IMAGE_BOX).set_input_files(str(scene))
    page.get_by_test_id("stFileChipDeleteBtn").first.wait_for()
    page.wait_for_timeout(1500)
    wait_idle(page)  # the upload is registered before it is removed
    page.get_by_test_id("stFileChipDeleteBtn").first.click()
    expect(page.get_by_text("Image: walk_scene.tif")).to_have_count(0, timeout=30_000)
    assert page.get_by_role("button", name="Run", exact=True).is_disabled()


def test_results_settings_walk_and_screenshots_of_every_page(page, app_url, artifacts):
    open_app(page, app_url)
    wait_for_layers(page, 1)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_layers(page, 2)
    page.screenshot(path=str(artifacts / "page_map_and_run_sample.png"), full_page=True)
    nav_to(page, "Results")
    _set_slider(page, "Overlay opacity", 8, "ArrowLeft")  # 0.70 -> 0.30
    page.get_by_text("ESM: 1 other").click()
    page.wait_for_timeout(500)
    for name in ("Model", "About & help", "Map & run"):
        nav_to(page, name)
        page.screenshot(path=str(artifacts / f"page_{name.split()[0].lower()}.png"),
                        full_page=True)
        nav_to(page, "Results")
        wait_for_layers(page, 2)
        assert slider_value(page, "Overlay opacity") == pytest.approx(0.3)
        assert checked_radio(page, "Codes in the mask").startswith("ESM")
        frame = page.locator(MAP_FRAME).first.element_handle().content_frame()
        opacity = frame.eval_on_selector("img.leaflet-image-layer[src^='data:image/png']",
                                         "i => getComputedStyle(i).opacity")
        assert float(opacity) == pytest.approx(0.3)  # what the map uses
    page.screenshot(path=str(artifacts / "page_results.png"), full_page=True)
    assert np.isfinite(slider_value(page, "Overlay opacity"))
