"""Tiled inference over a raster of any size.

::

    Scene (11, H, W) reflectance + valid mask
      -> tile plan (tiling.plan_tiles: same-size tiles, overlap, cores partition the raster)
      -> per batch of tiles: crop + zero-pad -> the card's bands + indices (15 ch) and
         normalisation (features.model_inputs)
      -> UNet logits -> a head: argmax (class map), softmax (probabilities) or argmax +
         split confidence -> keep each tile's core
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


#: A head turns a batch's model input ``(N, 15, h, w)`` into per-pixel layers
#: ``(N, L, h, w)`` (class indices, probabilities, confidence...).
Head = Callable[[LoadedModel, np.ndarray], np.ndarray]


def class_head(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """One layer: the arg-max class, ``(N, 1, h, w)`` uint8."""
    return loaded.classify(x)[:, None]


def probability_head(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """C layers: the softmax probability of each class, ``(N, C, h, w)`` float32."""
    return loaded.probabilities(x)


def split_confidence(probabilities: np.ndarray, axis: int = 1) -> np.ndarray:
    """How sure the model is of residential vs non-residential, in percent.

    The margin between the two built-up classes' probabilities as a share of their sum,
    ``|p_res - p_nonres| / (p_res + p_nonres)``: 100 when all the built-up probability is on
    one class, 0 when it is split evenly (the model cannot tell housing from industry there).

    Args:
        probabilities: softmax probabilities with the classes on ``axis`` (index 1
            non-residential, 2 residential), float32.

    Returns:
        The probabilities' shape without ``axis``, uint8 0-100.
    """
    nonres = np.take(probabilities, 1, axis=axis)
    res = np.take(probabilities, 2, axis=axis)
    margin = np.abs(res - nonres) / np.maximum(res + nonres, 1e-6)
    return np.rint(100 * margin).astype("uint8")


def class_confidence_head(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """Two layers, ``(N, 2, h, w)`` uint8: the arg-max class and :func:`split_confidence`."""
    probs = loaded.probabilities(x)
    return np.stack([probs.argmax(axis=1).astype("uint8"), split_confidence(probs)], axis=1)


def predict_layers(
    source: TileSource,
    loaded: LoadedModel,
    head: Head = class_head,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    haze: np.ndarray | None = None,
) -> np.ndarray:
    """Run the model over a source tile by tile and keep what ``head`` makes of each tile.

    Args:
        source: a :class:`TileSource` (e.g. :class:`ArraySource`).
        loaded: the model and its card (normalisation, tile size, overlap).
        head: what to keep per pixel (:func:`class_head`, :func:`probability_head`,
            :func:`class_confidence_head`).
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
        ``(L, H, W)`` in the head's dtype; where the input has no data, :data:`NODATA` (255)
        for integer layers and 0 for float layers.
    """
    card = loaded.card
    source = correct_haze(source, card.normalisation, haze)
    overlap = card.overlap if overlap is None else overlap
    height, width = source.shape
    tile_size = tile_size or scene_tile_size(card, height, width, overlap)
    tiles = plan_tiles(height, width, tile_size, overlap)
    batch_size = batch_size or max(1, BATCH_PIXELS // (tile_size * tile_size))
    out = None
    if progress:
        progress(0, len(tiles))
    # plan_tiles gives every tile the same shape, so any run of tiles forms a batch
    for i in range(0, len(tiles), batch_size):
        batch = tiles[i:i + batch_size]
        layers = _run_batch(source, batch, loaded, head, like=out)
        if out is None:
            out = np.empty((layers.shape[1], height, width), dtype=layers.dtype)
        _keep_cores(out, batch, layers)
        if progress:
            progress(i + len(batch), len(tiles))
    return out


def predict_source(source: TileSource, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """Predict the class of every pixel of a source, tile by tile.

    Args:
        source, loaded, **kwargs: as for :func:`predict_layers` (``tile_size``, ``overlap``,
            ``batch_size``, ``progress``, ``haze``).

    Returns:
        ``(H, W)`` uint8 class map: card class indices, :data:`NODATA` (255) where the
        input has no data.
    """
    return predict_layers(source, loaded, class_head, **kwargs)[0]


def predict_probabilities(source: TileSource, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """Class probabilities of every pixel of a source: ``(C, H, W)`` float32 softmax (0 in
    every class where the input has no data); arguments as for :func:`predict_layers`. The
    arg-max equals :func:`predict_source`'s class map (same tiles, same engine)."""
    return predict_layers(source, loaded, probability_head, **kwargs)


def _run_batch(source: TileSource, batch: list[Tile], loaded: LoadedModel, head: Head,
               like: np.ndarray | None = None) -> np.ndarray:
    """``(N, L, h, w)`` head layers of a batch of same-size tiles, nodata where the input
    has none; a batch without data skips the model when ``like`` (the output so far) gives
    the layers' number and dtype."""
    loaded_tiles = [_load_tile(source, t) for t in batch]
    refl = np.stack([t[0] for t in loaded_tiles])
    valid = np.stack([t[1] for t in loaded_tiles])
    if like is not None and not valid.any():
        layers = np.empty((len(batch), like.shape[0], *valid.shape[1:]), dtype=like.dtype)
    else:
        layers = head(loaded, model_inputs(refl, valid, loaded.card))
    fill = NODATA if layers.dtype.kind in "ui" else 0
    np.copyto(layers, np.asarray(fill, dtype=layers.dtype), where=~valid[:, None])
    return layers


def _keep_cores(out: np.ndarray, batch: list[Tile], layers: np.ndarray) -> None:
    """Copy each tile's core from its layers ``(N, L, h, w)`` into ``out`` ``(L, H, W)``."""
    for tile, lay in zip(batch, layers):
        r, c = tile.rows, tile.cols
        out[:, r.core_start:r.core_end, c.core_start:c.core_end] = lay[
            :, r.core_start - r.start:r.core_end - r.start,
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


def scene_probabilities(scene: Scene, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """:func:`predict_probabilities` of an in-memory scene: ``(C, H, W)`` float32."""
    return predict_probabilities(ArraySource(scene), loaded, **kwargs)
