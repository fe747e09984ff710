"""Three browser sessions run the sample at the same time; each gets the correct result."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rasterio

from urbanseg_core.evaluation.areas import areas_of
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.io.sample import load_sample
from urbanseg_core.model.loading import load_model

from .conftest import new_context
from .helpers import wait_for_layers

pytestmark = pytest.mark.e2e


def test_three_sessions_run_the_sample_at_once(browser, app_url, artifacts, tmp_path):
    contexts = [new_context(browser, app_url) for _ in range(3)]
    pages = [c.new_page() for c in contexts]
    try:
        for p in pages:
            p.set_default_timeout(120_000)
            p.goto(app_url)
        for p in pages:
            wait_for_layers(p, 1, timeout_s=120)
        started = time.perf_counter()
        for p in pages:  # click all three before any finishes
            p.get_by_role("button", name="Run", exact=True).click()
        for i, p in enumerate(pages):
            wait_for_layers(p, 2, timeout_s=180)
            p.screenshot(path=str(artifacts / f"concurrent_{i + 1}.png"))
        print(f"\nthree concurrent sample runs finished in {time.perf_counter() - started:.1f} s")

        # the expected answer, computed here with the same (default) model
        expected = segment_scene(load_sample(), load_model())
        want_share = f"{100 * areas_of(expected).built_up_share:.1f} %"
        for i, p in enumerate(pages):
            assert p.get_by_test_id("stMetricValue").first.inner_text() == want_share
            with p.expect_download() as dl:
                p.get_by_role("button", name="5. Download the mask (GeoTIFF)").click()
            target = tmp_path / f"session{i}.tif"
            dl.value.save_as(target)
            with rasterio.open(target) as src:
                np.testing.assert_array_equal(src.read(1), expected.classes)
    finally:
        for c in contexts:
            c.close()
