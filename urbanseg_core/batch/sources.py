"""Where a batch tile's pixels come from: a raster file, or an Earth Engine composite per tile.

A *source spec* is a small picklable description sent with each task; the worker turns it into
a tile source (``shape`` + ``read(row, col, height, width)``, the protocol of
:mod:`urbanseg_core.predict`) covering the tile's read window only.

- :class:`FileSpec`: windowed reads of a local or shared GeoTIFF/COG/VRT through
  :class:`urbanseg_core.bands.BandFile` (bounded memory: model tile by model tile).
- :class:`GeeSpec`: each task fetches its own read window's composite with ``fetch(bounds,
  crs, resolution, **options) -> Scene``; the default fetch is
  ``urbanseg_core.gee.download`` (imported lazily, only on workers that need it). A
  ``distributed.Semaphore`` bounds the number of concurrent requests across the cluster.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from ..bands import BandFile, Scene
from ..errors import EarthEngineError, InputError
from ..geo import utm_crs_for
from ..predict import ArraySource
from .plan import BatchTile, Grid

Fetch = Callable[..., Scene]


@dataclass(frozen=True)
class FileSpec:
    """A raster file read in windows.

    Attributes:
        path: absolute path, readable from every worker (shared file system or object store
            URL that rasterio opens).
        band_order: explicit band names, one per file band, or ``None`` (see
            :class:`~urbanseg_core.bands.BandFile`).
        dn_offset: added to DN before /10000 (-1000 for non-harmonised L2A since 2022-01-25).
    """

    path: str
    band_order: tuple[str, ...] | None = None
    dn_offset: float = 0.0

    def band_file(self) -> BandFile:
        """Open the file (resolves the band order; raises InputError/BandOrderError)."""
        return BandFile(self.path, band_order=self.band_order, dn_offset=self.dn_offset)


@dataclass(frozen=True)
class GeeSpec:
    """An Earth Engine composite fetched per tile.

    Attributes:
        fetch: ``fetch(bounds, crs, resolution, **options) -> Scene`` for ``bounds``
            ``(left, bottom, right, top)`` in ``crs`` units; ``None`` = the default
            :func:`gee_fetch`. Must be picklable (a module-level function).
        options: keyword arguments for ``fetch`` (dates, cloud threshold ...).
        resolution: pixel size in metres.
        semaphore: a ``distributed.Semaphore`` limiting concurrent fetches, or ``None``.
    """

    fetch: Fetch | None = None
    options: dict[str, Any] = field(default_factory=dict)
    resolution: float = 10.0
    semaphore: Any = None


def gee_fetch(bounds, crs, resolution: float = 10.0, **options) -> Scene:
    """Default fetch: the composite of ``bounds`` from ``urbanseg_core.gee.download``.

    Raises:
        EarthEngineError: the Earth Engine module is not installed in this package version.
    """
    try:
        from .. import gee
    except ModuleNotFoundError as exc:
        raise EarthEngineError(
            "The Earth Engine module (urbanseg_core.gee) is not available on this worker. "
            "Install urbanseg with its 'gee' extra on every worker, or use input files."
        ) from exc
    return gee.download(bounds=bounds, crs=crs, scale=resolution, **options)


class WindowSource:
    """A tile source over one window of a :class:`~urbanseg_core.bands.BandFile`."""

    def __init__(self, band_file: BandFile, row: int, col: int, height: int, width: int):
        self.band_file = band_file
        self.row, self.col = row, col
        self.shape = (height, width)

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(reflectance (11, h, w) float32, valid (h, w) bool)``, clipped to the window."""
        height = min(height, self.shape[0] - row)
        width = min(width, self.shape[1] - col)
        return self.band_file.read(self.row + row, self.col + col, height, width)


def fit_scene(scene: Scene, transform: rasterio.Affine, height: int, width: int) -> Scene:
    """Crop a fetched scene to the expected window grid.

    Args:
        scene: what a fetch returned; must cover the window on the same pixel grid.
        transform, height, width: the expected window.

    Returns:
        A scene of exactly ``(height, width)`` px at ``transform``.

    Raises:
        EarthEngineError: the scene is on another grid or does not cover the window.
    """
    st = scene.transform
    col = (transform.c - st.c) / st.a
    row = (transform.f - st.f) / st.e
    same_res = math.isclose(st.a, transform.a, rel_tol=1e-9) and math.isclose(st.e, transform.e, rel_tol=1e-9)
    if not same_res or abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        raise EarthEngineError(
            "The Earth Engine composite came back on another pixel grid than the tile asked "
            "for. Rerun the batch; if it persists, report it with the AOI."
        )
    row, col = int(round(row)), int(round(col))
    h, w = scene.shape
    if row < 0 or col < 0 or row + height > h or col + width > w:
        raise EarthEngineError(
            f"The Earth Engine composite covers {h} x {w} px but the tile needs {height} x "
            f"{width} px from ({row}, {col}). Rerun the batch to fetch it again."
        )
    return Scene(scene.reflectance[:, row:row + height, col:col + width],
                 scene.valid[row:row + height, col:col + width], scene.crs, transform,
                 scene.source, scene.band_names, list(scene.notes))


def open_tile_source(spec: FileSpec | GeeSpec, grid: Grid, tile: BatchTile):
    """A tile source over a batch tile's read window (runs on the worker).

    Raises:
        InputError, BandOrderError: the file cannot be read.
        EarthEngineError: the composite cannot be fetched or does not fit the window.
    """
    if isinstance(spec, FileSpec):
        return WindowSource(spec.band_file(), tile.read_row, tile.read_col,
                            tile.read_height, tile.read_width)
    fetch = spec.fetch or gee_fetch
    bounds = tile.read_bounds(grid)
    if spec.semaphore is not None:
        with spec.semaphore:
            scene = fetch(bounds, grid.crs, spec.resolution, **spec.options)
    else:
        scene = fetch(bounds, grid.crs, spec.resolution, **spec.options)
    return ArraySource(fit_scene(scene, tile.read_transform(grid), tile.read_height, tile.read_width))


def grid_from_file(spec: FileSpec) -> Grid:
    """The grid of a raster file (reads only its header and band names).

    Raises:
        InputError, BandOrderError: the file cannot be used.
    """
    bf = spec.band_file()
    return Grid(bf.shape[0], bf.shape[1], bf.crs, bf.transform)


def read_aoi(path: str | Path):
    """Read an AOI GeoJSON (geometry, Feature or FeatureCollection in EPSG:4326).

    Returns:
        A shapely geometry (the union of all features) in longitude/latitude degrees.

    Raises:
        InputError: the file is missing, not GeoJSON, empty or not a polygon area.
    """
    from shapely.geometry import shape
    from shapely.ops import unary_union

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"AOI file not found: {path}. Check the path.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} is not valid GeoJSON ({exc}). Export the AOI again.") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a GeoJSON object.")
    if data.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") for f in data.get("features", []) if f.get("geometry")]
    elif data.get("type") == "Feature":
        geoms = [data.get("geometry")] if data.get("geometry") else []
    else:
        geoms = [data]
    try:
        geom = unary_union([shape(g) for g in geoms]) if geoms else None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"{path.name} holds an invalid geometry ({exc}).") from exc
    if geom is None or geom.is_empty or geom.area == 0:
        raise InputError(f"{path.name} holds no polygon: draw or export an area, not points or lines.")
    west, south, east, north = geom.bounds
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InputError(f"{path.name} is not in longitude/latitude degrees (EPSG:4326).")
    return geom


def grid_from_aoi(geom, resolution: float = 10.0) -> Grid:
    """A north-up grid in the UTM zone of the AOI's centroid, aligned to whole multiples of
    ``resolution`` metres, covering the AOI's bounding box.

    Args:
        geom: shapely geometry in EPSG:4326 degrees.
        resolution: pixel size in metres.
    """
    centroid = geom.centroid
    utm = utm_crs_for(centroid.x, centroid.y)
    to_utm = Transformer.from_crs("EPSG:4326", utm, always_xy=True)
    left, bottom, right, top = to_utm.transform_bounds(*geom.bounds, densify_pts=21)
    left = math.floor(left / resolution) * resolution
    top = math.ceil(top / resolution) * resolution
    right = math.ceil(right / resolution) * resolution
    bottom = math.floor(bottom / resolution) * resolution
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    return Grid(height, width, CRS.from_epsg(utm.to_epsg()), from_origin(left, top, resolution, resolution))
