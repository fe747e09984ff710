"""Putting scenes on the model's grid (10 m, metric CRS) and class maps back on the input grid.

The model learned from 10 m pixels. A scene in a geographic CRS (EPSG:4326: pixels in
degrees) or with pixels far from 10 m is warped to a 10 m UTM grid (the zone of the scene
centre) with :func:`rasterio.warp.reproject`, predicted there, and the class map is warped back
onto the input grid with nearest-neighbour resampling, so outputs always match the input.
"""

from __future__ import annotations

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ..sentinel2 import NODATA
from .grid import is_geographic, linear_unit_m, utm_grid
from .scene import Scene

#: Pixel sizes within this relative tolerance of the target are used as they are.
RESOLUTION_TOLERANCE = 0.25

#: Resampling of reflectance onto the model grid. Nearest neighbour keeps the pixel texture
#: the model was trained on (Islamabad's 20 m bands were brought to 10 m with nearest
#: neighbour too); bilinear smoothing made the bundled model call most of a dense city
#: non-residential: on the Bercy (Paris) scene written as a 10 m EPSG:4326 file and warped
#: back, macro built-up Dice 0.273 with bilinear against 0.494 with nearest (0.519 on the
#: scene's own UTM stack; 2017 date 0.450 / 0.524 / 0.527).
INPUT_RESAMPLING = Resampling.nearest


def regrid_reason(crs: CRS | None, transform, resolution: float = 10.0) -> str | None:
    """Why a grid must be warped for the model, or ``None`` when it can be used as it is."""
    if crs is None:
        return None  # nothing to warp to; the caller warns that areas assume 10 m pixels
    if is_geographic(crs):
        return "its CRS is geographic (degrees)"
    size = abs(transform.a) * linear_unit_m(crs)
    if abs(size - resolution) > RESOLUTION_TOLERANCE * resolution:
        return f"its pixels are {size:g} m, not {resolution:g} m"
    return None


def to_model_grid(scene: Scene, resolution: float = 10.0) -> Scene:
    """Warp a scene onto the north-up UTM grid of ``resolution`` metres over its footprint
    (:func:`~urbanseg_core.io.grid.utm_grid`).

    Reflectance and the valid mask are resampled with nearest neighbour
    (:data:`INPUT_RESAMPLING`; a pixel is valid only where the source had data).

    Returns:
        A new :class:`Scene` on the UTM grid (same band order).
    """
    grid = utm_grid(scene.bounds, scene.crs, resolution)
    dst_crs, transform, height, width = grid.crs, grid.transform, grid.height, grid.width
    refl = np.zeros((scene.reflectance.shape[0], height, width), dtype="float32")
    reproject(scene.reflectance, refl, src_transform=scene.transform, src_crs=scene.crs,
              dst_transform=transform, dst_crs=dst_crs, resampling=INPUT_RESAMPLING)
    valid = np.zeros((height, width), dtype="uint8")
    reproject(scene.valid.astype("uint8"), valid, src_transform=scene.transform,
              src_crs=scene.crs, dst_transform=transform, dst_crs=dst_crs,
              resampling=Resampling.nearest, dst_nodata=0)
    valid = valid.astype(bool)
    refl[:, ~valid] = 0.0
    return Scene(refl, valid, dst_crs, transform, scene.source, scene.band_names,
                 list(scene.notes))


def classes_to_grid(classes: np.ndarray, src: Scene, dst: Scene) -> np.ndarray:
    """Warp a ``(H', W')`` uint8 class map from ``src``'s grid onto ``dst``'s grid (nearest).

    Pixels that are invalid in ``dst`` or fall outside ``src`` become :data:`NODATA`.
    """
    out = np.full(dst.shape, NODATA, dtype="uint8")
    reproject(classes, out, src_transform=src.transform, src_crs=src.crs,
              dst_transform=dst.transform, dst_crs=dst.crs, resampling=Resampling.nearest,
              src_nodata=NODATA, dst_nodata=NODATA)
    out[~dst.valid] = NODATA
    return out
