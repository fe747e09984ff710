"""A change run without Streamlit: the request's cache key, two uploaded dates or two Earth
Engine composites to a from-to result, its map layers and downloads, plain errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from urbanseg_core.change import detect_change
from urbanseg_core.errors import BandOrderError, InputError
from urbanseg_core.io.scene import Scene
from urbanseg_core.runs.change_compute import (CHANGE_BYTES_PER_PX, changed_only,
                                               change_memory_need, compute_change)
from urbanseg_core.runs.change_request import ChangeRequest
from urbanseg_core.runs.load import FIXED_BYTES
from urbanseg_core.runs.request import RemoteSource, RunRequest
from urbanseg_core.runs.uploads import save_band_uploads
from urbanseg_core.sentinel2 import MODEL_BANDS

from ..change.test_change import ORIGIN, concrete, dn_geotiff, red_model, vegetation  # noqa: F401
from ..conftest import UTM33, write_geotiff

BLOCK = (slice(20, 36), slice(24, 40))  # 16 x 16 px = 256 px of 100 m² = 0.0256 km²


def _upload(name: str, path, sha: str, **kw) -> RunRequest:
    return RunRequest(kind="upload", name=name, path=str(path), sha256=sha, **kw)


def _upload_request(before, after, **kw) -> ChangeRequest:
    return ChangeRequest(_upload("before.tif", before, "a" * 64, **kw),
                         _upload("after.tif", after, "b" * 64, **kw))


def _ee(name: str, start: str, end: str = "", aoi: str | None = None,
        cloud: float | None = None) -> RunRequest:
    return RunRequest(kind="earthengine", name=name, aoi=aoi, start=start, end=end,
                      cloud_threshold=cloud)


@pytest.fixture
def two_dates(tmp_path):
    before = vegetation(64, 64)
    after = concrete(1.1 * before + 0.01, *BLOCK)  # a new building, and a season's shift
    return (dn_geotiff(tmp_path / "before.tif", before),
            dn_geotiff(tmp_path / "after.tif", after))


def test_the_key_depends_on_content_and_settings_not_on_paths():
    a = _upload_request("/tmp/x/before.tif", "/tmp/x/after.tif")
    moved = _upload_request("/elsewhere/before.tif", "/elsewhere/after.tif")
    assert a.key("m") == moved.key("m")
    assert a.key("m") != a.key("other model")
    assert a.key("m") != _upload_request("b", "a", dn_offset=-1000.0).key("m")
    swapped = ChangeRequest(a.after, a.before)
    assert a.key("m") != swapped.key("m")
    aoi = '{"type": "Polygon"}'
    ee = ChangeRequest(_ee("2018", "2018-01-01", "2019-01-01", aoi, 0.6),
                       _ee("2023", "2023-01-01", "2024-01-01", aoi, 0.6))
    later = ChangeRequest(ee.before, _ee("2024", "2024-01-01", "2025-01-01", aoi, 0.6))
    assert ee.key("m") != later.key("m")
    # a segmentation run of one date has another key than the change
    assert ee.key("m") not in (ee.before.key("m"), ee.after.key("m"))
    with pytest.raises(ValueError, match="one kind"):
        ChangeRequest(a.before, ee.after)
    with pytest.raises(ValueError, match="one kind"):
        ChangeRequest(RunRequest(kind="sample", name="s"), RunRequest(kind="sample", name="s"))


def test_two_uploads_give_the_from_to_table_maps_and_downloads(two_dates, red_model):
    stages = []
    request = _upload_request(*two_dates)
    result = compute_change(request, red_model, lambda s, f: stages.append((s, f)))
    expected = np.zeros((64, 64), "uint8")
    expected[BLOCK] = 2  # other -> residential
    assert np.array_equal(result.change.codes, expected)
    assert result.run_id == request.key(red_model.sha256)
    assert result.new_built_up_km2 == pytest.approx(0.0256)
    assert [d["name"] for d in result.dates] == ["before.tif", "after.tif"]
    assert {s for s, _ in stages} == {"read", "predict", "maps"} and stages[-1] == ("maps", 1.0)
    rows = {(r["class"], r["date"]): r["area_km2"] for r in result.class_area_rows()}
    assert rows[("residential", "before")] == 0 and rows[("residential", "after")] == 0.0256
    assert rows[("other", "before")] == pytest.approx(0.4096)
    # map layers: both dates' images and classes, and the change (only where it changed)
    for layer in ("before_true_colour", "after_true_colour", "before_layer", "after_layer",
                  "change_layer"):
        assert getattr(result, layer) is not None, layer
    assert result.outline["type"] == "Polygon"
    # downloads: the from-to GeoTIFF, the table as CSV, new built-up polygons in EPSG:4326
    with MemoryFile(result.download("change-tif")) as mem, mem.open() as src:
        assert src.crs == UTM33 and np.array_equal(src.read(1), expected)
    table = list(csv.DictReader(io.StringIO(result.download("change-csv").decode())))
    assert len(table) == 9 and table[2]["from"] == "other" and table[2]["to"] == "residential"
    assert float(table[2]["area_km2"]) == pytest.approx(0.0256)
    assert float(table[2]["share_%"]) == pytest.approx(100 * 256 / 4096, abs=0.001)
    polygons = json.loads(result.download("new-built-geojson"))
    assert [f["properties"]["class"] for f in polygons["features"]] == ["other -> residential"]
    lon, lat = np.array(polygons["features"][0]["geometry"]["coordinates"][0]).T
    assert 12.4 < lon.min() < lon.max() < 12.6 and 52.5 < lat.min() < lat.max() < 52.6
    assert json.loads(result.download("change-json"))["before"] == "before.tif"
    assert result.file_name("change-csv") == "urbanseg_change_before_to_after_change_table.csv"
    assert result.mime("new-built-geojson") == "application/geo+json"


def test_plain_errors_for_the_same_image_twice_and_dates_that_do_not_overlap(tmp_path,
                                                                              red_model):
    before = dn_geotiff(tmp_path / "a.tif", vegetation(32, 32))
    same = ChangeRequest(_upload("a.tif", before, "s" * 64),
                         _upload("a copy.tif", before, "s" * 64))
    with pytest.raises(InputError, match="same image"):
        compute_change(same, red_model)
    far = dn_geotiff(tmp_path / "far.tif", vegetation(32, 32),
                     transform=from_origin(ORIGIN[0] + 50_000, ORIGIN[1], 10, 10))
    with pytest.raises(InputError, match="do not overlap"):
        compute_change(_upload_request(before, far), red_model)
    five = write_geotiff(tmp_path / "five.tif", np.full((5, 32, 32), 900, "uint16"),
                         ["B2", "B3", "B4", "B8", "B11"])
    with pytest.raises(BandOrderError, match="B5"):  # bands missing: names them
        compute_change(_upload_request(before, five), red_model)


def test_memory_need_grows_with_the_before_date(two_dates):
    need = change_memory_need(_upload_request(*two_dates))
    assert need == FIXED_BYTES + CHANGE_BYTES_PER_PX * 64 * 64


def _scene(refl, crs=UTM33) -> Scene:
    return Scene(refl, np.ones(refl.shape[1:], bool), crs, from_origin(*ORIGIN, 10, 10),
                 "composite", MODEL_BANDS)


def _fake_earth_engine(scenes: dict[str, Scene], asked: list):
    def scene(request, progress):
        asked.append(request)
        progress(1.0)
        return scenes[request.start]

    return RemoteSource(scene, lambda request, scene: None, "none",
                        pixels=lambda request: 4096)


def test_two_earth_engine_composites_of_one_area(red_model):
    before = vegetation(64, 64)
    scenes = {"2018-01-01": _scene(before),
              "2023-01-01": _scene(concrete(before, *BLOCK))}
    asked: list[RunRequest] = []
    remote = _fake_earth_engine(scenes, asked)
    aoi = '{"type": "Polygon", "coordinates": []}'
    request = ChangeRequest(_ee("2018", "2018-01-01", "2019-01-01", aoi, 0.7),
                            _ee("2023", "2023-01-01", "2024-01-01", aoi, 0.7))
    result = compute_change(request, red_model, remote=remote)
    assert [(r.start, r.end, r.aoi, r.cloud_threshold) for r in asked] == [
        ("2018-01-01", "2019-01-01", aoi, 0.7), ("2023-01-01", "2024-01-01", aoi, 0.7)]
    assert result.new_built_up_km2 == pytest.approx(0.0256)
    assert result.dates[1]["start"] == "2023-01-01"
    assert change_memory_need(request, remote) == FIXED_BYTES + CHANGE_BYTES_PER_PX * 4096
    with pytest.raises(ValueError, match="remote source"):
        compute_change(request, red_model)


def test_dates_without_a_crs_are_shown_as_pictures(red_model):
    before = vegetation(64, 64)
    scenes = {"a": _scene(before, None), "b": _scene(concrete(before, *BLOCK), None)}
    request = ChangeRequest(_ee("a", "a"), _ee("b", "b"))
    result = compute_change(request, red_model, remote=_fake_earth_engine(scenes, []))
    assert result.before_layer is None and result.change_layer is None
    for which in ("before", "after", "change"):
        assert result.picture_png(which).startswith(b"\x89PNG")
    assert (changed_only(result.change.codes) != 255).sum() == 256


@pytest.mark.realdata
def test_oscd_band_file_uploads_give_the_command_lines_answer(shared_data, bundled_model):
    """Two dates uploaded as band files (the OSCD layout, as the page takes them) give the
    same from-to map as ``urbanseg change imgs_1/ imgs_2/`` on the folders."""
    city = shared_data / "oscd_cities" / "montpellier"
    dates = []
    for folder in ("imgs_1", "imgs_2"):
        files = [(p.name, p.read_bytes()) for p in sorted((city / folder).glob("*.tif"))]
        stacked = save_band_uploads(files)
        dates.append(_upload(stacked.path.name, stacked.path, stacked.sha256))
    result = compute_change(ChangeRequest(*dates), bundled_model)
    folders = detect_change(city / "imgs_1", city / "imgs_2", bundled_model)
    assert np.array_equal(result.change.codes, folders.codes)
    assert result.change.changed.any()  # two years apart: some change is found
    assert result.stats.overlap_km2 == pytest.approx(folders.stats.overlap_km2)
