"""Downloads: ready at once, made when clicked, and quick successive clicks all complete with
the right file names (none cancelled, none named by a hash)."""

from __future__ import annotations

import json

import pytest
import rasterio

from .helpers import nav_to, open_app, wait_for_layers

pytestmark = pytest.mark.e2e

STEM = "urbanseg_sample_t33uuu_2017-02-16"
EXPECTED = {
    "Mask (GeoTIFF)": f"{STEM}_mask_index.tif",
    "Polygons (GeoJSON)": f"{STEM}_builtup.geojson",
    "Picture (PNG)": f"{STEM}_picture.png",
    "Overlay (PNG)": f"{STEM}_overlay.png",
    "Statistics (CSV)": f"{STEM}_statistics.csv",
    "Run manifest (JSON)": f"{STEM}_manifest.json",
}


def test_rapid_clicks_download_every_file_with_its_name(page, app_url, artifacts, tmp_path):
    open_app(page, app_url)
    wait_for_layers(page, 1)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_layers(page, 2)
    # the Map & run page offers the mask under the same name as the Results page
    with page.expect_download() as first:
        page.get_by_role("button", name="5. Download the mask (GeoTIFF)").click()
    assert first.value.suggested_filename == EXPECTED["Mask (GeoTIFF)"]
    nav_to(page, "Results")
    page.get_by_role("button", name="Run manifest (JSON)").wait_for()
    clicks = list(EXPECTED) + ["Mask (GeoTIFF)", "Statistics (CSV)"]  # 7 quick clicks
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    for label in clicks:
        page.get_by_role("button", name=label, exact=True).click()
        page.wait_for_timeout(150)
    deadline = 120
    while len(downloads) < len(clicks) and deadline > 0:
        page.wait_for_timeout(500)
        deadline -= 0.5
    assert len(downloads) == len(clicks), [d.suggested_filename for d in downloads]
    names = sorted(d.suggested_filename for d in downloads)
    assert names == sorted(EXPECTED[label] for label in clicks)
    for d in downloads:
        target = tmp_path / d.suggested_filename
        d.save_as(target)
        assert d.failure() is None and target.stat().st_size > 0
    with rasterio.open(tmp_path / EXPECTED["Mask (GeoTIFF)"]) as src:
        assert src.shape == (768, 1024)
    manifest = json.loads((tmp_path / EXPECTED["Run manifest (JSON)"]).read_text())
    assert manifest["parameters"]["tile_size"] >= 256
    page.screenshot(path=str(artifacts / "downloads.png"), full_page=True)
