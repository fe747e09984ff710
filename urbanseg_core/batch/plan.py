"""The batch tile grid: cut a raster (or an AOI's virtual grid) into tiles with margins.

::

    raster axis  |0 .............................................................. n|
    model tiles  [ov|==core==|ov][ov|==core==|ov][ov|==core==|ov] ...   (tiling.plan_axis)
    batch tile 0 [=========core=========)                       cores partition [0, n)
    batch tile 1                [m|=========core=========)  m = overlap / 2 px margin
    batch tile 2                                      [m|=====core======]

A batch tile is ``q`` model-tile strides long (``q`` from the tile side in km). Its core
starts and ends on a boundary between the cores of the model tiles that
:func:`urbanseg_core.inference.tiling.plan_tiles` lays over the *whole* raster, and it reads a
margin of ``overlap / 2`` px on each side it shares with a neighbour. The model tiles inside
a batch tile are then exactly those of the whole-raster plan, so a batch mosaic equals a
single-process prediction tile for tile, and no pixel is predicted twice. The last batch tile
along an axis is merged into its neighbour when it would be shorter than one model tile (the
model tiles near the raster edge would otherwise shrink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import rasterio
from rasterio.transform import array_bounds
from rasterio.windows import Window

from ..errors import InputError
from ..io.grid import Grid

__all__ = ["BatchTile", "Grid", "plan_batch", "plan_batch_axis"]


@dataclass(frozen=True)
class BatchTile:
    """One batch task's area.

    Attributes:
        row, col: pixel offset of the tile's core in the grid.
        height, width: size of the core in pixels (what the tile GeoTIFF holds).
        read_row, read_col, read_height, read_width: the window read and predicted: the core
            plus its margins, clipped to the grid.
    """

    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @property
    def name(self) -> str:
        """File stem, unique in a grid: ``r<row>_c<col>`` (core pixel offsets)."""
        return f"r{self.row:06d}_c{self.col:06d}"

    @property
    def window(self) -> Window:
        """The core as a rasterio window of the grid."""
        return Window(self.col, self.row, self.width, self.height)

    @property
    def read_window(self) -> Window:
        """The core plus margins as a rasterio window of the grid."""
        return Window(self.read_col, self.read_row, self.read_width, self.read_height)

    def transform(self, grid: Grid) -> rasterio.Affine:
        """Affine transform of the core."""
        return grid.transform * rasterio.Affine.translation(self.col, self.row)

    def read_transform(self, grid: Grid) -> rasterio.Affine:
        """Affine transform of the read window."""
        return grid.transform * rasterio.Affine.translation(self.read_col, self.read_row)

    def bounds(self, grid: Grid) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the core in CRS units."""
        return array_bounds(self.height, self.width, self.transform(grid))

    def read_bounds(self, grid: Grid) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the read window in CRS units."""
        return array_bounds(self.read_height, self.read_width, self.read_transform(grid))


def plan_batch_axis(n: int, tile: int, overlap: int, strides: int) -> list[tuple[int, int, int, int]]:
    """Cut an axis into batch tiles aligned with the model's tile plan (module docstring).

    Args:
        n: axis length in pixels (>= 1).
        tile: the model's tile size in pixels (model card ``tile_size``).
        overlap: the model's tile overlap in pixels (card ``overlap``; < tile).
        strides: batch tile length in model-tile strides (``tile - overlap`` px), >= 1.

    Returns:
        ``(core_start, core_end, read_start, read_end)`` per batch tile; cores partition
        ``[0, n)``, reads extend them by ``overlap // 2`` px where a neighbour follows or
        precedes.

    Raises:
        ValueError: for ``n < 1``, ``strides < 1`` or ``not 0 <= overlap < tile``.
    """
    if n < 1 or strides < 1:
        raise ValueError(f"need n >= 1 and strides >= 1, got n={n}, strides={strides}")
    if not 0 <= overlap < tile:
        raise ValueError(f"need 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if n < tile:  # the whole-raster plan uses one shrunk model tile on this axis
        return [(0, n, 0, n)]
    stride = tile - overlap
    half = overlap // 2
    count = max(1, math.ceil((n - overlap) / stride))  # model tiles along the axis
    cuts = list(range(strides, count, strides))  # model-tile indices where batch tiles start
    while cuts and n - cuts[-1] * stride < tile:
        cuts.pop()  # the last batch tile would be shorter than one model tile: merge it
    starts = [0] + [k * stride + half for k in cuts]
    ends = starts[1:] + [n]
    reads_start = [0] + [k * stride for k in cuts]
    reads_end = [k * stride + overlap for k in cuts] + [n]
    return list(zip(starts, ends, reads_start, reads_end))


def plan_batch(grid: Grid, tile_km: float, tile_size: int, overlap: int) -> tuple[list[BatchTile], int]:
    """Plan the batch tiles of a grid.

    Args:
        grid: the raster's grid (:class:`urbanseg_core.io.grid.Grid`).
        tile_km: wanted side of a batch tile in km; rounded to a whole number of model-tile
            strides (``(tile_size - overlap) x pixel size``; 1.92 km for 256 px tiles with
            64 px overlap at 10 m), at least one.
        tile_size, overlap: the model card's tile size and overlap in pixels.

    Returns:
        ``(tiles, strides)``: batch tiles in row-major order (their cores partition the
        grid) and the batch tile length in model-tile strides.

    Raises:
        InputError: ``tile_km`` is not a positive number.
    """
    if not tile_km > 0 or not math.isfinite(tile_km):
        raise InputError(f"The batch tile side must be a positive number of kilometres, not "
                         f"{tile_km}.")
    stride_px = tile_size - overlap
    strides = max(1, round(tile_km * 1000.0 / grid.pixel_size_m / stride_px))
    rows = plan_batch_axis(grid.height, tile_size, overlap, strides)
    cols = plan_batch_axis(grid.width, tile_size, overlap, strides)
    tiles = [
        BatchTile(r0, c0, r1 - r0, c1 - c0, rr0, rc0, rr1 - rr0, rc1 - rc0)
        for (r0, r1, rr0, rr1) in rows for (c0, c1, rc0, rc1) in cols
    ]
    return tiles, strides
