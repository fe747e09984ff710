"""Tiled inference over a raster of any size, with blended seams and bounded memory.

::

    Scene (11, H, W) reflectance + valid mask  (or any TileSource: windowed file reads)
      -> tile plan (tiling.plan_tiles: same-size tiles overlapping by ``overlap`` px)
      -> one row of tiles at a time, in batches: crop + zero-pad -> the card's bands +
         indices (15 ch) and normalisation (features.model_inputs) -> UNet -> softmax
      -> blend: probabilities x the tiles' windows (tiling.blend_weights) summed into a band
         buffer (C, tile, W); rows no later tile reaches are divided by the summed weights
      -> a head turns the blended probabilities into layers: the class (argmax), the
         probabilities themselves, or the class + split confidence
      -> (L, H, W): class map uint8 0 other, 1 non-residential, 2 residential, 255 nodata

Memory holds one row of tiles (``C x tile x W`` float32: 61 MB for a 10,000 px wide raster
with 512 px tiles) besides the output, never ``C x H x W`` probabilities (unless the
probability head is asked for). Tiles are read through a *source* (:class:`ArraySource` for an
in-memory scene); anything with ``shape`` and ``read(row, col, height, width)`` works, so
windowed file readers and Earth Engine chunks plug in without holding the whole raster.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..io.scene import Scene
from ..model.loading import LoadedModel
from ..sentinel2 import NODATA
from .features import correct_haze, model_inputs
from .tiling import SEAM_CONTEXT, Tile, blend_weights, check_tiling, plan_tiles

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


def _read_batch(source: TileSource, batch: list[Tile]) -> tuple[np.ndarray, np.ndarray]:
    """``(reflectance (N, B, h, w) float32, valid (N, h, w) bool)`` of a batch of same-size
    tiles, read straight into one array; tiles reaching past the raster are zero-padded and
    the padding is invalid."""
    h, w = batch[0].rows.size, batch[0].cols.size
    refl = valid = None
    for i, tile in enumerate(batch):
        tile_refl, tile_valid = source.read(tile.rows.start, tile.cols.start, h, w)
        if refl is None:
            refl = np.zeros((len(batch), tile_refl.shape[0], h, w), dtype="float32")
            valid = np.zeros((len(batch), h, w), dtype=bool)
        th, tw = tile_valid.shape
        refl[i, :, :th, :tw] = tile_refl
        valid[i, :th, :tw] = tile_valid
    return refl, valid


#: A head turns blended class probabilities ``(C, h, w)`` float32 into per-pixel layers
#: ``(L, h, w)`` (class indices, probabilities, confidence...).
Head = Callable[[np.ndarray], np.ndarray]


def class_head(probabilities: np.ndarray) -> np.ndarray:
    """One layer: the arg-max class, ``(1, h, w)`` uint8."""
    return probabilities.argmax(axis=0).astype("uint8")[None]


def probability_head(probabilities: np.ndarray) -> np.ndarray:
    """C layers: the softmax probability of each class, ``(C, h, w)`` float32."""
    return probabilities


def split_confidence(probabilities: np.ndarray, axis: int = 0) -> np.ndarray:
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


def class_confidence_head(probabilities: np.ndarray) -> np.ndarray:
    """Two layers, ``(2, h, w)`` uint8: the arg-max class and :func:`split_confidence`."""
    return np.stack([probabilities.argmax(axis=0).astype("uint8"),
                     split_confidence(probabilities)])


def default_overlap(card) -> int:
    """The overlap used when none is given: the card's, and at least three times
    :data:`~urbanseg_core.inference.tiling.SEAM_CONTEXT` (context, blend, context) so tiled
    predictions equal whole-image ones; per-window min-max models keep the card's (their
    windows are part of the input contract)."""
    if card.normalisation.method == "minmax_window":
        return card.overlap
    return max(card.overlap, 3 * SEAM_CONTEXT)


def tiling_for(card, height: int, width: int, tile_size: int | None = None,
               overlap: int | None = None) -> tuple[int, int]:
    """The ``(tile side, overlap)`` in px that :func:`predict_layers` uses for a raster: the
    ones given, else :func:`default_overlap` (at most half a given tile, a multiple of 16)
    and :func:`scene_tile_size` (what run manifests record).

    Raises:
        TilingError: the pair cannot tile a raster (plain message).
    """
    if overlap is None:
        overlap = default_overlap(card)
        if tile_size:
            overlap = min(overlap, tile_size // 2 // 16 * 16)
    tile_size = tile_size or scene_tile_size(card, height, width, overlap)
    check_tiling(tile_size, overlap)
    return tile_size, overlap


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
    """Run the model over a source tile by tile and keep what ``head`` makes of the blended
    class probabilities (see the module docstring).

    Args:
        source: a :class:`TileSource` (e.g. :class:`ArraySource`).
        loaded: the model and its card (normalisation, tile size, overlap).
        head: what to keep per pixel (:func:`class_head`, :func:`probability_head`,
            :func:`class_confidence_head`), applied to blended probabilities.
        tile_size: tile side in pixels (default: :func:`scene_tile_size`).
        overlap: pixels shared by neighbouring tiles (default: :func:`default_overlap`, at
            most half a given ``tile_size``).
        batch_size: tiles per forward pass (default: as many as make about 0.5 M pixels,
            which bounds memory: 8 tiles of 256 px, 2 of 512 px).
        progress: called as ``progress(done_tiles, total_tiles)`` after each batch.
        haze: ``(11,)`` reflectance haze of the whole raster for cards with
            ``normalisation.haze`` set (batch tiles pass their input's value); ``None``:
            estimated from the source (:func:`~urbanseg_core.inference.features.correct_haze`).

    Returns:
        ``(L, H, W)`` in the head's dtype; where the input has no data, :data:`NODATA` (255)
        for integer layers and 0 for float layers.

    Raises:
        TilingError: a tile size or overlap that cannot tile a raster (plain message).
    """
    card = loaded.card
    source = correct_haze(source, card.normalisation, haze)
    height, width = source.shape
    tile_size, overlap = tiling_for(card, height, width, tile_size, overlap)
    tiles = plan_tiles(height, width, tile_size, overlap)
    blender = _Blender(source.shape, tiles, head, card.architecture.n_classes)
    batch_size = batch_size or max(1, BATCH_PIXELS // (tile_size * tile_size))
    done = 0
    if progress:
        progress(0, len(tiles))
    for row in blender.rows:
        for i in range(0, len(row), batch_size):
            batch = row[i:i + batch_size]
            blender.add(batch, *_run_batch(source, batch, loaded))
            done += len(batch)
            if progress:
                progress(done, len(tiles))
        blender.finish_row()
    return blender.out


class _Blender:
    """Sums weighted tile probabilities into a band buffer one row of tiles deep (allocated
    once) and hands the rows no later tile reaches to the head, writing its layers into
    :attr:`out`; the rows the next row of tiles still covers move up to the buffer's top."""

    def __init__(self, shape: tuple[int, int], tiles: list[Tile], head: Head, classes: int):
        self.shape, self.head = shape, head
        self.rows = _rows_of(tiles)
        row_spans = [r[0].rows for r in self.rows]
        col_spans = [t.cols for t in self.rows[0]]
        self.row_weights = dict(zip((r.start for r in row_spans), blend_weights(row_spans)))
        self.col_weights = dict(zip((c.start for c in col_spans), blend_weights(col_spans)))
        probe = head(np.full((classes, 1, 1), 1 / classes, dtype="float32"))
        self.fill = NODATA if probe.dtype.kind in "ui" else 0
        self.out = np.full((probe.shape[0], *shape), self.fill, dtype=probe.dtype)
        depth = min(row_spans[0].size, shape[0])
        self.acc = np.zeros((classes, depth, shape[1]), dtype="float32")
        self.weight = np.zeros((depth, shape[1]), dtype="float32")
        self.valid = np.zeros((depth, shape[1]), dtype=bool)
        self.done_rows = 0
        self.top = 0  # raster row of the buffers' first row

    def add(self, batch: list[Tile], probs: np.ndarray | None, valid: np.ndarray) -> None:
        """Add a batch's ``(N, C, h, w)`` probabilities (``None``: no data in the batch)."""
        if probs is None:
            return
        for tile, p, ok in zip(batch, probs, valid):
            r, c = tile.rows, tile.cols
            h = min(r.size, self.shape[0] - r.start)
            w = min(c.size, self.shape[1] - c.start)
            win = self.row_weights[r.start][:h, None] * self.col_weights[c.start][None, :w]
            rows = slice(r.start - self.top, r.start - self.top + h)
            cols = slice(c.start, c.start + w)
            self.acc[:, rows, cols] += p[:, :h, :w] * win
            self.weight[rows, cols] += win
            self.valid[rows, cols] |= ok[:h, :w]

    def finish_row(self) -> None:
        """Hand the rows no later tile reaches to the head; move the rest up."""
        self.done_rows += 1
        end = (self.rows[self.done_rows][0].rows.start if self.done_rows < len(self.rows)
               else self.shape[0])
        n = end - self.top
        if self.valid[:n].any():
            probs = self.acc[:, :n] / np.maximum(self.weight[:n], 1e-12)
            layers = self.head(probs)
            np.copyto(layers, np.asarray(self.fill, dtype=layers.dtype),
                      where=~self.valid[None, :n])
            self.out[:, self.top:end] = layers
        kept = self.weight.shape[0] - n  # the rows the next row of tiles still covers
        for buffer in (self.acc, self.weight, self.valid):
            buffer[..., :kept, :] = buffer[..., n:, :]
            buffer[..., kept:, :] = 0
        self.top = end


def _rows_of(tiles: list[Tile]) -> list[list[Tile]]:
    """The tiles of a row-major plan grouped by row."""
    rows: list[list[Tile]] = []
    for tile in tiles:
        if rows and rows[-1][0].rows.start == tile.rows.start:
            rows[-1].append(tile)
        else:
            rows.append([tile])
    return rows


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
    arg-max equals :func:`predict_source`'s class map (same tiles, same blending)."""
    return predict_layers(source, loaded, probability_head, **kwargs)


def _run_batch(source: TileSource, batch: list[Tile], loaded: LoadedModel
               ) -> tuple[np.ndarray | None, np.ndarray]:
    """``(probabilities (N, C, h, w) float32 or None, valid (N, h, w) bool)`` of a batch of
    same-size tiles; ``None`` when the batch holds no data (the model is skipped)."""
    refl, valid = _read_batch(source, batch)
    if not valid.any():
        return None, valid
    x = model_inputs(refl, valid, loaded.card)
    del refl  # not held while the network runs: the peak is the network's buffers + x
    return loaded.probabilities(x), valid


#: Tile sides tried by :func:`choose_tile_size`, as multiples of the card's tile size.
TILE_FACTORS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0)
#: Most pixels in one automatically chosen tile (a tile is square unless the raster is
#: narrower than it), which bounds the network's buffers: 768 x 1024 px. Measured on a
#: 2048 x 10,000 px scene with the bundled model (192 px overlap): 512 px tiles 1.14 GB peak
#: and 266 s, 768 px 1.25 GB and 155 s, 1024 px 1.72 GB and 157 s: square 1024 px tiles are
#: no faster than 768 px ones for half a GB more, so they are not chosen. A raster at most 768
#: px on one side and 1024 px on the other (the sample: 768 x 1024) is one tile, without the
#: overlap two 768 px tiles would compute twice (ONNX Runtime, 2 threads: 0.35 s against
#: 2 x 0.26 s; predict's peak 487 MiB against 459 MiB, ``benchmarks/bench_cold_start.py``).
MAX_TILE_PX = 768 * 1024


def choose_tile_size(height: int, width: int, base: int, overlap: int) -> int:
    """The tile side among ``base`` x :data:`TILE_FACTORS` (multiples of 16, at least twice
    the overlap, tiles of at most :data:`MAX_TILE_PX` pixels) that processes the fewest
    pixels for a raster, counting overlap and edge padding; ties go to the larger tile.

    Larger tiles waste less on overlap over large rasters (``(768 / 576)²`` = 1.78 x the
    output pixels against ``(512 / 320)²`` = 2.56 x for 192 px overlap), smaller ones waste
    less on padding at the edges of small rasters; a raster smaller than a tile is one tile.
    With enough overlap the answer does not depend on the tile size (see
    :mod:`urbanseg_core.inference.tiling`).
    """
    best, best_cost = None, None
    for factor in TILE_FACTORS:
        size = int(round(base * factor / 16)) * 16
        if size < 2 * overlap:
            continue
        tiles = plan_tiles(height, width, size, overlap)
        if tiles[0].rows.size * tiles[0].cols.size > MAX_TILE_PX:
            continue
        cost = sum(t.rows.size * t.cols.size for t in tiles)
        if best_cost is None or cost <= best_cost:
            best, best_cost = size, cost
    return best if best is not None else max(base, -(-2 * overlap // 16) * 16)


def scene_tile_size(card, height: int, width: int, overlap: int | None = None) -> int:
    """The tile side :func:`predict_source` uses for a ``height`` x ``width`` px raster when
    none is given: the model's window for per-window min-max models (part of their input
    contract), else :func:`choose_tile_size` from the card's ``tile_size`` and ``overlap``
    (default: :func:`default_overlap`)."""
    overlap = default_overlap(card) if overlap is None else overlap
    if card.normalisation.method == "minmax_window":
        return card.normalisation.window or card.tile_size
    return choose_tile_size(height, width, card.tile_size, overlap)


def predict_scene(scene: Scene, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """:func:`predict_source` on an in-memory scene; returns the ``(H, W)`` uint8 class map."""
    return predict_source(ArraySource(scene), loaded, **kwargs)


def scene_probabilities(scene: Scene, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """:func:`predict_probabilities` of an in-memory scene: ``(C, H, W)`` float32."""
    return predict_probabilities(ArraySource(scene), loaded, **kwargs)
