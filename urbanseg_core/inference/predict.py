"""Tiled inference over a raster of any size.

::

    Scene (11, H, W) reflectance + valid mask
      -> tile plan (tiling.plan_tiles: same-size tiles, overlap, cores partition the raster)
      -> per batch of tiles: crop + zero-pad -> the card's bands + indices (15 ch) and
         normalisation (features.model_inputs)
      -> UNet logits -> argmax -> keep each tile's core
      -> class map (H, W) uint8: 0 other, 1 non-residential, 2 residential, 255 nodata

Tiles are read through a *source* (:class:`ArraySource` for an in-memory scene); anything
with ``shape`` and ``read(row, col, height, width)`` works, so windowed file readers and
Earth Engine chunks plug in without holding the whole raster.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..io.scene import Scene
from ..model.loading import LoadedModel
from ..sentinel2 import NODATA
from .features import correct_haze, model_inputs
from .tiling import Tile, plan_tiles

#: Pixels per forward pass when no batch size is given (bounds memory, keeps cores busy).
BATCH_PIXELS = 1 << 19

ProgressCallback = Callable[[int, int], None]


class TileSource(Protocol):
    """Anything that serves reflectance windows of a raster."""

    shape: tuple[int, int]

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(reflectance (11, h, w) float32, valid (h, w) bool)`` for the window
        clipped to the raster (``h <= height``, ``w <= width``)."""


class ArraySource:
    """A :class:`TileSource` over an in-memory :class:`~urbanseg_core.io.scene.Scene`."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.shape = scene.shape

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(row, min(row + height, self.shape[0]))
        cols = slice(col, min(col + width, self.shape[1]))
        return self.scene.reflectance[:, rows, cols], self.scene.valid[rows, cols]


def _load_tile(source: TileSource, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    """Read a tile, zero-padded to the tile size; padding is invalid."""
    refl, valid = source.read(tile.rows.start, tile.cols.start, tile.rows.size, tile.cols.size)
    out = np.zeros((refl.shape[0], tile.rows.size, tile.cols.size), dtype="float32")
    ok = np.zeros((tile.rows.size, tile.cols.size), dtype=bool)
    h, w = valid.shape
    out[:, :h, :w] = refl
    ok[:h, :w] = valid
    return out, ok


def predict_source(
    source: TileSource,
    loaded: LoadedModel,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    haze: np.ndarray | None = None,
) -> np.ndarray:
    """Predict the class of every pixel of a source, tile by tile.

    Args:
        source: a :class:`TileSource` (e.g. :class:`ArraySource`).
        loaded: the model and its card (normalisation, tile size, overlap).
        tile_size: tile side in pixels (default: :func:`choose_tile_size` from the card's
            ``tile_size``).
        overlap: pixels shared by neighbouring tiles (default: the card's ``overlap``).
        batch_size: tiles per forward pass (default: as many as make about 0.5 M pixels,
            which bounds memory: 8 tiles of 256 px, 2 of 512 px).
        progress: called as ``progress(done_tiles, total_tiles)`` after each batch.
        haze: ``(11,)`` reflectance haze of the whole raster for cards with
            ``normalisation.haze`` set (batch tiles pass their input's value); ``None``:
            estimated from the source (:func:`~urbanseg_core.inference.features.correct_haze`).

    Returns:
        ``(H, W)`` uint8 class map: card class indices, :data:`NODATA` (255) where the
        input has no data.
    """
    card = loaded.card
    source = correct_haze(source, card.normalisation, haze)
    overlap = card.overlap if overlap is None else overlap
    height, width = source.shape
    tile_size = tile_size or scene_tile_size(card, height, width, overlap)
    tiles = plan_tiles(height, width, tile_size, overlap)
    batch_size = batch_size or max(1, BATCH_PIXELS // (tile_size * tile_size))
    out = np.full((height, width), NODATA, dtype="uint8")
    if progress:
        progress(0, len(tiles))
    # plan_tiles gives every tile the same shape, so any run of tiles forms a batch
    for i in range(0, len(tiles), batch_size):
        batch = tiles[i:i + batch_size]
        _keep_cores(out, batch, _classify_batch(source, batch, loaded))
        if progress:
            progress(i + len(batch), len(tiles))
    return out


def _classify_batch(source: TileSource, batch: list[Tile], loaded: LoadedModel) -> np.ndarray:
    """``(N, h, w)`` uint8 classes of a batch of same-size tiles, :data:`NODATA` where the
    input has no data."""
    loaded_tiles = [_load_tile(source, t) for t in batch]
    refl = np.stack([t[0] for t in loaded_tiles])
    valid = np.stack([t[1] for t in loaded_tiles])
    if valid.any():
        classes = loaded.classify(model_inputs(refl, valid, loaded.card))
    else:
        classes = np.zeros(valid.shape, dtype="uint8")
    classes[~valid] = NODATA
    return classes


def _keep_cores(out: np.ndarray, batch: list[Tile], classes: np.ndarray) -> None:
    """Copy each tile's core from its class map into ``out``."""
    for tile, cls in zip(batch, classes):
        r, c = tile.rows, tile.cols
        out[r.core_start:r.core_end, c.core_start:c.core_end] = cls[
            r.core_start - r.start:r.core_end - r.start,
            c.core_start - c.start:c.core_end - c.start,
        ]


def choose_tile_size(height: int, width: int, base: int, overlap: int) -> int:
    """The tile side among ``base`` x (1, 1.5, 2) (multiples of 16) that processes the fewest
    pixels for a raster, counting overlap and edge padding; ties go to the larger tile.

    Larger tiles waste less on overlap over large rasters (``(512 / 448)²`` = 1.31 x the
    output pixels against ``(256 / 192)²`` = 1.78 x for 64 px overlap), smaller ones waste less
    on padding at the edges of small rasters. With overlap at least twice the reach of the
    network's context, the answer does not depend on the tile size (see
    :mod:`urbanseg_core.inference.tiling`).
    """
    best, best_cost = base, None
    for factor in (1.0, 1.5, 2.0):
        size = int(round(base * factor / 16)) * 16
        if size <= overlap:
            continue
        tiles = plan_tiles(height, width, size, overlap)
        cost = sum(t.rows.size * t.cols.size for t in tiles)
        if best_cost is None or cost <= best_cost:
            best, best_cost = size, cost
    return best


def scene_tile_size(card, height: int, width: int, overlap: int | None = None) -> int:
    """The tile side :func:`predict_source` uses for a ``height`` x ``width`` px raster when
    none is given: the model's window for per-window min-max models (part of their input
    contract), else :func:`choose_tile_size` from the card's ``tile_size``."""
    overlap = card.overlap if overlap is None else overlap
    if card.normalisation.method == "minmax_window":
        return card.normalisation.window or card.tile_size
    return choose_tile_size(height, width, card.tile_size, overlap)


def predict_scene(scene: Scene, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """:func:`predict_source` on an in-memory scene; returns the ``(H, W)`` uint8 class map."""
    return predict_source(ArraySource(scene), loaded, **kwargs)
