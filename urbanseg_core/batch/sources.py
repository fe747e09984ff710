"""Where a batch tile's pixels come from: a raster file, or an Earth Engine composite per tile.

A *source spec* is a small picklable description sent with each task; the worker turns it into
a tile source (``shape`` + ``read(row, col, height, width)``, the protocol of
:mod:`urbanseg_core.inference.predict`) covering the tile's read window only.

- :class:`FileSpec`: windowed reads of a local or shared GeoTIFF/COG/VRT through
  :class:`urbanseg_core.io.scene.BandFile` (bounded memory: model tile by model tile).
- :class:`GeeSpec`: each task fetches its own read window's composite with ``fetch(bounds,
  crs, resolution, **options) -> Scene``; the default :func:`gee_fetch` fetches the window
  of the AOI's composite with :func:`urbanseg_core.gee.download.fetch_window` (``ee`` is
  imported only on workers that fetch). A ``distributed.Semaphore`` bounds the number of
  concurrent requests across the cluster.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.vrt import WarpedVRT

from ..aoi import AOI, parse_geojson, validate
from ..errors import EarthEngineError, InputError
from ..gee.auth import connect
from ..gee.download import fetch_window
from ..gee.grid import grid_for_aoi
from ..inference.features import estimate_haze, haze_sample
from ..inference.predict import ArraySource
from ..io.grid import Grid
from ..io.regrid import INPUT_RESAMPLING
from ..io.scene import BandFile, Scene
from ..model.card import Normalisation
from .plan import BatchTile
from .store import atomic_write

Fetch = Callable[..., Scene]


@dataclass(frozen=True)
class FileSpec:
    """A raster file read in windows.

    Attributes:
        path: absolute path of the file, the same on every worker (a shared file system).
        band_order: explicit band names, one per file band, or ``None`` (see
            :class:`~urbanseg_core.io.scene.BandFile`).
        dn_offset: added to DN before /10000 (-1000 for non-harmonised L2A since 2022-01-25).
    """

    path: str
    band_order: tuple[str, ...] | None = None
    dn_offset: float = 0.0

    def band_file(self) -> BandFile:
        """Open the file (resolves the band order; raises InputError/BandOrderError)."""
        return BandFile(self.path, band_order=self.band_order, dn_offset=self.dn_offset)


_BAND_FILES: dict[tuple, BandFile] = {}
_BAND_FILES_LOCK = threading.Lock()


def opened_file(spec: FileSpec) -> BandFile:
    """:meth:`FileSpec.band_file`, opened once per worker process while the file keeps its
    size and modification time: a worker's later tiles skip reading the header and resolving
    the band order (for a 13-band file without band names, a read of the whole file).

    Raises:
        InputError, BandOrderError: the file cannot be used.
    """
    try:
        stat = os.stat(spec.path)
    except OSError:
        return spec.band_file()  # raises the plain "file not found"
    key = (spec, stat.st_size, stat.st_mtime_ns)
    with _BAND_FILES_LOCK:
        band_file = _BAND_FILES.get(key)
        if band_file is None:
            band_file = _BAND_FILES[key] = spec.band_file()
    return band_file


@dataclass(frozen=True)
class GeeSpec:
    """An Earth Engine composite fetched per tile.

    Attributes:
        fetch: ``fetch(bounds, crs, resolution, **options) -> Scene`` for ``bounds``
            ``(left, bottom, right, top)`` in ``crs`` units; ``None`` = the default
            :func:`gee_fetch`. Must be picklable (a module-level function).
        options: keyword arguments for ``fetch`` (``aoi`` GeoJSON, ``start``, ``end``,
            ``cloud_threshold``, ``reducer``).
        resolution: pixel size in metres.
        semaphore: a ``distributed.Semaphore`` limiting concurrent fetches, or ``None``.
    """

    fetch: Fetch | None = None
    options: dict[str, Any] = field(default_factory=dict)
    resolution: float = 10.0
    semaphore: Any = None


_EE_READY = False


def ensure_connected() -> None:
    """Initialise Earth Engine once per process (service account or user credentials from
    the environment, see :func:`urbanseg_core.gee.auth.connect`).

    Raises:
        EarthEngineError: no credentials, or the connection failed (plain message).
    """
    global _EE_READY
    if _EE_READY:
        return
    conn = connect()
    if not conn.connected:
        raise EarthEngineError(conn.message)
    _EE_READY = True


def gee_fetch(bounds, crs, resolution: float = 10.0, *, aoi: dict, start: str | None = None,
              end: str | None = None, cloud_threshold: float | None = None,
              reducer: str = "median") -> Scene:
    """Default fetch: the Sentinel-2 composite of one tile window from Earth Engine
    (:func:`urbanseg_core.gee.download.fetch_window`, one request at a time: the batch's
    semaphore counts requests).

    Args:
        bounds: ``(left, bottom, right, top)`` of the window in ``crs`` units (metres).
        crs: the UTM CRS of the batch grid.
        resolution: pixel size, metres.
        aoi: the AOI as a GeoJSON geometry dict (EPSG:4326).
        start, end, cloud_threshold, reducer: composite parameters (defaults: those of
            :mod:`urbanseg_core.gee.composite`).

    Returns:
        A :class:`~urbanseg_core.io.scene.Scene` on the window's grid; pixels without a clear
        observation or outside the AOI are invalid.

    Raises:
        EarthEngineError: not connected, bad parameters, or a request that failed for good.
    """
    ensure_connected()
    left, bottom, right, top = bounds
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    grid = Grid(height, width, CRS.from_user_input(crs),
                rasterio.Affine(resolution, 0.0, left, 0.0, -resolution, top))
    return fetch_window(parse_geojson(aoi), grid, start, end, cloud_threshold, reducer)


class WindowSource:
    """A tile source over one window of a :class:`~urbanseg_core.io.scene.BandFile`."""

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


def input_haze(spec: FileSpec | GeeSpec, norm: Normalisation) -> tuple[float, ...] | None:
    """The haze of a whole input file for cards that remove it (``norm.haze``), estimated as
    ``urbanseg predict`` estimates it for the whole raster
    (:func:`~urbanseg_core.inference.features.haze_sample`), so that every tile gets the same
    correction; ``None`` for other cards and for Earth Engine inputs (each tile's fetch
    estimates its own).

    Raises:
        InputError, BandOrderError: the file cannot be used.
    """
    if norm.haze == "none" or not isinstance(spec, FileSpec):
        return None
    return tuple(float(v) for v in estimate_haze(*haze_sample(spec.band_file()), norm))


def open_tile_source(spec: FileSpec | GeeSpec, grid: Grid, tile: BatchTile):
    """A tile source over a batch tile's read window (runs on the worker).

    Raises:
        InputError, BandOrderError: the file cannot be read.
        EarthEngineError: the composite cannot be fetched or does not fit the window.
    """
    if isinstance(spec, FileSpec):
        return WindowSource(opened_file(spec), tile.read_row, tile.read_col,
                            tile.read_height, tile.read_width)
    fetch = spec.fetch or gee_fetch
    bounds = tile.read_bounds(grid)
    if spec.semaphore is not None:
        with spec.semaphore:
            scene = fetch(bounds, grid.crs, spec.resolution, **spec.options)
    else:
        scene = fetch(bounds, grid.crs, spec.resolution, **spec.options)
    return ArraySource(fit_scene(scene, tile.read_transform(grid), tile.read_height, tile.read_width))


def write_warped_vrt(src_path: Path, grid: Grid, vrt_path: Path) -> Path:
    """Describe ``src_path`` resampled onto ``grid`` as a GDAL warped VRT file.

    The VRT holds no pixels: each window read from it is warped on the fly (nearest
    neighbour, as :func:`urbanseg_core.io.regrid.to_model_grid`), so any tile of a large file can
    be read with bounded memory. Band descriptions are kept; areas outside the file become
    nodata (0 for integer files, NaN for floating-point ones, unless the file declares its own).

    Returns:
        ``vrt_path`` (written atomically; it refers to ``src_path`` by absolute path).
    """
    with rasterio.open(src_path) as src:
        nodata = src.nodata
        if nodata is None:
            nodata = float("nan") if np.dtype(src.dtypes[0]).kind == "f" else 0
        with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width,
                       height=grid.height, resampling=INPUT_RESAMPLING, nodata=nodata) as vrt:
            atomic_write(vrt_path, lambda tmp: rasterio.shutil.copy(vrt, tmp, driver="VRT"))
    return vrt_path


def grid_from_file(spec: FileSpec) -> Grid:
    """The grid of a raster file (reads only its header and band names).

    Raises:
        InputError, BandOrderError: the file cannot be used.
    """
    bf = spec.band_file()
    return Grid(bf.shape[0], bf.shape[1], bf.crs, bf.transform)


def read_aoi(path: str | Path) -> AOI:
    """Read and check an AOI GeoJSON file (see :func:`urbanseg_core.aoi.parse_geojson`).

    The interactive area limit does not apply to batches; validity (a polygon with an area,
    no antimeridian crossing, inside UTM's latitudes) does.

    Returns:
        An :class:`urbanseg_core.aoi.AOI` (EPSG:4326).

    Raises:
        InputError: the file is missing or holds no valid polygon.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"AOI file not found: {path}. Check the path.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} cannot be read as GeoJSON text ({exc}).") from exc
    return validate(parse_geojson(text, name=path.stem), max_km2=math.inf)


def grid_from_aoi(aoi: AOI, resolution: float = 10.0) -> Grid:
    """The batch grid of an AOI: the Earth Engine download grid of
    :func:`urbanseg_core.gee.grid.grid_for_aoi` (UTM zone of the centroid, edges on whole
    multiples of ``resolution`` metres, covering the AOI's bounding box)."""
    return grid_for_aoi(aoi, resolution)
