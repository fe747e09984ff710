"""Putting two dates on one grid: BEFORE's, and only where both have data.

The model runs on a metric grid near its pixel size, so the *work grid* is BEFORE's own grid
when it is one (a projected CRS near 10 m), else the 10 m UTM grid
:func:`~urbanseg_core.io.regrid.to_model_grid` makes from it. AFTER is warped onto the work grid
with nearest neighbour (as every input of the model: smoothing changes its answers, see
:mod:`urbanseg_core.io.regrid`); the change map is made there and warped back onto BEFORE's grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyproj import CRS as ProjCRS
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import reproject, transform_bounds
from shapely.geometry import box

from ..io.scene import Scene
from ..errors import InputError
from ..io.regrid import INPUT_RESAMPLING, regrid_reason, to_model_grid


def footprint_lonlat(scene: Scene):
    """A scene's bounds as a shapely box in longitude/latitude (its own units without CRS)."""
    bounds = array_bounds(*scene.shape, scene.transform)
    if scene.crs is None:
        return box(*bounds)
    return box(*transform_bounds(scene.crs, "EPSG:4326", *bounds))


def same_grid(a: Scene, b: Scene) -> bool:
    """True when two scenes share CRS, transform and shape."""
    return a.shape == b.shape and a.crs == b.crs and a.transform == b.transform


def check_overlap(before: Scene, after: Scene) -> None:
    """Raise a plain error when two scenes cannot be compared at all.

    Raises:
        InputError: one has a CRS and the other not; two scenes without CRS on different
            grids; footprints that do not intersect.
    """
    if (before.crs is None) != (after.crs is None):
        which = "BEFORE" if before.crs is None else "AFTER"
        raise InputError(f"{which} ({_name(before if which == 'BEFORE' else after)}) has no "
                         "CRS, so it cannot be placed on the other date's grid. Use "
                         "georeferenced files for both dates.")
    if before.crs is None and not same_grid(before, after):
        raise InputError("Neither date has a CRS and their grids differ "
                         f"({before.shape[1]} x {before.shape[0]} px against "
                         f"{after.shape[1]} x {after.shape[0]} px), so they cannot be "
                         "aligned. Use georeferenced files.")
    a, b = footprint_lonlat(before), footprint_lonlat(after)
    if not a.intersects(b) or a.intersection(b).area == 0:
        raise InputError(
            f"BEFORE ({_name(before)}) and AFTER ({_name(after)}) do not overlap: BEFORE "
            f"covers lon {a.bounds[0]:.4f}..{a.bounds[2]:.4f}, lat {a.bounds[1]:.4f}.."
            f"{a.bounds[3]:.4f}, AFTER lon {b.bounds[0]:.4f}..{b.bounds[2]:.4f}, lat "
            f"{b.bounds[1]:.4f}..{b.bounds[3]:.4f}. Give two images of the same area.")


def _name(scene: Scene) -> str:
    return Path(scene.source).name if scene.source else "scene"


def work_grid(before: Scene, pixel_size_m: float) -> tuple[Scene, str | None]:
    """BEFORE on the grid the model runs on, and why it was warped (``None``: it was not)."""
    reason = regrid_reason(before.crs, before.transform, pixel_size_m)
    if reason is None:
        return before, None
    return to_model_grid(before, pixel_size_m), reason


def onto_grid(scene: Scene, target: Scene) -> Scene:
    """``scene`` warped onto ``target``'s grid (nearest neighbour; a pixel is valid only where
    ``scene`` has data).

    Returns:
        A new :class:`Scene` with ``target``'s CRS, transform and shape (``scene`` itself when
        the grids are already the same).
    """
    if same_grid(scene, target):
        return scene
    refl = np.zeros((scene.reflectance.shape[0], *target.shape), dtype="float32")
    reproject(scene.reflectance, refl, src_transform=scene.transform, src_crs=scene.crs,
              dst_transform=target.transform, dst_crs=target.crs, resampling=INPUT_RESAMPLING)
    valid = np.zeros(target.shape, dtype="uint8")
    reproject(scene.valid.astype("uint8"), valid, src_transform=scene.transform,
              src_crs=scene.crs, dst_transform=target.transform, dst_crs=target.crs,
              resampling=Resampling.nearest, dst_nodata=0)
    valid = valid.astype(bool)
    refl[:, ~valid] = 0.0
    return Scene(refl, valid, target.crs, target.transform, scene.source, scene.band_names,
                 list(scene.notes))


def pixel_area_m2(scene: Scene, default_size_m: float) -> float:
    """Area of one pixel of a projected (metric) grid in m²; ``default_size_m``² without CRS."""
    if scene.crs is None:
        return default_size_m ** 2
    pcrs = ProjCRS.from_user_input(scene.crs.to_wkt())
    unit = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    t = scene.transform
    return abs(t.a * t.e - t.b * t.d) * unit * unit
