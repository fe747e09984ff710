"""The Earth Engine panel when connected: map layers and the export offer for large areas.

Earth Engine is unreachable here, so the app's calls into ``urbanseg_core.gee`` are replaced by
fakes (the gee package itself is tested offline with ``ee.apitestcase`` in test_gee_*.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from urbanseg_core.model.loading import DEFAULT_CARD

ROOT = Path(__file__).resolve().parents[2]
if not DEFAULT_CARD.exists():
    pytest.skip("the bundled model is missing", allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402

from urbanseg_core.app import earthengine  # noqa: E402
from urbanseg_core.gee.layers import TileLayer  # noqa: E402

from .helpers import errors, key, plain  # noqa: E402


def _square(side_deg):
    w, s = 12.5, 52.4
    return {"type": "Polygon", "coordinates": [[[w, s], [w + side_deg, s],
                                                 [w + side_deg, s + side_deg],
                                                 [w, s + side_deg], [w, s]]]}


@pytest.fixture
def connected(monkeypatch):
    calls = {"tiles": [], "exports": []}
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")
    monkeypatch.setattr(earthengine, "status",
                        lambda: earthengine.Status("connected",
                                                   "Connected to Earth Engine project demo"))

    def tile_layers(geometry_json, start, end, cloud):
        calls["tiles"].append((json.loads(geometry_json), start, end, cloud))
        return [TileLayer("Sentinel-2 median 2018", "https://example.invalid/{z}/{x}/{y}",
                          "test")], None

    def start_export(geometry, start, end, cloud, destination="drive", bucket=None):
        calls["exports"].append((destination, bucket, start, end))
        return "TASK123", "Export started (task TASK123)."

    monkeypatch.setattr(earthengine, "tile_layers", tile_layers)
    monkeypatch.setattr(earthengine, "start_export", start_export)
    monkeypatch.setattr(earthengine, "export_messages",
                        lambda ids: [f"Export {i} is running." for i in ids])
    return calls


def _with_aoi(geometry):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    at.file_uploader(key=key(at, "aoi_upload")).set_value(
        ("aoi.geojson", json.dumps(geometry).encode(), "application/geo+json")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_connected_small_area_gets_map_layers_and_run(connected):
    at = _with_aoi(_square(0.05))
    assert not at.button(key="w_run").disabled
    geometry, start, end, cloud = connected["tiles"][-1]
    assert (start, end, cloud) == ("2018-01-01", "2019-01-01", 0.6)  # the defaults
    assert geometry["type"] == "Polygon"


def test_large_area_offers_an_export_task(connected):
    at = _with_aoi(_square(0.5))  # about 1,900 km² at 52° N, over the 500 km² limit
    assert at.button(key="w_run").disabled
    assert "more than the limit" in errors(at) and "Draw a smaller area" in errors(at)
    at.button(key=key(at, "export_start")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert connected["exports"] == [("drive", None, "2018-01-01", "2019-01-01")]
    assert any("TASK123" in plain(s.value) for s in at.success)
    assert any("TASK123 is running" in plain(c.value) for c in at.caption)

