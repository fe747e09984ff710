"""Earth Engine map layers made with geemap, offline (``ee.apitestcase`` answers getMapId)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ee = pytest.importorskip("ee")
pytest.importorskip("geemap")

from urbanseg_core.app import eelayers  # noqa: E402
from urbanseg_core.errors import EarthEngineError  # noqa: E402
from urbanseg_core.gee import layers  # noqa: E402
from urbanseg_core.gee.download import RetryPolicy  # noqa: E402

from ..gee.test_earth_engine import BERLIN, ee_api, graph  # noqa: E402,F401 - the fixture

pytestmark = pytest.mark.gee
NO_WAIT = RetryPolicy(max_tries=3, base_delay=0.0, max_delay=0.0)


@pytest.fixture
def map_ids(ee_api, monkeypatch):  # noqa: F811 - the fixture imported above
    """getMapId answers like the server: a map id and a tile fetcher; the requests are kept."""
    calls = []

    def get_map_id(params):
        calls.append(params)
        if len(calls) == 1 and getattr(get_map_id, "fail_first", False):
            raise ee.EEException("Too many concurrent aggregations.")
        name = f"projects/my-project/maps/map{len(calls)}"
        return {"mapid": name, "token": "",
                "tile_fetcher": ee.data.TileFetcher(
                    f"https://earthengine.googleapis.com/v1/{name}/tiles/{{z}}/{{x}}/{{y}}",
                    map_name=name)}

    monkeypatch.setattr(ee.data, "getMapId", get_map_id)
    get_map_id.calls = calls
    return get_map_id


def test_geemap_makes_the_tile_urls_of_both_layers(map_ids):
    made = eelayers.map_layers(BERLIN, "2018-01-01", "2019-01-01", 0.6)
    assert [t.name for t in made] == ["Sentinel-2 median 2018", "GHSL built-up 2018 (reference)"]
    assert made[0].url.endswith("/maps/map1/tiles/{z}/{x}/{y}")
    assert made[1].url.endswith("/maps/map2/tiles/{z}/{x}/{y}")
    assert made[1].legend == layers.GHSL_LEGEND and made[0].legend == ()
    composite, ghsl = (json.dumps(graph(c["image"])) for c in map_ids.calls)
    assert "COPERNICUS/S2_SR_HARMONIZED" in composite and "Image.visualize" in composite
    assert "JRC/GHSL/P2023A/GHS_BUILT_C" in ghsl


def test_a_busy_earth_engine_is_retried_then_worded(map_ids):
    map_ids.fail_first = True
    made = eelayers.tile_layer(layers.ghsl_source(BERLIN), NO_WAIT)
    assert made.url.endswith("/maps/map2/tiles/{z}/{x}/{y}") and len(map_ids.calls) == 2

    def refuse(params):
        raise ee.EEException("Image.load: Asset 'x' not found.")

    ee.data.getMapId = refuse
    with pytest.raises(EarthEngineError):
        eelayers.tile_layer(layers.ghsl_source(BERLIN), NO_WAIT)


def test_no_layer_is_made_before_the_app_connects(ee_api):  # noqa: F811
    ee.Reset()
    with pytest.raises(EarthEngineError, match="Not connected"):
        eelayers.map_layers(BERLIN, "2018-01-01", "2019-01-01", 0.6)


def test_importing_geemap_neither_authenticates_nor_initialises():
    code = ("import ee\n"
            "def refuse(*a, **k): raise SystemExit('geemap tried ' + refuse.what)\n"
            "ee.Initialize = lambda *a, **k: (setattr(refuse, 'what', 'Initialize'), refuse())\n"
            "ee.Authenticate = lambda *a, **k: (setattr(refuse, 'what', 'Authenticate'), "
            "refuse())\n"
            "import geemap.ee_tile_layers\n"
            "print(ee.data.is_initialized())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("False")
