"""Property-based tests of AOI validation (hypothesis): any rectangle gets a consistent answer."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from urbanseg_core.aoi import from_bounds, parse_geojson, validate
from urbanseg_core.errors import InputError
from urbanseg_core.gee.grid import estimate

lons = st.floats(-179.0, 178.9, allow_nan=False)
lats = st.floats(-79.0, 83.0, allow_nan=False)
sizes = st.floats(0.001, 1.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(west=lons, south=lats, dx=sizes, dy=sizes, limit=st.floats(1, 1000))
def test_rectangles_pass_exactly_when_within_the_limit(west, south, dx, dy, limit):
    east, north = west + dx, min(south + dy, 84.0)
    assume(north > south)
    aoi = from_bounds(west, south, east, north)
    # geodesic area of a lon/lat rectangle: R² (lon2 - lon1)(sin lat2 - sin lat1), within 1 %
    r = 6371.0088
    approx = r * r * math.radians(dx) * abs(math.sin(math.radians(north))
                                            - math.sin(math.radians(south)))
    assert aoi.area_km2 == pytest.approx(approx, rel=0.01)
    if aoi.area_km2 <= limit:
        assert validate(aoi, max_km2=limit) is aoi
    else:
        with pytest.raises(InputError, match="more than the limit"):
            validate(aoi, max_km2=limit)


@settings(max_examples=60, deadline=None)
@given(west=st.floats(-10, 10), south=st.floats(-60, 60), side=st.floats(0.01, 0.2))
def test_estimate_counts_the_10m_pixels_of_the_utm_box(west, south, side):
    aoi = from_bounds(west, south, west + side, south + side)
    est = estimate(aoi)
    # the UTM bounding box of a small lon/lat square holds at least its area in 10 m pixels
    # and at most that of its rotated bounding box (< 2x)
    assert aoi.area_km2 * 1e4 * 0.99 <= est["pixels"] <= aoi.area_km2 * 1e4 * 2.0
    assert est["megabytes"] > 0 and est["total_seconds"] > 0


@settings(max_examples=60, deadline=None)
@given(west=st.floats(-170, 170), south=st.floats(-70, 70), d=st.floats(0.01, 1.0))
def test_self_crossing_polygons_are_refused(west, south, d):
    bowtie = {"type": "Polygon", "coordinates": [[[west, south], [west + d, south + d],
                                                   [west + d, south], [west, south + d],
                                                   [west, south]]]}
    with pytest.raises(InputError, match="not valid"):
        validate(parse_geojson(bowtie))


@given(west=st.floats(170, 179.9), east=st.floats(-179.9, -170))
def test_antimeridian_crossing_bounds_are_refused(west, east):
    with pytest.raises(InputError):
        validate(from_bounds(west, 0, east, 1))
