"""Tile plans for seamless tiled inference.

::

    raster axis  |0 ..................................................... n|
    tile 0       [=====core=====|ov]                    origins are multiples of
    tile 1              [ov|=====core=====|ov]          stride = tile - overlap;
    tile 2                          [ov|=====core=====......]  the last tile may run
                                                               past n (zero padded)

Every tile has the same size, so tiles batch together. Each tile reads ``overlap`` pixels of
context on the sides it shares with a neighbour and keeps only its **core**: the cores
partition the raster, so every pixel is predicted exactly once and nothing is blended or
recomputed. Tile origins are multiples of 16 (the UNet's total down-sampling), so every tile
sees the same pixel-grid phase and a shift-equivariant network gives the same answer for a
pixel in any tile, up to the influence of context beyond ``overlap / 2`` pixels. The last tile
of a row or column is moved back to end within 16 px of the raster's edge, so the edge sees the
same (minimal) padding as a single tile over the whole raster. On the sample scene the bundled
model's tiled map equals its untiled map on 99.996-100 % of pixels for 256-512 px tiles with
64 px overlap (99.13 % without overlap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AxisSpan:
    """One tile along one axis: it reads ``[start, start + size)`` and keeps
    ``[core_start, core_end)`` (raster coordinates)."""

    start: int
    size: int
    core_start: int
    core_end: int


@dataclass(frozen=True)
class Tile:
    """A 2-D tile: rows and columns spans."""

    rows: AxisSpan
    cols: AxisSpan


def plan_axis(n: int, tile: int, overlap: int, multiple: int = 1) -> list[AxisSpan]:
    """Split an axis of ``n`` pixels into tiles of ``tile`` px sharing ``overlap`` px.

    Tile starts are multiples of the stride ``tile - overlap``, except the last tile, which is
    moved back towards the raster's end (to the smallest multiple of ``multiple`` that still
    covers it), so it reads as little padding as a single tile over the whole axis would.

    Args:
        n: length of the axis in pixels (>= 1).
        tile: tile length in pixels (> overlap).
        overlap: pixels shared by neighbouring tiles (>= 0, even numbers split evenly).
        multiple: when the stride is a multiple of this (the network's down-sampling
            factor), every tile start is too.

    Returns:
        Spans whose cores partition ``[0, n)`` in order; neighbouring cores meet in the middle
        of the tiles' overlap, so each core is at least ``overlap // 2`` px from a tile edge
        shared with a neighbour.

    Raises:
        ValueError: for ``n < 1``, ``overlap < 0`` or ``tile <= overlap``.
    """
    if n < 1:
        raise ValueError(f"axis length must be >= 1, got {n}")
    if overlap < 0 or tile <= overlap:
        raise ValueError(f"need 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    stride = tile - overlap
    count = max(1, math.ceil((n - overlap) / stride))
    starts = [i * stride for i in range(count)]
    if count > 1:  # still after starts[-2]: the count is the least that covers n
        starts[-1] = min(starts[-1], math.ceil((n - tile) / multiple) * multiple)
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(count - 1)] + [n]
    return [AxisSpan(starts[i], tile, cuts[i], min(cuts[i + 1], n)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 16) -> list[Tile]:
    """Plan square tiles over a ``height`` x ``width`` raster.

    A raster smaller than ``tile`` along an axis gets one tile of that axis' length rounded
    up to ``multiple`` (the network's down-sampling factor), so small rasters are not padded
    to a full tile.

    Returns:
        Tiles in row-major order, all of one shape (so any of them batch together); their
        cores partition the raster.
    """
    def axis(n: int) -> list[AxisSpan]:
        size = min(tile, math.ceil(n / multiple) * multiple)
        return plan_axis(n, size, overlap if size == tile else 0, multiple)

    rows, cols = axis(height), axis(width)
    return [Tile(r, c) for r in rows for c in cols]
