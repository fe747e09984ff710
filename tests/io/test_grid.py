"""Pixel grids: the one UTM grid helper, CRS units, pixel sizes (hand-computed expectations)."""

from __future__ import annotations

import pytest
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from urbanseg_core.io.grid import (Grid, crs_name, is_geographic, linear_unit_m, utm_crs_for,
                                   utm_grid)


def test_an_aligned_utm_footprint_keeps_its_grid():
    grid = utm_grid((330000.0, 5814360.0, 340240.0, 5822040.0), "EPSG:32633", 10.0)
    assert grid.crs.to_epsg() == 32633
    assert (grid.width, grid.height) == (1024, 768)  # 10,240 m x 7,680 m at 10 m
    assert tuple(grid.transform)[:6] == (10.0, 0.0, 330000.0, 0.0, -10.0, 5822040.0)


def test_a_footprint_in_degrees_gets_a_covering_10_m_utm_grid():
    bounds = (13.30, 52.50, 13.40, 52.56)
    grid = utm_grid(bounds, "EPSG:4326", 10.0)
    assert grid.crs == utm_crs_for(13.35, 52.53) == CRS.from_epsg(32633)
    x0, y0 = grid.transform.c, grid.transform.f
    assert x0 % 10 == 0 and y0 % 10 == 0
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    for lon in (13.30, 13.35, 13.40):
        for lat in (52.50, 52.53, 52.56):
            x, y = to_utm.transform(lon, lat)
            assert x0 <= x <= x0 + 10 * grid.width and y0 - 10 * grid.height <= y <= y0


@pytest.mark.parametrize("epsg, factor", [(32633, 1.0), (2264, 0.3048006096)])
def test_crs_units_in_metres(epsg, factor):
    assert linear_unit_m(CRS.from_epsg(epsg)) == pytest.approx(factor)
    assert linear_unit_m(f"EPSG:{epsg}") == pytest.approx(factor)


@pytest.mark.parametrize("crs, name, geographic", [
    (CRS.from_epsg(32643), "WGS 84 / UTM zone 43N", False),
    ("EPSG:2154", "RGF93 v1 / Lambert-93", False),
    ("EPSG:4326", "WGS 84", True),
    (ProjCRS.from_epsg(2227), "NAD83 / California zone 3 (ftUS)", False),
])
def test_crs_names_as_their_definitions_give_them(crs, name, geographic):
    assert crs_name(crs) == name and is_geographic(crs) is geographic


def test_window_and_pixel_size():
    grid = Grid(100, 200, CRS.from_epsg(32633), from_origin(1000, 5000, 20, 20))
    sub = grid.window(10, 5, 3, 4)
    assert (sub.height, sub.width) == (3, 4)
    assert (sub.transform.c, sub.transform.f) == (1000 + 5 * 20, 5000 - 10 * 20)
    assert grid.pixel_size_m == 20 and grid.crs_code == "EPSG:32633"
    assert grid.bounds == (1000, 3000, 5000, 5000)
