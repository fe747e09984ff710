"""Class maps as GeoJSON polygons (EPSG:4326)."""

from __future__ import annotations


import numpy as np
import pytest
from rasterio.transform import from_origin
from shapely.geometry import shape

from urbanseg_core.io.vectorize import class_polygons

from ..conftest import NAMES, T, UTM33



def test_polygons_trace_each_built_up_area_in_lonlat():
    classes = np.zeros((20, 20), dtype="uint8")
    classes[2:5, 3:7] = 1        # 3 x 4 = 12 px non-residential
    classes[10:18, 10:12] = 2    # 8 x 2 = 16 px residential
    classes[0, 19] = 2           # a 1-px speck: dropped (min_pixels=4)
    classes[19, :] = 255         # nodata never becomes a polygon
    fc = class_polygons(classes, UTM33, T, NAMES, tolerance_px=0)
    props = sorted((f["properties"]["class"], f["properties"]["area_px"]) for f in fc["features"])
    assert props == [("non-residential", 12), ("residential", 16)]
    # geometry in degrees, inside the raster's footprint, with the right area (12 px = 1200 m²)
    from pyproj import Geod

    nonres = [f for f in fc["features"] if f["properties"]["class_index"] == 1][0]
    geom = shape(nonres["geometry"])
    lon, lat = geom.centroid.x, geom.centroid.y
    assert 12.4 < lon < 12.7 and 52.4 < lat < 52.6
    area_m2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])
    assert area_m2 == pytest.approx(1200, rel=0.01)  # UTM scale factor ~0.9996-1.0002


def test_polygons_without_crs_stay_in_raster_units_and_say_so():
    classes = np.zeros((6, 6), dtype="uint8")
    classes[1:4, 1:4] = 2
    fc = class_polygons(classes, None, from_origin(0, 6, 1, 1), NAMES, tolerance_px=0)
    assert "crs_note" in fc
    assert shape(fc["features"][0]["geometry"]).area == pytest.approx(9)
