"""Browser flow of Compare two dates (network cut): two dates uploaded, the two linked maps with
each date's image and classes, the from-to layer switched on, the from-to table and its CSV.
A tiny random model serves: the flow is about the page, not the model's answer."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import textured_reflectance, write_geotiff
from .helpers import MAP_FRAME, compare_state, nav_to, open_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_dates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dates")
    refl = textured_reflectance(64, 96, seed=3)
    after = 1.1 * refl + 0.01
    after[:, 20:40, 30:60] = 0.3  # a new bright surface
    return [write_geotiff(folder / name, (r * 10000).astype("uint16") + 1, list(MODEL_BANDS))
            for name, r in (("town_2018.tif", refl), ("town_2023.tif", after))]


def _both_maps_loaded(page, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline and (state is None or state["images"] != [2, 2]):
        time.sleep(0.2)
        try:
            state = compare_state(page, 0)
        except Exception:  # noqa: BLE001 - the frame is being replaced
            state = None
    assert state and state["images"] == [2, 2], state  # each map: its image + its classes
    return state


def test_two_uploaded_dates_show_linked_maps_and_the_from_to_table(tiny_page, tiny_app_url,
                                                                   artifacts, two_dates):
    page = tiny_page
    open_app(page, tiny_app_url)
    nav_to(page, "Compare two dates")
    uploads = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploads.nth(0).set_input_files(str(two_dates[0]))
    page.get_by_text(f"Before: {two_dates[0].name}").wait_for()
    uploads.nth(1).set_input_files(str(two_dates[1]))
    page.get_by_text(f"After: {two_dates[1].name}").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Compare the two dates' && !b.disabled)", timeout=120_000)
    page.get_by_role("button", name="Compare the two dates").click()
    page.get_by_role("heading", name="What changed, from what to what").wait_for(
        timeout=120_000)
    page.get_by_test_id("stDataFrame").first.wait_for()

    page.locator(MAP_FRAME).first.scroll_into_view_if_needed()
    state = _both_maps_loaded(page)
    assert state["zooms"][0] == state["zooms"][1]
    maps = page.frame_locator(MAP_FRAME).first
    assert "Before: town_2018.tif" in maps.locator("#map_div").inner_text()
    assert "After: town_2023.tif" in maps.locator("#map_div2").inner_text()
    # the from-to layer is switched on in the right map; its legend appears
    right = maps.locator("#map_div2")
    right.locator(".leaflet-control-layers").hover()
    right.get_by_text("Change (from → to)").click()
    right.locator(".urbanseg-legend").get_by_text("other -> residential").wait_for()
    page.screenshot(path=str(artifacts / "compare_dates_1_maps.png"), full_page=True)

    # the table's numbers, as the CSV download gives them
    with page.expect_download() as info:
        page.get_by_role("button", name="From-to table (CSV)").click()
    download = info.value
    assert download.suggested_filename == (
        "urbanseg_change_town_2018_to_town_2023_change_table.csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 9 and rows[2]["from"] == "other" and rows[2]["to"] == "residential"
    assert sum(float(r["area_km2"]) for r in rows) == pytest.approx(64 * 96 * 1e-4, abs=1e-3)
