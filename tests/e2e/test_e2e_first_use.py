"""A first-time user's trial, repeated in chromium: a city region's band files (3660 x 3660 px)
are taken with a size and time estimate; a reference coded the other way round is mapped and
flagged; a crafted file name stays text; pictures side by side have one size. A tiny model
serves the page (the flows are about the page, not the model's answer)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import textured_reflectance, write_geotiff
from .helpers import (REFERENCE_BOX, choose_upload, dropzone, nav_to, open_app, run_enabled,
                      wait_for_layers)

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect

CITY_PX = 3660  # 36.6 km at 10 m: the region the trial could not load
RES = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "B05": 20, "B06": 20, "B07": 20,
       "B8A": 20, "B11": 20, "B12": 20, "B09": 60}


@pytest.fixture(scope="module")
def city_bands(tmp_path_factory):
    """The single-band files of a 36.6 km scene (Level-2A names, 10/20/60 m grids)."""
    folder = tmp_path_factory.mktemp("city")
    rng = np.random.default_rng(4)
    paths = []
    for band, metres in RES.items():
        n = CITY_PX * 10 // metres
        blocks = np.kron(rng.integers(1100, 4000, (n // 61 + 1, n // 61 + 1)),
                         np.ones((61, 61)))[:n, :n].astype("uint16")
        path = folder / f"T43SCT_20181227T055231_{band}_{metres}m.tif"
        with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1,
                           dtype="uint16", crs="EPSG:32643", compress="deflate",
                           transform=from_origin(300000, 3745140, metres, metres)) as dst:
            dst.write(blocks, 1)
        paths.append(str(path))
    return paths


def test_a_city_region_is_taken_with_an_estimate_and_progress(tiny_page, tiny_app_url,
                                                              artifacts, city_bands):
    page = tiny_page
    open_app(page, tiny_app_url)
    choose_upload(page).set_input_files(city_bands)
    page.get_by_text("Stacked from 11 band files").wait_for(timeout=300_000)
    estimate = page.get_by_text("3,660 × 3,660 px (36.6 × 36.6 km)").first
    estimate.wait_for()
    assert "the model needs about" in estimate.inner_text()
    page.get_by_text("The box is ticked").first.wait_for()  # offset decided, said
    run_enabled(page)
    page.screenshot(path=str(artifacts / "first_use_1_city_upload.png"), full_page=True)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Running the model on the tiles").first.wait_for(timeout=300_000)
    page.get_by_text("Built-up share").first.wait_for(timeout=600_000)
    wait_for_layers(page, 2, timeout_s=120)
    page.screenshot(path=str(artifacts / "first_use_2_city_result.png"), full_page=True)
    nav_to(page, "Results")
    pictures = page.get_by_test_id("stImage").locator("img")
    expect(pictures).to_have_count(2)
    sizes = {(round(b["width"]), round(b["height"])) for b in
             (pictures.nth(i).bounding_box() for i in range(2))}
    assert len(sizes) == 1, sizes  # true colour and prediction: one size
    page.screenshot(path=str(artifacts / "first_use_3_city_results.png"), full_page=True)


def _reference(folder):
    """A reference on the scene's grid: 0 other, built-up codes 1 and 2, in blocks."""
    rng = np.random.default_rng(1)
    ref = np.kron(rng.integers(0, 3, (4, 6)), np.ones((16, 16))).astype("uint8")
    path = folder / "ghs_built_c_3class.tif"
    write_geotiff(path, ref[None])
    return path


def test_reference_codes_are_shown_and_mapped_by_the_user(tiny_page, tiny_app_url,
                                                               artifacts, tmp_path):
    page = tiny_page
    dn = (textured_reflectance(64, 96, seed=2) * 10000).astype("uint16") + 1
    scene = write_geotiff(tmp_path / "scene.tif", dn, list(MODEL_BANDS))
    open_app(page, tiny_app_url)
    choose_upload(page).set_input_files(str(scene))
    page.get_by_text("Image: scene.tif").wait_for()
    dropzone(page, REFERENCE_BOX).set_input_files(str(_reference(tmp_path)))
    page.get_by_text("Values found in the reference").wait_for()
    for value in (0, 1, 2):  # each value found, with its class, changeable
        page.get_by_text(f"Value {value} (").first.wait_for()
    page.screenshot(path=str(artifacts / "first_use_4_reference_values.png"), full_page=True)
    # say value 1 is residential and 2 non-residential (the GHSL 3-class file's order)
    for value, name in ((1, "residential"), (2, "non-residential")):
        select = page.get_by_test_id("stSelectbox").filter(has_text=f"Value {value} (")
        select.first.click()
        page.get_by_role("option", name=name, exact=True).click()
        page.wait_for_timeout(500)
    run_enabled(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Built-up share").first.wait_for(timeout=120_000)
    nav_to(page, "Results")
    page.get_by_role("heading", name="Agreement with the reference").wait_for()
    page.screenshot(path=str(artifacts / "first_use_5_agreement.png"), full_page=True)
    # the linked maps' caption names how the reference was read
    page.get_by_text(re.compile(r"the reference \(auto \(\w+\) codes, classes as in the value "
                                r"table\)")).first.wait_for()


def test_a_crafted_file_name_is_text_not_a_link(tiny_page, tiny_app_url, tmp_path):
    page = tiny_page
    dn = (textured_reflectance(48, 48, seed=3) * 10000).astype("uint16") + 1
    name = "[click me](www.evil.example) :red[x] <b>bold me@evil.example.tif"
    crafted = write_geotiff(tmp_path / name, dn, list(MODEL_BANDS))
    open_app(page, tiny_app_url)
    choose_upload(page).set_input_files(str(crafted))
    page.get_by_text(f"Image: {name}").wait_for()
    run_enabled(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Built-up share").first.wait_for(timeout=120_000)
    nav_to(page, "Results")
    page.get_by_role("heading", name="Area per class").wait_for()
    assert page.locator("a[href*='evil']").count() == 0
    assert page.locator("[data-testid='stMarkdownContainer'] b").count() == 0
    shown = page.evaluate("() => document.body.innerText.replaceAll('\\u2060', '')")
    assert "[click me](www.evil.example) :red[x] <b>bold" in shown  # shown literally
