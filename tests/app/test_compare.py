"""The Compare two dates page through Streamlit's AppTest: two uploads to the from-to table,
the chart and the downloads; plain errors (the same image twice, dates that do not overlap,
date ranges in the wrong order); two Earth Engine date ranges, offline with a fake source.

A tiny random model (``URBANSEG_MODEL``) keeps the runs short: these tests are about the page,
not the model's answer (the change rule is tested in tests/change, the run in tests/runs).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from streamlit.testing.v1 import AppTest

from urbanseg_core.app import earthengine, runner, state
from urbanseg_core.io.scene import Scene
from urbanseg_core.runs.request import RemoteSource
from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import UTM33, textured_reflectance
from .helpers import errors, key, plain

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/5_Compare_dates.py"
SQUARE = {"type": "Polygon", "coordinates": [[[12.50, 52.46], [12.55, 52.46], [12.55, 52.49],
                                              [12.50, 52.49], [12.50, 52.46]]]}


@pytest.fixture(autouse=True)
def _tiny(monkeypatch, tiny_model_path):
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")
    monkeypatch.setenv("URBANSEG_MODEL", str(tiny_model_path))


def _refl(after: bool = False) -> np.ndarray:
    refl = textured_reflectance(64, 64, seed=7)
    if after:  # a season's shift and a new bright surface
        refl = 1.1 * refl + 0.01
        refl[:, 20:36, 24:40] = 0.3
    return refl


def _tif(refl: np.ndarray, x0: float = 330000) -> bytes:
    dn = (refl * 10000).astype("uint16") + 1
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=64, height=64, count=11, dtype="uint16",
                      crs="EPSG:32633", transform=from_origin(x0, 5822040, 10, 10)) as dst:
            dst.write(dn)
            for i, name in enumerate(MODEL_BANDS, start=1):
                dst.set_band_description(i, name)
        return mem.read()


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at: AppTest, which: str, name: str, data: bytes) -> AppTest:
    at.file_uploader(key=key(at, f"change_{which}")).set_value((name, data, "image/tiff")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _compare_button(at: AppTest):
    return at.button(key="w_change_run")


def test_two_uploads_give_the_from_to_table_chart_and_downloads():
    at = _page()
    assert at.title[0].value == "Compare two dates"
    assert _compare_button(at).disabled  # nothing uploaded yet
    _upload(at, "before", "town_2018.tif", _tif(_refl()))
    assert _compare_button(at).disabled
    _upload(at, "after", "town_2023.tif", _tif(_refl(after=True)))
    assert not at.error, errors(at)
    assert not _compare_button(at).disabled
    assert any("town_2018.tif (before) and town_2023.tif (after)" in plain(c.value)
               for c in at.caption)
    _compare_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    result = at.session_state[state.CHANGE_RESULT]
    assert [d["name"] for d in result.dates] == ["town_2018.tif", "town_2023.tif"]
    # the from-to table is the result's nine pairs, in km² and % of the area compared
    frame = at.dataframe[0].value
    assert len(frame) == 9 and list(frame["From (before)"])[:3] == ["other"] * 3
    assert list(frame["Area (km²)"]) == [round(p.area_km2, 4) for p in result.stats.pairs]
    assert frame["Area (km²)"].sum() == pytest.approx(64 * 64 * 100 / 1e6, abs=1e-3)
    assert frame["Share of the area compared (%)"].sum() == pytest.approx(100, abs=0.01)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Area compared"] == "0.41 km²"
    s = result.stats
    assert metrics["Class changed"] == (f"{s.changed_km2:,.3f} km² "
                                        f"({100 * s.changed_share:.2f} %)")
    assert metrics["New built-up area"] == f"{result.new_built_up_km2:,.3f} km²"
    assert any("Net change (after − before)" in plain(c.value) for c in at.caption)
    # the class chart: each class at both dates
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["encoding"]["color"]["scale"]["range"] == result.colours
    assert spec["encoding"]["xOffset"]["field"] == "date"
    for key_ in ("w_dl_change_tif", "w_dl_change_csv", "w_dl_change_geojson",
                 "w_dl_change_json"):
        assert at.download_button(key=key_) is not None
    table = list(csv.DictReader(io.StringIO(result.download("change-csv").decode())))
    assert [float(r["area_km2"]) for r in table] == list(frame["Area (km²)"])
    assert json.loads(result.download("new-built-geojson"))["type"] == "FeatureCollection"
    # the same inputs again come from the cache; a page switch keeps result and uploads
    _compare_button(at).click().run()
    assert at.session_state[state.CHANGE_RESULT].run_id == result.run_id
    at.switch_page("pages/1_Map_and_run.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception and at.session_state[state.CHANGE_RESULT] is result
    assert not _compare_button(at).disabled and len(at.dataframe) == 1


def test_the_same_image_twice_and_dates_that_do_not_overlap_are_plain_errors():
    at = _page()
    before = _tif(_refl())
    _upload(at, "before", "a.tif", before)
    _upload(at, "after", "a again.tif", before)
    assert "same image as before" in errors(at)
    assert _compare_button(at).disabled
    _upload(at, "after", "far away.tif", _tif(_refl(), x0=400000))  # 70 km east
    assert not _compare_button(at).disabled
    _compare_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "do not overlap" in errors(at) and "Traceback" not in errors(at)
    assert at.session_state[state.CHANGE_RESULT] is None
    # inputs kept: both dates are still chosen, the error stays until the next run
    assert at.session_state["urbanseg_change_upload_after"]["name"] == "far away.tif"
    at.run()
    assert "do not overlap" in errors(at)
    # a file that is not an image: a plain error, Compare stays off
    _upload(at, "after", "notes.tif", b"not a GeoTIFF")
    assert "could not be read as a raster" in errors(at)
    assert _compare_button(at).disabled
    # an image whose bands need the band form, given twice: said once, no clash of forms
    five = _tif(_refl())
    with MemoryFile(five) as mem, mem.open() as src:
        data, profile = src.read()[:5], {**src.profile, "count": 5}
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        five = mem.read()
    _upload(at, "before", "five.tif", five)
    _upload(at, "after", "five.tif", five)
    assert "same image as before" in errors(at) and _compare_button(at).disabled


def _composite(refl: np.ndarray) -> Scene:
    return Scene(refl, np.ones(refl.shape[1:], bool), UTM33,
                 from_origin(330000, 5822040, 10, 10), "composite", MODEL_BANDS)


@pytest.fixture
def connected(monkeypatch):
    """Earth Engine connected, its composites faked by date: ``asked`` lists the requests."""
    asked = []
    scenes = {"2018-01-01": _composite(_refl()), "2023-01-01": _composite(_refl(True))}

    def scene(request, progress):
        asked.append(request)
        progress(1.0)
        return scenes[request.start]

    monkeypatch.setattr(earthengine, "status",
                        lambda: earthengine.Status("connected", "Connected to project demo"))
    monkeypatch.setattr(runner, "EARTH_ENGINE",
                        RemoteSource(scene, lambda r, s: None, "none", lambda r: 4096))
    return asked


def test_two_earth_engine_date_ranges_of_one_drawn_area(connected):
    at = _page()
    at.radio(key=key(at, "change_source")).set_value("earthengine").run()
    assert _compare_button(at).disabled  # no area yet
    at.file_uploader(key=key(at, "aoi_upload")).set_value(
        ("aoi.geojson", json.dumps(SQUARE).encode(), "application/geo+json")).run()
    assert not at.exception, [e.value for e in at.exception]
    # date ranges in the wrong order: one sentence, Compare off
    at.date_input(key=key(at, "change_after")).set_value(
        (date(2018, 6, 1), date(2018, 12, 31))).run()
    assert _compare_button(at).disabled
    assert any("before dates must end before the after dates start" in plain(c.value)
               for c in at.caption)
    at.date_input(key=key(at, "change_after")).set_value(
        (date(2023, 1, 1), date(2023, 12, 31))).run()
    assert not _compare_button(at).disabled
    _compare_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert [(r.start, r.end, r.cloud_threshold) for r in connected] == [
        ("2018-01-01", "2019-01-01", 0.6), ("2023-01-01", "2024-01-01", 0.6)]
    assert json.loads(connected[0].aoi) == json.loads(connected[1].aoi) == SQUARE
    result = at.session_state[state.CHANGE_RESULT]
    assert result.dates[0]["start"] == "2018-01-01" and len(at.dataframe) == 1
    # the settings survive a page switch into what Compare uses
    at.switch_page("pages/4_About.py").run()
    at.switch_page(PAGE).run()
    assert at.radio(key=key(at, "change_source")).value == "earthengine"
    assert at.date_input(key=key(at, "change_after")).value == (date(2023, 1, 1),
                                                                 date(2023, 12, 31))
    assert not any("result is for earlier inputs" in i.value for i in at.info)
