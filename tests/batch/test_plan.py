"""Fast unit tests of the batch building blocks (no cluster): tile plan, sidecars, sources."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.transform import from_origin

from urbanseg_core.batch.mosaic import stats_rows
from urbanseg_core.batch.plan import BatchTile, Grid, plan_batch, plan_batch_axis
from urbanseg_core.batch.sources import fit_scene, grid_from_aoi, read_aoi
from urbanseg_core.batch.store import (
    FORMAT, atomic_write, clean_stale_tmp, verify_tile, write_sidecar,
)
from urbanseg_core.errors import EarthEngineError, InputError
from urbanseg_core.inference.tiling import plan_axis
from urbanseg_core.io.scene import Scene
from urbanseg_core.util import sha256_file

UTM = CRS.from_epsg(32633)


def _global_cores(n: int, tile: int, overlap: int) -> dict[int, tuple[int, int]]:
    """start -> (core_start, core_end, size) of the whole-axis model tiles, as
    :func:`urbanseg_core.inference.tiling.plan_tiles` lays them (small axes: one shrunk tile)."""
    size = min(tile, -(-n // 16) * 16)
    return {s.start: (s.core_start, s.core_end, s.size)
            for s in plan_axis(n, size, overlap if size == tile else 0)}


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 4000), strides=st.integers(1, 7),
       geometry=st.sampled_from([(256, 64), (256, 0), (300, 0), (128, 32)]))
def test_batch_axis_reproduces_whole_raster_model_tiles(n, strides, geometry):
    """Inside each batch tile, the model tiles and their kept cores are exactly those of
    the whole-raster plan, so the batch mosaic can equal a single-process prediction."""
    tile, overlap = geometry
    spans = plan_batch_axis(n, tile, overlap, strides)
    # cores partition [0, n) in order; reads contain cores and stay inside the axis
    assert spans[0][0] == 0 and spans[-1][1] == n
    for (a0, a1, r0, r1), nxt in zip(spans, spans[1:] + [None]):
        assert 0 <= r0 <= a0 < a1 <= r1 <= n
        if nxt is not None:
            assert nxt[0] == a1
    whole = _global_cores(n, tile, overlap)
    for core_start, core_end, read_start, read_end in spans:
        length = read_end - read_start
        size = min(tile, -(-length // 16) * 16)
        local = plan_axis(length, size, overlap if size == tile else 0)
        for s in local:
            lo = max(read_start + s.core_start, core_start)
            hi = min(read_start + s.core_end, core_end)
            if lo >= hi:
                continue  # this model tile only covers the margin, which is cropped
            g = whole[read_start + s.start]  # same origin exists in the whole plan...
            assert g[2] == s.size  # ...with the same size
            assert g[0] <= lo and hi <= g[1]  # and keeps these pixels from the same tile


def test_plan_batch_rounds_tile_km_to_model_strides():
    grid = Grid(768, 1024, UTM, from_origin(330000, 5822040, 10, 10))
    tiles, strides = plan_batch(grid, 5.0, 256, 64)
    assert strides == 3  # 5 km / (192 px * 10 m) = 2.6 -> 3 strides of 1.92 km
    cover = np.zeros((768, 1024), int)
    for t in tiles:
        cover[t.row:t.row + t.height, t.col:t.col + t.width] += 1
        assert t.read_row <= t.row and t.read_col <= t.col
        assert t.read_row + t.read_height >= t.row + t.height
    assert (cover == 1).all()
    small, strides = plan_batch(grid, 0.1, 256, 64)
    assert strides == 1 and len(small) > len(tiles)
    with pytest.raises(InputError):
        plan_batch(grid, 0, 256, 64)
    with pytest.raises(InputError):
        plan_batch(grid, float("nan"), 256, 64)


def test_batch_tile_bounds_follow_the_grid():
    grid = Grid(768, 1024, UTM, from_origin(330000, 5822040, 10, 10))
    tile = BatchTile(416, 800, 352, 224, 384, 768, 384, 256)
    assert tile.bounds(grid) == (338000.0, 5814360.0, 340240.0, 5817880.0)
    assert tile.read_bounds(grid) == (337680.0, 5814360.0, 340240.0, 5818200.0)
    assert tile.name == "r000416_c000800"


def test_pixel_size_in_metres_for_projected_geographic_and_missing_crs():
    assert Grid(10, 10, UTM, from_origin(0, 0, 20, 20)).pixel_size_m == 20
    geo = Grid(10, 10, CRS.from_epsg(4326), from_origin(0, 0.0005, 1e-4, 1e-4))
    assert geo.pixel_size_m == pytest.approx(11.13, abs=0.02)  # 1e-4 deg at the equator
    assert Grid(10, 10, None, from_origin(0, 0, 1, 1)).pixel_size_m == 10


def _identity(name="r000000_c000000"):
    return {"format": FORMAT, "tile": name, "model_sha256": "m" * 64, "input": "i" * 64,
            "crs": "EPSG:32633", "bounds": [0.0, 0.0, 10.0, 10.0], "window": [0, 0, 1, 1],
            "read_window": [0, 0, 1, 1], "model_tile_size": 256, "model_overlap": 64}


def test_verify_tile_accepts_only_finished_matching_tiles(tmp_path):
    tif, side = tmp_path / "t.tif", tmp_path / "t.json"
    tif.write_bytes(b"pixels")
    ident = _identity()
    assert verify_tile(tif, side, ident) is None  # no sidecar: not finished
    write_sidecar(side, dict(ident, sha256=sha256_file(tif)))
    assert verify_tile(tif, side, ident) is not None
    assert verify_tile(tif, side, dict(ident, model_sha256="x" * 64)) is None  # other model
    assert verify_tile(tif, side, dict(ident, bounds=[0.0, 0.0, 10.0, 20.0])) is None
    tif.write_bytes(b"pixel")  # truncated / changed after the sidecar
    assert verify_tile(tif, side, ident) is None
    side.write_text("{not json")
    assert verify_tile(tif, side, ident) is None


def test_atomic_write_leaves_nothing_on_failure_and_stale_tmp_is_cleaned(tmp_path):
    final = tmp_path / "a.tif"

    def boom(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(final, boom)
    assert not final.exists() and list(tmp_path.iterdir()) == []
    atomic_write(final, lambda tmp: tmp.write_bytes(b"whole"))
    assert final.read_bytes() == b"whole"
    (tmp_path / ".a.tif.123.abcd.tmp").write_bytes(b"left by a killed worker")
    assert clean_stale_tmp(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["a.tif"]


def test_fit_scene_crops_to_the_window_and_refuses_other_grids():
    refl = np.arange(11 * 6 * 8, dtype="float32").reshape(11, 6, 8)
    scene = Scene(refl, np.ones((6, 8), bool), UTM, from_origin(1000, 2000, 10, 10))
    out = fit_scene(scene, from_origin(1020, 1990, 10, 10), 4, 5)
    assert out.shape == (4, 5)
    np.testing.assert_array_equal(out.reflectance, refl[:, 1:5, 2:7])
    with pytest.raises(EarthEngineError):
        fit_scene(scene, from_origin(1025, 1990, 10, 10), 4, 5)  # half a pixel off
    with pytest.raises(EarthEngineError):
        fit_scene(scene, from_origin(1020, 1990, 10, 10), 6, 5)  # not covered


def test_read_aoi_and_its_utm_grid(tmp_path):
    path = tmp_path / "aoi.geojson"
    ring = [[13.30, 52.50], [13.35, 52.50], [13.35, 52.53], [13.30, 52.53], [13.30, 52.50]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    grid = grid_from_aoi(read_aoi(path))
    assert grid.crs == CRS.from_epsg(32633)
    assert grid.transform.a == 10 and grid.transform.c % 10 == 0 and grid.transform.f % 10 == 0
    assert 300 < grid.width < 400 and 300 < grid.height < 400  # ~3.4 km x 3.3 km
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InputError):
        read_aoi(bad)
    bad.write_text(json.dumps({"type": "Point", "coordinates": [13.3, 52.5]}))
    with pytest.raises(InputError, match="no polygon"):
        read_aoi(bad)
    with pytest.raises(InputError, match="not found"):
        read_aoi(tmp_path / "missing.geojson")


def test_stats_rows_total_is_the_sum_of_tiles():
    grid = Grid(20, 10, UTM, from_origin(0, 200, 10, 10))
    tiles = [BatchTile(0, 0, 10, 10, 0, 0, 10, 10), BatchTile(10, 0, 10, 10, 10, 0, 10, 10)]
    names = ["other", "non-residential", "residential"]
    recs = [{"area_km2": {"other": 0.006, "non-residential": 0.001, "residential": 0.003},
             "valid_km2": 0.01, "nodata_km2": 0.0},
            {"area_km2": {"other": 0.002, "non-residential": 0.0, "residential": 0.005},
             "valid_km2": 0.007, "nodata_km2": 0.003}]
    rows = stats_rows("x", tiles, recs, grid, names)
    total = rows[-1]
    assert total["tile"] == "TOTAL" and float(total["valid_km2"]) == pytest.approx(0.017)
    assert float(total["residential_km2"]) == pytest.approx(0.008)
    assert float(total["built_up_share"]) == pytest.approx(0.009 / 0.017, abs=1e-6)
    assert float(rows[0]["other_share"]) == pytest.approx(0.6)


def test_file_input_in_degrees_is_tiled_on_a_10_m_utm_grid(tmp_path):
    from urbanseg_core.batch import file_input
    from urbanseg_core.batch.inputs import prepare_input

    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", height=20, width=20, count=11, dtype="uint16",
                       crs="EPSG:4326", transform=from_origin(9.1, 45.5, 1e-4, 1e-4)) as dst:
        data = np.random.default_rng(0).integers(500, 3000, (11, 20, 20)).astype("uint16")
        dst.write(data)
    inp = file_input(path)
    assert inp.warp and inp.grid.crs.to_epsg() == 32632  # UTM zone of 9.1 E
    assert inp.grid.transform.a == 10 and inp.grid.transform.c % 10 == 0
    assert "geographic" in inp.description["warped"]["reason"]
    ready = prepare_input(inp, tmp_path)
    assert not ready.warp and ready.source.path.endswith("input_warped.vrt")
    with rasterio.open(ready.source.path) as vrt:
        assert (vrt.crs.to_epsg(), vrt.shape) == (32632, (inp.grid.height, inp.grid.width))
        band = vrt.read(1)
    assert inp.description["warped"]["resampling"] == "nearest"
    inside = band[band != 0]
    assert inside.size > 100 and np.isin(inside, data[0]).all()  # values kept, not smoothed


def test_default_gee_fetch_without_credentials_is_a_plain_error(monkeypatch, tmp_path):
    pytest.importorskip("ee")
    from urbanseg_core.batch import sources

    for var in ("EE_SERVICE_ACCOUNT_KEY", "EE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sources, "_EE_READY", False)
    with pytest.raises(EarthEngineError, match="^Not connected: no Earth Engine credentials"):
        sources.gee_fetch((0, 0, 100, 100), UTM, 10.0, aoi={"type": "Polygon", "coordinates": []})
