"""The download grid of an AOI, its split into requests under Earth Engine's size limit, and
the size and time estimate of a fetch.

The grid is :func:`urbanseg_core.io.grid.utm_grid` in the UTM zone of the AOI's centroid at
10 m, north up, with pixel edges on whole multiples of the resolution (so two fetches of
overlapping AOIs share pixel edges). ``ee.data.computePixels`` refuses requests above 48 MB of
uncompressed data or 32768 px on a side (Earth Engine REST reference,
``projects.image.computePixels``); :func:`plan_chunks` cuts the grid into windows below both.

No Earth Engine import here: the app sizes an AOI (:func:`estimate`) without a connection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..aoi import AOI
from ..io.grid import Grid, utm_grid

#: computePixels' request limit, bytes of uncompressed data (48 MiB).
REQUEST_LIMIT_BYTES = 48 * 1024 * 1024
#: computePixels' limit on each side of a request, pixels.
MAX_SIDE_PX = 32768


def pixel_grid(grid: Grid) -> dict:
    """The ``grid`` (PixelGrid) parameter of ``ee.data.computePixels`` for a UTM grid."""
    t = grid.transform
    return {
        "dimensions": {"width": int(grid.width), "height": int(grid.height)},
        "affineTransform": {
            "scaleX": float(t.a), "shearX": 0.0, "translateX": float(t.c),
            "shearY": 0.0, "scaleY": float(t.e), "translateY": float(t.f),
        },
        "crsCode": grid.crs_code,
    }


def crs_transform(grid: Grid) -> list[float]:
    """``[xScale, xShear, xTranslation, yShear, yScale, yTranslation]`` for exports."""
    t = grid.transform
    return [float(t.a), 0.0, float(t.c), 0.0, float(t.e), float(t.f)]


@dataclass(frozen=True)
class Chunk:
    """One request: pixel window ``[row:row+height, col:col+width]`` of a grid."""

    index: int
    row: int
    col: int
    height: int
    width: int


def grid_for_aoi(aoi: AOI, resolution: float = 10.0) -> Grid:
    """The UTM grid covering an AOI's bounding box at ``resolution`` metres, in the zone of
    the AOI's centroid (:func:`urbanseg_core.io.grid.utm_grid`).

    Raises:
        ValueError: centroid outside UTM's latitude range (validate the AOI first).
    """
    return utm_grid(aoi.bounds, "EPSG:4326", resolution, centre=aoi.centroid)


def bytes_per_pixel(dtypes: Iterable[str | np.dtype]) -> int:
    """Bytes Earth Engine counts per pixel: each band's dtype size plus one mask byte each."""
    return int(sum(np.dtype(d).itemsize + 1 for d in dtypes))


def plan_chunks(grid: Grid, bpp: int, limit_bytes: int = REQUEST_LIMIT_BYTES,
                max_side: int = 1024, safety: float = 0.95) -> list[Chunk]:
    """Cut a grid into near-square windows that each stay under the request limit.

    Args:
        grid: the full grid.
        bpp: bytes per pixel (:func:`bytes_per_pixel`).
        limit_bytes: the request limit (48 MiB for computePixels).
        max_side: cap on a chunk's side in pixels (smaller chunks fetch in parallel and are
            cheaper to retry); never above 32768.
        safety: fraction of the limit used, to leave room for encoding overhead.

    Returns:
        Chunks in row-major order; together they cover the grid exactly once.

    Raises:
        ValueError: when not even one pixel fits the limit.
    """
    budget = int(limit_bytes * safety)
    if bpp <= 0 or bpp > budget:
        raise ValueError(f"{bpp} bytes per pixel cannot fit a {limit_bytes}-byte request")
    side = min(int(math.isqrt(budget // bpp)), max_side, MAX_SIDE_PX)
    n_rows = math.ceil(grid.height / side)
    n_cols = math.ceil(grid.width / side)
    # Even out the chunk sizes so the last row/column is not a sliver.
    ch = math.ceil(grid.height / n_rows)
    cw = math.ceil(grid.width / n_cols)
    chunks = []
    for i in range(n_rows):
        for j in range(n_cols):
            r, c = i * ch, j * cw
            h, w = min(ch, grid.height - r), min(cw, grid.width - c)
            if h > 0 and w > 0:
                chunks.append(Chunk(len(chunks), r, c, h, w))
    return chunks


def estimate(aoi: AOI, resolution_m: float = 10.0, bands: int = 11,
             fetch_mb_per_s: float = 4.0, request_latency_s: float = 5.0, workers: int = 4,
             inference_px_per_s: float = 150_000.0) -> dict:
    """Size a fetch before it starts: pixels, megabytes and a rough time.

    How the estimate is made:

    * ``pixels`` is ``width x height`` of the download grid (the UTM grid of the AOI's
      bounding box at ``resolution_m``, see :func:`grid_for_aoi`),
      i.e. exactly what will be requested, including bbox pixels outside a non-rectangular
      polygon.
    * ``megabytes`` (10^6 bytes) counts what Earth Engine computes per pixel: ``bands`` float32
      reflectance bands (4 bytes) plus the uint16 clear-observation count (2 bytes) plus one
      mask byte per band, the same count used to keep each request under the 48 MB limit.
    * ``requests`` is the number of chunks of the download plan.
    * ``fetch_seconds`` assumes ``workers`` parallel requests, each taking
      ``request_latency_s`` of server computation plus its transfer at ``fetch_mb_per_s``
      (defaults are assumptions, not measurements: Earth Engine's speed varies with load and
      with how many images the composite reduces).
    * ``inference_seconds`` is ``pixels / inference_px_per_s``. The default is a placeholder,
      not a measurement: pass the throughput of a previous run on the same machine
      (``pixels / Segmentation.seconds``) for a figure worth showing.

    Returns:
        ``{"area_km2", "width", "height", "pixels", "megabytes", "requests",
        "fetch_seconds", "inference_seconds", "total_seconds"}``.
    """
    grid = grid_for_aoi(aoi, resolution_m)
    pixels = grid.width * grid.height
    bpp = bytes_per_pixel(["float32"] * bands + ["uint16"])
    n_requests = len(plan_chunks(grid, bpp))
    megabytes = pixels * bpp / 1e6
    rounds = math.ceil(n_requests / max(1, workers))
    fetch_s = rounds * request_latency_s + megabytes / fetch_mb_per_s
    infer_s = pixels / inference_px_per_s
    return {
        "area_km2": round(aoi.area_km2, 3), "width": grid.width, "height": grid.height,
        "pixels": pixels, "megabytes": round(megabytes, 1), "requests": n_requests,
        "fetch_seconds": round(fetch_s, 1), "inference_seconds": round(infer_s, 1),
        "total_seconds": round(fetch_s + infer_s, 1),
    }
