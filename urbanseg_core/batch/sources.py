"""Where a batch tile's pixels come from: a raster file, or an Earth Engine composite per tile.

A *source spec* is a small picklable description sent with each task; the worker turns it into
a tile source (``shape`` + ``read(row, col, height, width)``, the protocol of
:mod:`urbanseg_core.inference.predict`) covering the tile's read window only.

- :class:`FileSpec`: windowed reads of a local or shared GeoTIFF/COG/VRT through
  :class:`urbanseg_core.io.scene.BandFile` (bounded memory: model tile by model tile).
- :class:`GeeSpec`: each task fetches its own read window's composite with ``fetch(bounds,
  crs, resolution, **options) -> Scene``; the default :func:`gee_fetch` builds the AOI's
  composite with :mod:`urbanseg_core.gee` (imported lazily, only on workers that need it)
  and fetches the window's pixels. A ``distributed.Semaphore`` bounds the number of
  concurrent requests across the cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rasterio
from rasterio.crs import CRS

from ..io.scene import BandFile, Scene
from ..errors import EarthEngineError, InputError
from ..inference.predict import ArraySource
from .plan import BatchTile, Grid

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
    from ..gee.auth import connect

    conn = connect()
    if not conn.connected:
        raise EarthEngineError(conn.message)
    _EE_READY = True


def gee_fetch(bounds, crs, resolution: float = 10.0, *, aoi: dict, start: str | None = None,
              end: str | None = None, cloud_threshold: float | None = None,
              reducer: str = "median") -> Scene:
    """Default fetch: the Sentinel-2 composite of one tile window from Earth Engine.

    Builds the AOI's composite (:func:`urbanseg_core.gee.composite.composite`, clipped to the
    AOI polygon) and fetches only the window's pixels with
    :func:`urbanseg_core.gee.download.fetch_image` (one request at a time: the batch's
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
    from ..aoi import parse_geojson
    from ..io.scene import MODEL_BANDS
    from ..gee import composite as comp
    from ..gee.download import fetch_image
    from ..gee.grid import Grid as EeGrid

    ensure_connected()
    left, bottom, right, top = bounds
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    grid = EeGrid(f"EPSG:{CRS.from_user_input(crs).to_epsg()}", left, top, resolution, width, height)
    image = comp.composite(comp.ee_geometry(parse_geojson(aoi)),
                           start or comp.DEFAULT_START, end or comp.DEFAULT_END,
                           comp.DEFAULT_CLOUD_THRESHOLD if cloud_threshold is None else cloud_threshold,
                           reducer)
    bands = fetch_image(image, grid, comp.BAND_DTYPES, max_workers=1, what="a batch tile")
    count = bands.pop(comp.COUNT_BAND)
    reflectance = np.stack([bands[b] for b in MODEL_BANDS]).astype("float32", copy=False)
    valid = (count > 0) & np.isfinite(reflectance).all(axis=0)
    reflectance[:, ~valid] = 0.0
    return Scene(reflectance, valid, CRS.from_string(grid.crs_code), grid.transform,
                 "Earth Engine S2_SR_HARMONIZED composite", MODEL_BANDS)


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


def write_warped_vrt(src_path: Path, grid: Grid, vrt_path: Path) -> Path:
    """Describe ``src_path`` resampled onto ``grid`` as a GDAL warped VRT file.

    The VRT holds no pixels: each window read from it is warped on the fly (nearest
    neighbour, as :func:`urbanseg_core.io.regrid.to_model_grid`), so any tile of a large file can
    be read with bounded memory. Band descriptions are kept; areas outside the file become
    nodata (0 for integer files, NaN for floating-point ones, unless the file declares its own).

    Returns:
        ``vrt_path`` (written atomically; it refers to ``src_path`` by absolute path).
    """
    import rasterio.shutil
    from rasterio.vrt import WarpedVRT

    from ..io.regrid import INPUT_RESAMPLING
    from .store import atomic_write

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


def read_aoi(path: str | Path):
    """Read and check an AOI GeoJSON file (see :func:`urbanseg_core.aoi.parse_geojson`).

    The interactive area limit does not apply to batches; validity (a polygon with an area,
    no antimeridian crossing, inside UTM's latitudes) does.

    Returns:
        An :class:`urbanseg_core.aoi.AOI` (EPSG:4326).

    Raises:
        InputError: the file is missing or holds no valid polygon.
    """
    from ..aoi import parse_geojson, validate

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"AOI file not found: {path}. Check the path.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} cannot be read as GeoJSON text ({exc}).") from exc
    return validate(parse_geojson(text, name=path.stem), max_km2=math.inf)


def grid_from_aoi(aoi, resolution: float = 10.0) -> Grid:
    """The batch grid of an AOI: the Earth Engine download grid of
    :func:`urbanseg_core.gee.grid.grid_for_aoi` (UTM zone of the centroid, edges on whole
    multiples of ``resolution`` metres, covering the AOI's bounding box)."""
    from ..gee.grid import grid_for_aoi

    g = grid_for_aoi(aoi, resolution)
    return Grid(g.height, g.width, CRS.from_string(g.crs_code), g.transform)
