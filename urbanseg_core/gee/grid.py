"""The download grid of an AOI and its split into requests under Earth Engine's size limit.

The grid is the UTM zone of the AOI's centroid (:func:`urbanseg_core.io.grid.utm_crs_for`) at
10 m, north up, with pixel edges on whole multiples of the resolution (so two fetches of
overlapping AOIs share pixel edges). ``ee.data.computePixels`` refuses requests above 48 MB of
uncompressed data or 32768 px on a side (Earth Engine REST reference,
``projects.image.computePixels``); :func:`plan_chunks` cuts the grid into windows below both.

No Earth Engine import here: the app sizes an AOI (:func:`urbanseg_core.aoi.estimate`) without
a connection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np
from affine import Affine
from pyproj import Transformer

from ..io.grid import utm_crs_for

if TYPE_CHECKING:
    from ..aoi import AOI

#: computePixels' request limit, bytes of uncompressed data (48 MiB).
REQUEST_LIMIT_BYTES = 48 * 1024 * 1024
#: computePixels' limit on each side of a request, pixels.
MAX_SIDE_PX = 32768


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid.

    Attributes:
        crs_code: ``"EPSG:326zz"`` or ``"EPSG:327zz"`` (WGS 84 / UTM).
        x0, y0: coordinates of the top-left corner of the top-left pixel, metres.
        resolution: pixel side, metres.
        width, height: size in pixels.
    """

    crs_code: str
    x0: float
    y0: float
    resolution: float
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        """The affine pixel-to-CRS transform (rasterio convention)."""
        return Affine(self.resolution, 0.0, self.x0, 0.0, -self.resolution, self.y0)

    def window(self, row: int, col: int, height: int, width: int) -> "Grid":
        """The sub-grid starting at pixel ``(row, col)`` of size ``height x width``."""
        return Grid(self.crs_code, self.x0 + col * self.resolution,
                    self.y0 - row * self.resolution, self.resolution, width, height)

    def to_ee(self) -> dict:
        """The ``grid`` (PixelGrid) parameter of ``ee.data.computePixels``."""
        return {
            "dimensions": {"width": int(self.width), "height": int(self.height)},
            "affineTransform": {
                "scaleX": float(self.resolution), "shearX": 0.0, "translateX": float(self.x0),
                "shearY": 0.0, "scaleY": -float(self.resolution), "translateY": float(self.y0),
            },
            "crsCode": self.crs_code,
        }

    @property
    def crs_transform(self) -> list[float]:
        """``[xScale, xShear, xTranslation, yShear, yScale, yTranslation]`` for exports."""
        r = float(self.resolution)
        return [r, 0.0, float(self.x0), 0.0, -r, float(self.y0)]


@dataclass(frozen=True)
class Chunk:
    """One request: pixel window ``[row:row+height, col:col+width]`` of a grid."""

    index: int
    row: int
    col: int
    height: int
    width: int


def grid_for_aoi(aoi: "AOI", resolution: float = 10.0) -> Grid:
    """The UTM grid covering an AOI's bounding box at ``resolution`` metres.

    The bbox is projected with densified edges (21 points per side) so that curved
    parallels are covered; edges are snapped outwards to multiples of ``resolution``.

    Raises:
        ValueError: centroid outside UTM's latitude range (validate the AOI first).
    """
    lon, lat = aoi.centroid
    crs = utm_crs_for(lon, lat)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    left, bottom, right, top = tr.transform_bounds(*aoi.bounds, densify_pts=21)
    r = float(resolution)
    x0 = math.floor(left / r) * r
    y0 = math.ceil(top / r) * r
    width = max(1, int(math.ceil((right - x0) / r - 1e-9)))
    height = max(1, int(math.ceil((y0 - bottom) / r - 1e-9)))
    return Grid(f"EPSG:{crs.to_epsg()}", x0, y0, r, width, height)


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
