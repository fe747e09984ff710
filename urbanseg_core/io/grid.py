"""Pixel grids: the one :class:`Grid` type, the UTM grid of an area, CRS units in metres.

Every grid the package makes for a footprint (a band folder's stack, a scene warped for the
model, an Earth Engine download, a batch over an AOI) is :func:`utm_grid`: the WGS 84 / UTM
zone of the footprint's centre, north up, pixel edges on whole multiples of the resolution
(:func:`rasterio.warp.aligned_target`), so two grids of overlapping areas share pixel edges.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.transform import array_bounds
from rasterio.warp import aligned_target, transform_bounds

from ..errors import InputError
from ..lazy import lazy_import

#: Pixel side assumed for rasters without a CRS, metres.
DEFAULT_PIXEL_M = 10.0
#: Points per edge when projecting a footprint (covers curved parallels).
DENSIFY_POINTS = 21


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM CRS (EPSG:326zz north, 327zz south) of the zone holding a point.

    Zones are the regular 6° zones (the Norway/Svalbard exceptions are not applied: a
    neighbouring zone is just as valid a metric grid for a small AOI).

    Args:
        lon, lat: degrees (WGS 84).

    Raises:
        ValueError: for coordinates outside -180..180 / -80..84 (UTM's range).
    """
    if not (-180 <= lon <= 180 and -80 <= lat <= 84):
        raise ValueError(f"({lon}, {lat}) is outside the UTM range (lat -80..84)")
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _crs(crs) -> CRS:
    """A rasterio CRS from a rasterio or pyproj CRS, an EPSG string or WKT (GDAL reads it:
    predict never imports pyproj, 0.06 s)."""
    return crs if isinstance(crs, CRS) else CRS.from_user_input(crs)


def wgs84_bounds(crs, transform, shape: tuple[int, int]
                 ) -> tuple[float, float, float, float] | None:
    """``(west, south, east, north)`` in degrees (EPSG:4326) of a raster's extent, densified
    along its edges by :func:`rasterio.warp.transform_bounds`; ``None`` without a CRS.

    Args:
        crs, transform: the raster's georeference.
        shape: ``(height, width)`` in pixels.
    """
    if crs is None:
        return None
    return tuple(transform_bounds(crs, "EPSG:4326",
                                  *array_bounds(shape[0], shape[1], transform)))


def crs_name(crs) -> str:
    """The CRS's name, e.g. ``"WGS 84 / UTM zone 33N"``: the name its WKT definition starts
    with (WKT 1 and 2 both open with ``KEYWORD["name"``, ISO 19162)."""
    found = re.match(r'\s*\w+\s*\[\s*"([^"]*)"', _crs(crs).to_wkt())
    return found.group(1) if found else _crs(crs).to_string()


def is_geographic(crs) -> bool:
    """True for a CRS in degrees (EPSG:4326...)."""
    return _crs(crs).is_geographic


def linear_unit_m(crs) -> float:
    """Metres per unit of a projected CRS's axes (1 for metres, 0.3048 for feet; 1 where the
    CRS defines none)."""
    try:
        return float(_crs(crs).linear_units_factor[1])
    except CRSError:
        return 1.0


def pixel_size_m(crs, transform, bounds: Sequence[float] | None = None) -> float:
    """Side of a pixel in metres (x direction).

    Projected CRSs use their linear unit; geographic CRSs are measured on the WGS 84
    ellipsoid along the middle row of ``bounds`` (``(left, bottom, right, top)``, degrees);
    rasters without a CRS are taken as :data:`DEFAULT_PIXEL_M`.
    """
    if crs is None:
        return DEFAULT_PIXEL_M
    if is_geographic(crs):
        left, bottom, _, top = bounds
        lat = (bottom + top) / 2
        geod = lazy_import("pyproj").Geod(ellps="WGS84")
        _, _, dist = geod.inv(left, lat, left + abs(transform.a), lat)
        return float(dist)
    return abs(transform.a) * linear_unit_m(crs)


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid.

    Attributes:
        height, width: size in pixels.
        crs: the grid's CRS (``None`` for files without one).
        transform: affine pixel-to-CRS transform.
    """

    height: int
    width: int
    crs: CRS | None
    transform: rasterio.Affine

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        return array_bounds(self.height, self.width, self.transform)

    @property
    def crs_code(self) -> str:
        """``"EPSG:32633"``: the CRS as an authority code (Earth Engine's ``crsCode``)."""
        return f"EPSG:{self.crs.to_epsg()}"

    @property
    def pixel_size_m(self) -> float:
        """Side of a pixel in metres (see :func:`pixel_size_m`)."""
        return pixel_size_m(self.crs, self.transform, self.bounds)

    def window(self, row: int, col: int, height: int, width: int) -> "Grid":
        """The sub-grid starting at pixel ``(row, col)`` of size ``height x width``."""
        return Grid(height, width, self.crs,
                    self.transform * rasterio.Affine.translation(col, row))


def utm_grid(bounds: Sequence[float], crs, resolution: float = 10.0,
             centre: tuple[float, float] | None = None) -> Grid:
    """The north-up UTM grid at ``resolution`` metres that covers a footprint.

    Args:
        bounds: ``(left, bottom, right, top)`` of the footprint in ``crs`` units.
        crs: the footprint's CRS (anything rasterio accepts, e.g. ``"EPSG:4326"``).
        resolution: pixel side in metres.
        centre: ``(lon, lat)`` whose UTM zone to use (default: the centre of the footprint's
            longitude/latitude bounds).

    Returns:
        A :class:`Grid` in the zone's CRS whose pixel edges are whole multiples of
        ``resolution`` (:func:`rasterio.warp.aligned_target`) and which covers the footprint,
        projected with :data:`DENSIFY_POINTS` points per edge, snapped outwards.

    Raises:
        ValueError: the centre is outside UTM's latitude range.
    """
    if centre is None:
        west, south, east, north = transform_bounds(crs, "EPSG:4326", *bounds,
                                                    densify_pts=DENSIFY_POINTS)
        centre = ((west + east) / 2, (south + north) / 2)
    dst_crs = utm_crs_for(*centre)
    left, bottom, right, top = transform_bounds(crs, dst_crs, *bounds,
                                                densify_pts=DENSIFY_POINTS)
    footprint = rasterio.Affine(right - left, 0.0, left, 0.0, bottom - top, top)
    transform, width, height = aligned_target(footprint, 1, 1, float(resolution))
    return Grid(height, width, dst_crs, transform)


def target_grid(path: str | Path, resolution: float = 10.0) -> Grid:
    """The output grid for a file: its own grid if it is projected at ``resolution``, else
    :func:`utm_grid` over its footprint.

    Raises:
        InputError: the file has no CRS (and is not on a ``resolution`` m projected grid).
    """
    with rasterio.open(path) as ref:
        if ref.crs and ref.crs.is_projected and math.isclose(ref.res[0], resolution,
                                                             abs_tol=1e-6):
            return Grid(ref.height, ref.width, ref.crs, ref.transform)
        if ref.crs is None:
            raise InputError(f"{Path(path).name} has no CRS; cannot place it on a grid.")
        return utm_grid(ref.bounds, ref.crs, resolution)
