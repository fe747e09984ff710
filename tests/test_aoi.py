"""AOI parsing, validation and sizing (no Earth Engine needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pyproj import Geod, Transformer

from affine import Affine
from rasterio.crs import CRS

from urbanseg_core.aoi import (AOI, from_bounds, from_folium_drawing, parse_collection,
                               parse_geojson, validate)
from urbanseg_core.errors import InputError
from urbanseg_core.gee.grid import (REQUEST_LIMIT_BYTES, bytes_per_pixel, estimate, grid_for_aoi,
                                    plan_chunks)
from urbanseg_core.io.grid import Grid

BERLIN = (13.30, 52.50, 13.40, 52.56)


def _square(west, south, east, north):
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def test_from_bounds_area_is_geodesic():
    aoi = from_bounds(*BERLIN)
    # Independent check: the four corners' polygon area with pyproj's Geod directly.
    lons = [13.30, 13.40, 13.40, 13.30]
    lats = [52.50, 52.50, 52.56, 52.56]
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    assert aoi.area_km2 == pytest.approx(abs(area) / 1e6, rel=1e-9)
    # 0.1° x 0.06° at 52.5° N is about 6.8 km x 6.7 km.
    assert 40 < aoi.area_km2 < 50


@pytest.mark.parametrize("bad", [(13.4, 52.5, 13.3, 52.6), (13.3, 52.6, 13.4, 52.5),
                                 (170, 10, 200, 11), ("a", 1, 2, 3)])
def test_from_bounds_rejects_bad_bounds(bad):
    with pytest.raises(InputError):
        from_bounds(*bad)


def test_parse_geojson_feature_collection_and_name():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "a"},
         "geometry": {"type": "Polygon", "coordinates": [_square(13.3, 52.5, 13.35, 52.55)]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [_square(13.35, 52.5, 13.4, 52.55)]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                           "coordinates": [13, 52]}},
    ]}
    merged = parse_geojson(json.dumps(fc))
    assert merged.bounds == pytest.approx((13.3, 52.5, 13.4, 52.55))
    feat = parse_geojson(fc["features"][0])
    assert feat.name == "a"
    aois = parse_collection(fc)
    assert [a.name for a in aois] == ["a", "aoi_2"]


@pytest.mark.parametrize("text", ["not json", '{"type": "Point", "coordinates": [1, 2]}',
                                  "[1, 2]", '{"type": "Polygon", "coordinates": [[[1]]]}'])
def test_parse_geojson_plain_errors(text):
    with pytest.raises(InputError) as err:
        parse_geojson(text)
    assert "Traceback" not in str(err.value) and str(err.value).endswith(".")


def test_parse_geojson_reprojects_old_crs_member():
    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    ring = [list(tr.transform(x, y)) for x, y in _square(*BERLIN)]
    gj = {"type": "Polygon", "coordinates": [ring],
          "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}
    aoi = parse_geojson(gj)
    assert aoi.bounds == pytest.approx(BERLIN, abs=1e-9)


def test_from_folium_drawing_rectangle_and_refusals():
    drawing = {"type": "Feature", "properties": {},
               "geometry": {"type": "Polygon", "coordinates": [_square(*BERLIN)]}}
    aoi = from_folium_drawing(drawing)
    assert aoi.bounds == pytest.approx(BERLIN)
    # all_drawings: the last polygon wins, markers are skipped
    marker = {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                                "coordinates": [1, 2]}}
    assert from_folium_drawing([drawing, marker]).bounds == pytest.approx(BERLIN)
    with pytest.raises(InputError, match="Nothing is drawn"):
        from_folium_drawing(None)
    with pytest.raises(InputError, match="not an area"):
        from_folium_drawing(marker)
    circle = {**marker, "properties": {"radius": 500}}
    with pytest.raises(InputError, match="Circles"):
        from_folium_drawing(circle)


def test_folium_wrapped_longitudes_are_shifted_back():
    ring = [[x + 360, y] for x, y in _square(*BERLIN)]
    aoi = from_folium_drawing({"type": "Feature", "properties": {},
                               "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert aoi.bounds == pytest.approx(BERLIN)


def test_validate_area_limit_self_intersection_and_antimeridian():
    big = from_bounds(13.0, 52.0, 14.0, 53.0)  # ~7,500 km²
    with pytest.raises(InputError, match="limit of 500 km²"):
        validate(big)
    assert validate(big, max_km2=10_000) is big
    bowtie = parse_geojson({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0],
                                                                [0, 1], [0, 0]]]})
    with pytest.raises(InputError, match="not valid"):
        validate(bowtie)
    crossing = parse_geojson({"type": "Polygon", "coordinates": [[[179.9, 0], [-179.9, 0],
                                                                  [-179.9, 0.1], [179.9, 0.1],
                                                                  [179.9, 0]]]})
    with pytest.raises(InputError, match="antimeridian"):
        validate(crossing, max_km2=1e9)
    polar = from_bounds(10, 84.5, 10.5, 84.6)
    with pytest.raises(InputError, match="latitude"):
        validate(polar)


def test_grid_is_utm_aligned_and_covers_the_aoi():
    aoi = from_bounds(*BERLIN)
    grid = grid_for_aoi(aoi)
    assert grid.crs_code == "EPSG:32633"
    x0, y0 = grid.transform.c, grid.transform.f
    assert x0 % 10 == 0 and y0 % 10 == 0
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    xs, ys = tr.transform(np.linspace(BERLIN[0], BERLIN[2], 50).repeat(50),
                          np.tile(np.linspace(BERLIN[1], BERLIN[3], 50), 50))
    right, bottom = x0 + 10 * grid.width, y0 - 10 * grid.height
    assert xs.min() >= x0 and xs.max() <= right
    assert ys.max() <= y0 and ys.min() >= bottom
    # snapped outwards by less than one pixel
    assert xs.min() - x0 < 10 and right - xs.max() < 10
    assert tuple(grid.transform)[:6] == (10.0, 0.0, x0, 0.0, -10.0, y0)
    south = grid_for_aoi(from_bounds(-47.0, -23.6, -46.9, -23.5))
    assert south.crs_code == "EPSG:32723"


@pytest.mark.parametrize("size", [(1, 1), (230, 277), (5000, 3001), (20000, 15000)])
def test_chunk_plan_stays_under_limit_and_covers_once(size):
    height, width = size
    grid = Grid(height, width, CRS.from_epsg(32633), Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0))
    bpp = bytes_per_pixel(["float32"] * 11 + ["uint16"])
    assert bpp == 11 * 5 + 3
    for max_side in (1024, 32768):
        chunks = plan_chunks(grid, bpp, max_side=max_side)
        for c in chunks:
            assert c.height * c.width * bpp <= REQUEST_LIMIT_BYTES
            assert c.height <= max_side and c.width <= max_side
        # exact cover: row bands and column bands each tile their axis without gap/overlap,
        # and every (row band, column band) pair is one chunk
        for offs, total in (({c.row: c.height for c in chunks}, height),
                            ({c.col: c.width for c in chunks}, width)):
            edges = sorted(offs)
            assert edges[0] == 0
            for a, b in zip(edges, edges[1:] + [total]):
                assert a + offs[a] == b
        assert len({(c.row, c.col) for c in chunks}) == len(chunks)
        assert sum(c.height * c.width for c in chunks) == height * width


def test_estimate_counts_what_will_be_fetched():
    aoi = from_bounds(*BERLIN)
    est = estimate(aoi)
    grid = grid_for_aoi(aoi)
    assert est["pixels"] == grid.width * grid.height
    # a rectangle in degrees fills most of its UTM bbox: pixels ~ area / 100 m²
    assert 1.0 <= est["pixels"] / (aoi.area_km2 * 1e4) < 1.1
    assert est["megabytes"] == pytest.approx(est["pixels"] * 58 / 1e6, abs=0.06)
    # requests: near-square chunks of at most 907 px a side (95 % of 48 MiB at 58 B/px)
    side = min(math.isqrt(int(48 * 1024 * 1024 * 0.95) // 58), 1024)
    assert side == 907
    assert est["requests"] == math.ceil(grid.height / side) * math.ceil(grid.width / side)
    assert est["fetch_seconds"] > 0 and est["inference_seconds"] > 0
    bigger = estimate(from_bounds(13.3, 52.5, 13.5, 52.62))
    assert bigger["pixels"] > est["pixels"] and bigger["total_seconds"] > est["total_seconds"]


def test_aoi_is_hashable_and_keyed():
    a, b = from_bounds(*BERLIN), from_bounds(*BERLIN)
    assert hash(a) == hash(b) and a.key == b.key
    assert isinstance(a, AOI) and a.to_geojson()["type"] == "Polygon"
