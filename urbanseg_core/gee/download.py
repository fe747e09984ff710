"""Fetch an Earth Engine image on the AOI's UTM grid, in parallel chunks, into a ``Scene``.

Lifecycle of one fetch::

    AOI --grid_for_aoi--> Grid (UTM zone of the centroid, 10 m, edges on whole metres)
        --plan_chunks--> windows, each under computePixels' 48 MB limit
        --ThreadPoolExecutor--> ee.data.computePixels(NPY) per window, retried with
                                exponential backoff on 429 / 5xx / timeouts
        --stitch--> (bands, H, W) arrays placed at each window's offset (exact, no overlap)
        --> GeeScene (a urbanseg_core.io.scene.Scene + clear_count)

Everything is deterministic for given arguments (AOI, dates, threshold, reducer,
resolution), and the arguments are hashable, so the app can cache results per AOI and
parameters (``st.cache_data``; pass ``progress`` from outside the cached function).
"""

from __future__ import annotations

import io
import logging
import random
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from rasterio.io import MemoryFile

from ..aoi import AOI
from ..errors import EarthEngineError
from ..io.grid import Grid
from ..io.scene import Scene
from ..lazy import lazy_import
from ..sentinel2 import MODEL_BANDS, NODATA
from .auth import require_initialized
from .composite import (BAND_DTYPES, COUNT_BAND, DEFAULT_CLOUD_THRESHOLD, DEFAULT_END,
                        DEFAULT_START, check_params, composite, ee_geometry, scene_count)
from .errors import diagnose
from .grid import Chunk, bytes_per_pixel, grid_for_aoi, pixel_grid, plan_chunks
from .reference import REFERENCE_BAND, ghsl_reference

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for one request: up to ``max_tries`` attempts, waiting
    ``min(max_delay, base_delay * 2**(attempt-1))`` seconds times a random factor 0.5-1
    (full jitter, so parallel chunks do not retry in lockstep)."""

    max_tries: int = 5
    base_delay: float = 2.0
    max_delay: float = 60.0


@dataclass
class GeeScene(Scene):
    """A :class:`~urbanseg_core.io.scene.Scene` fetched from Earth Engine.

    Attributes (besides the Scene's):
        clear_count: ``(H, W)`` uint16, clear observations per pixel (0 = nodata).
        grid: the download :class:`~urbanseg_core.gee.grid.Grid`.
        aoi: the AOI it was fetched for (so the reference can be fetched on the same grid).
    """

    clear_count: np.ndarray | None = None
    grid: Grid | None = None
    aoi: AOI | None = None

    def image_profile(self, dtype: str = "float32") -> dict:
        """A rasterio profile for writing the 11 bands (reflectance float32 or DN uint16)."""
        height, width = self.shape
        return {"driver": "GTiff", "height": height, "width": width, "count": len(MODEL_BANDS),
                "dtype": dtype, "crs": self.crs, "transform": self.transform,
                "nodata": 0, "compress": "deflate", "tiled": True,
                "blockxsize": 256, "blockysize": 256}


def call_with_retries(fn: Callable[[], object], what: str, policy: RetryPolicy = RetryPolicy(),
                      sleep: Callable[[float], None] = time.sleep):
    """Call ``fn`` and retry transient Earth Engine failures with exponential backoff.

    Retried: rate limits (429), quota bursts, server errors (5xx), timeouts and dropped
    connections. Anything else fails at once.

    Raises:
        EarthEngineError: a plain message (after ``policy.max_tries`` attempts for transient
            failures).
    """
    for attempt in range(1, policy.max_tries + 1):
        try:
            return fn()
        except EarthEngineError:
            raise
        except Exception as exc:  # EEException, HttpError, transport errors
            diag = diagnose(exc, what)
            if not diag.retryable:
                raise EarthEngineError(diag.message) from exc
            if attempt == policy.max_tries:
                raise EarthEngineError(
                    f"{diag.message} (Gave up on {what} after {policy.max_tries} tries.)"
                ) from exc
            delay = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
            delay *= 0.5 + 0.5 * random.random()
            log.info("Earth Engine %s on %s (try %d/%d); retrying in %.1f s",
                     diag.kind, what, attempt, policy.max_tries, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def decode_pixels(data, bands: Sequence[str], shape: tuple[int, int]) -> np.ndarray:
    """Turn a computePixels answer into a ``(bands, H, W)`` array.

    Accepts NPY bytes (a structured array with one field per band, what ``fileFormat='NPY'``
    returns), GeoTIFF bytes (bands in ``bands`` order), or an already decoded ndarray
    (structured ``(H, W)`` or plain ``(H, W, C)``).

    Raises:
        EarthEngineError: unknown format or wrong shape.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw[:6] == b"\x93NUMPY":
            data = np.load(io.BytesIO(raw), allow_pickle=False)
        elif raw[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            with MemoryFile(raw) as mem, mem.open() as src:
                data = np.moveaxis(src.read(), 0, -1)
        else:
            raise EarthEngineError("Earth Engine returned data in an unexpected format "
                                   f"({raw[:8]!r}).", "Try again; report it if it persists.")
    arr = np.asarray(data)
    if arr.dtype.names:
        missing = [b for b in bands if b not in arr.dtype.names]
        if missing:
            raise EarthEngineError(f"Earth Engine's answer lacks the band(s) {', '.join(missing)}.")
        stack = np.stack([arr[b] for b in bands])
    else:
        if arr.ndim == 2 and len(bands) == 1:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[-1] != len(bands):
            raise EarthEngineError(f"Earth Engine returned an array of shape {arr.shape}; "
                                   f"expected {shape + (len(bands),)}.")
        stack = np.moveaxis(arr, -1, 0)
    if stack.shape[1:] != tuple(shape):
        raise EarthEngineError(f"Earth Engine returned {stack.shape[1]} x {stack.shape[2]} px "
                               f"for a {shape[0]} x {shape[1]} px request.")
    return stack


def fetch_image(image, grid: Grid, band_dtypes: Mapping[str, str],
                progress: ProgressCallback | None = None, max_workers: int = 4,
                retry: RetryPolicy = RetryPolicy(), what: str = "the image",
                sleep: Callable[[float], None] = time.sleep,
                max_chunk_side: int = 1024) -> dict[str, np.ndarray]:
    """Fetch bands of an ``ee.Image`` on ``grid`` with parallel computePixels requests.

    Args:
        image: the ``ee.Image`` expression.
        grid: the target grid (CRS, transform, size).
        band_dtypes: band name -> dtype of the fetched values (sizes the requests).
        progress: ``progress(done_chunks, total_chunks)``, called in the caller's thread.
        max_workers: parallel requests (Earth Engine allows a few concurrent requests per
            user; 4 is safe).
        retry: retry policy per chunk.
        what: names the image in messages.
        sleep: the wait between retries (tests pass a no-op).
        max_chunk_side: cap on a request's side, pixels (see
            :func:`~urbanseg_core.gee.grid.plan_chunks`).

    Returns:
        Band name -> ``(H, W)`` array of that band's dtype, stitched from the chunks.

    Raises:
        EarthEngineError: a chunk failed for good (plain message).
    """
    ee = lazy_import("ee")
    bands = list(band_dtypes)
    chunks = plan_chunks(grid, bytes_per_pixel(band_dtypes.values()), max_side=max_chunk_side)
    out = {b: np.zeros((grid.height, grid.width), dtype=np.dtype(d)) for b, d in band_dtypes.items()}
    total = len(chunks)

    def fetch(chunk: Chunk) -> tuple[Chunk, np.ndarray]:
        sub = grid.window(chunk.row, chunk.col, chunk.height, chunk.width)
        params = {"expression": image, "fileFormat": "NPY", "grid": pixel_grid(sub),
                  "bandIds": bands}
        label = f"part {chunk.index + 1} of {total} of {what}"
        data = call_with_retries(lambda: ee.data.computePixels(dict(params)), label, retry, sleep)
        return chunk, decode_pixels(data, bands, (chunk.height, chunk.width))

    def place(chunk: Chunk, stack: np.ndarray) -> None:
        rows = slice(chunk.row, chunk.row + chunk.height)
        cols = slice(chunk.col, chunk.col + chunk.width)
        for i, b in enumerate(bands):
            out[b][rows, cols] = stack[i]

    _in_parallel(fetch, chunks, place, max_workers, progress)
    return out


def _in_parallel(fetch, chunks: list[Chunk], place, max_workers: int,
                 progress: ProgressCallback | None) -> None:
    """Run ``fetch(chunk) -> (chunk, stack)`` on a thread pool and ``place`` each answer in
    the caller's thread; the first failure cancels what has not started and is raised."""
    total = len(chunks)
    if progress:
        progress(0, total)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, total))) as pool:
        pending = {pool.submit(fetch, c) for c in chunks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    place(*fut.result())
                    done += 1
                    if progress:
                        progress(done, total)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def fetch_scene(aoi: AOI, start: str = DEFAULT_START, end: str = DEFAULT_END,
                cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD, reducer: str = "median",
                resolution: float = 10.0, max_workers: int = 4,
                progress: ProgressCallback | None = None,
                retry: RetryPolicy = RetryPolicy(), max_chunk_side: int = 1024) -> GeeScene:
    """Fetch the Cloud Score+ masked Sentinel-2 composite of an AOI as a scene.

    See :mod:`urbanseg_core.gee.composite` for how the composite is made. The result plugs
    into :func:`urbanseg_core.inference.pipeline.segment_scene` directly.

    Args:
        aoi: a validated :class:`~urbanseg_core.aoi.AOI`.
        start, end: ``YYYY-MM-DD`` (end exclusive); default the calendar year 2018.
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1.
        reducer: ``"median"`` or ``"mean"``.
        resolution: grid resolution, metres.
        max_workers: parallel requests.
        progress: ``progress(done_chunks, total_chunks)``.
        retry: retry policy per request.
        max_chunk_side: cap on a request's side, pixels.

    Returns:
        A :class:`GeeScene`: ``reflectance`` ``(11, H, W)`` float32 0-1, ``valid`` ``(H, W)``
        (at least one clear observation, inside the AOI), ``clear_count`` ``(H, W)`` uint16,
        UTM ``crs`` and 10 m ``transform``.

    Raises:
        EarthEngineError: not connected, no scene or no clear pixel in the date range, or a
            request that failed for good.
    """
    check_params(start, end, cloud_threshold, reducer)
    require_initialized()
    geometry = ee_geometry(aoi)
    n_scenes = _scene_count(geometry, start, end, retry)
    grid = grid_for_aoi(aoi, resolution)
    image = composite(geometry, start, end, cloud_threshold, reducer)
    bands = fetch_image(image, grid, BAND_DTYPES, progress, max_workers, retry, "the composite",
                        max_chunk_side=max_chunk_side)
    scene = composite_scene(bands, grid, f"Earth Engine S2_SR_HARMONIZED {start}..{end} "
                            f"{reducer}", aoi)
    count = scene.clear_count
    if not scene.valid.any():
        raise EarthEngineError(
            f"No clear (cloud-free) Sentinel-2 pixel over this area between {start} and {end} "
            f"at Cloud Score+ threshold {cloud_threshold}: {n_scenes} image(s) exist but all "
            "are cloudy here.", "Widen the date range or lower the threshold.")
    scene.notes.append(
        f"Earth Engine composite: {reducer} of {n_scenes} Sentinel-2 L2A image(s) ({start} to "
        f"{end}, end excluded), Cloud Score+ cs_cdf >= {cloud_threshold}; median "
        f"{int(np.median(count[scene.valid]))} clear observations per pixel.")
    missing = 1.0 - scene.valid.mean()
    if missing > 0.001:
        scene.notes.append(f"{100 * missing:.1f}% of the grid has no clear observation or lies "
                           "outside the AOI (nodata).")
    return scene


def _scene_count(geometry, start: str, end: str, retry: RetryPolicy) -> int:
    """How many Sentinel-2 scenes touch the AOI in the date range (at least one).

    Raises:
        EarthEngineError: none, or an unexpected answer.
    """
    n_scenes = call_with_retries(lambda: scene_count(geometry, start, end).getInfo(),
                                 "the scene count", retry)
    try:
        n_scenes = int(n_scenes)
    except (TypeError, ValueError):
        raise EarthEngineError("Earth Engine returned an unexpected scene count.",
                               "Try again.") from None
    if not n_scenes:
        raise EarthEngineError(
            f"No Sentinel-2 image covers this area between {start} and {end}.",
            "Widen the date range (a whole year is safest).")
    return n_scenes


def composite_scene(bands: dict[str, np.ndarray], grid: Grid, source: str,
                    aoi: AOI | None = None) -> GeeScene:
    """The scene of a fetched composite (:data:`~.composite.BAND_DTYPES` bands on ``grid``).

    Args:
        bands: band name -> ``(H, W)`` array, the 11 model bands (reflectance float32) and
            ``clear_count`` (uint16), as :func:`fetch_image` returns them.
        grid: the grid they were fetched on.
        source: a label for the scene.
        aoi: the AOI they were fetched for, if any.

    Returns:
        A :class:`GeeScene`: pixels are valid where at least one clear observation went in
        and every band is finite; invalid pixels hold 0.
    """
    count = bands[COUNT_BAND]
    reflectance = np.stack([bands[b] for b in MODEL_BANDS]).astype("float32", copy=False)
    valid = (count > 0) & np.isfinite(reflectance).all(axis=0)
    reflectance[:, ~valid] = 0.0
    return GeeScene(reflectance=reflectance, valid=valid, crs=grid.crs,
                    transform=grid.transform, source=source, band_names=MODEL_BANDS,
                    notes=[], clear_count=count, grid=grid, aoi=aoi)


def fetch_window(aoi: AOI, grid: Grid, start: str | None = None, end: str | None = None,
                 cloud_threshold: float | None = None, reducer: str = "median") -> GeeScene:
    """The composite of an AOI on one window's grid, fetched with one request at a time (a
    batch task: the batch's semaphore counts requests).

    Args:
        aoi: the AOI (the composite is clipped to its polygon).
        grid: the window's grid (UTM, ``resolution`` m).
        start, end, cloud_threshold, reducer: composite parameters (defaults: those of
            :mod:`urbanseg_core.gee.composite`).

    Raises:
        EarthEngineError: not connected, bad parameters, or a request that failed for good.
    """
    image = composite(ee_geometry(aoi), start or DEFAULT_START, end or DEFAULT_END,
                      DEFAULT_CLOUD_THRESHOLD if cloud_threshold is None else cloud_threshold,
                      reducer)
    bands = fetch_image(image, grid, BAND_DTYPES, max_workers=1, what="a batch tile")
    return composite_scene(bands, grid, "Earth Engine S2_SR_HARMONIZED composite", aoi)


def fetch_reference(aoi: AOI | GeeScene, resolution: float = 10.0, grid: Grid | None = None,
                    max_workers: int = 4, progress: ProgressCallback | None = None,
                    retry: RetryPolicy = RetryPolicy(), max_chunk_side: int = 1024) -> np.ndarray:
    """Fetch the GHSL reference (see :mod:`urbanseg_core.gee.reference`) on the AOI's grid.

    Args:
        aoi: the AOI, or a :class:`GeeScene` from :func:`fetch_scene` (its AOI and grid are
            used, so the reference matches the scene pixel for pixel).
        resolution: metres (ignored when a grid is known).
        grid: the grid to fetch on (default: the scene's, else :func:`grid_for_aoi`).

    Returns:
        ``(H, W)`` uint8: 0 other, 1 non-residential, 2 residential, 255 nodata.

    Raises:
        EarthEngineError: not connected, a scene without its AOI, or a request that failed
            for good.
    """
    if isinstance(aoi, GeeScene):
        if aoi.aoi is None or aoi.grid is None:
            raise EarthEngineError("This scene was not fetched from Earth Engine, so there is "
                                   "no AOI to fetch the GHSL reference for.")
        grid = grid or aoi.grid
        aoi = aoi.aoi
    require_initialized()
    grid = grid or grid_for_aoi(aoi, resolution)
    image = ghsl_reference(ee_geometry(aoi))
    out = fetch_image(image, grid, {REFERENCE_BAND: "uint8"}, progress, max_workers, retry,
                      "the GHSL reference", max_chunk_side=max_chunk_side)
    ref = out[REFERENCE_BAND]
    if (ref == NODATA).all():
        log.info("GHSL reference is nodata over the whole AOI")
    return ref
