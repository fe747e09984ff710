"""Class map -> GeoJSON polygons, one feature per connected area of a class, in EPSG:4326.

Polygons are traced on the raster grid with :func:`rasterio.features.shapes` (4-connected
pixels of equal class), simplified with shapely's topology-preserving Douglas-Peucker
(:meth:`shapely.Geometry.simplify`) in the raster's own CRS (so the tolerance is in metres for
UTM grids), and reprojected to WGS 84 longitude/latitude with :func:`rasterio.warp.transform_geom`
as RFC 7946 requires.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape

from ..sentinel2 import NODATA


def class_polygons(
    classes: np.ndarray,
    crs: CRS | None,
    transform,
    class_names: Sequence[str],
    include: Sequence[int] = (1, 2),
    tolerance_px: float = 1.0,
    min_pixels: int = 4,
) -> dict:
    """Trace the areas of the chosen classes as a GeoJSON FeatureCollection.

    Args:
        classes: ``(H, W)`` uint8 index class map (255 nodata).
        crs, transform: the map's georeference. Without a CRS the coordinates stay in the
            raster's own units and the collection says so (``"crs_note"``).
        class_names: names in index order (from the model card).
        include: class indices to trace (default: the built-up classes 1 and 2; class 0
            "other" covers most of a scene and makes very large files).
        tolerance_px: simplification tolerance in pixels (1 px = 10 m on the model's grid).
        min_pixels: drop polygons smaller than this many pixels (speckle).

    Returns:
        A GeoJSON FeatureCollection dict; each feature has ``class_index``, ``class`` and
        ``area_px`` properties.
    """
    pixel = float(abs(transform.a)) or 1.0
    tolerance = tolerance_px * pixel
    min_area = min_pixels * abs(transform.a * transform.e)
    wanted = np.isin(classes, list(include)) & (classes != NODATA)
    features = []
    for geom, value in shapes(classes, mask=wanted, connectivity=4, transform=transform):
        poly = shape(geom)
        if poly.area < min_area:
            continue
        simple = poly.simplify(tolerance, preserve_topology=True)
        if simple.is_empty:
            continue
        out_geom = mapping(simple)
        if crs is not None:
            out_geom = transform_geom(crs, "EPSG:4326", out_geom, precision=7)
        idx = int(value)
        features.append({
            "type": "Feature",
            "properties": {
                "class_index": idx,
                "class": class_names[idx] if idx < len(class_names) else str(idx),
                "area_px": int(round(poly.area / abs(transform.a * transform.e))),
            },
            "geometry": out_geom,
        })
    collection: dict = {"type": "FeatureCollection", "features": features}
    if crs is None:
        collection["crs_note"] = "The input had no CRS: coordinates are in raster units."
    return collection


def geojson_bytes(collection: dict) -> bytes:
    """UTF-8 GeoJSON text of a FeatureCollection (for download buttons)."""
    return json.dumps(collection, separators=(",", ":")).encode("utf-8")
