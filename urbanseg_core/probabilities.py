"""Tiled class probabilities (softmax of the UNet's logits), beside the class-map predictor.

:func:`urbanseg_core.predict.predict_source` returns the arg-max class of every pixel, which
is all a map needs. Change detection also needs *how sure* the model is at each date, so this
module runs the same tile plan, haze correction, indices and normalisation, but keeps the
softmax of the logits::

    source (11, H, W) reflectance + valid
      -> correct_haze -> tiles (plan_tiles, same size / overlap as predict_source)
      -> 15 channels -> card normalisation -> UNet logits -> softmax over classes
      -> keep each tile's core -> (C, H, W) float32 probabilities (0 where no data)

It always runs the PyTorch network (the ONNX engine of :mod:`urbanseg_core.engine` only
returns class indices). The arg-max of the result equals ``predict_source``'s class map up to
ties and engine rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from .bands import Scene
from .indices import add_indices
from .loading import LoadedModel
from .normalise import correct_haze, normalise
from .predict import BATCH_PIXELS, ArraySource, ProgressCallback, TileSource, _load_tile
from .predict import scene_tile_size
from .tiling import plan_tiles


def _softmax(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """``(N, 15, h, w)`` normalised channels -> ``(N, C, h, w)`` float32 softmax."""
    with torch.inference_mode():
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(loaded.device)
        xt = xt.contiguous(memory_format=torch.channels_last)
        return torch.softmax(loaded.model(xt).float(), dim=1).cpu().numpy()


def predict_probabilities(
    source: TileSource,
    loaded: LoadedModel,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    haze: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities of every pixel of a source, tile by tile.

    Args:
        source: a tile source (``shape`` and ``read(row, col, height, width)``, see
            :mod:`urbanseg_core.predict`).
        loaded: the model and its card.
        tile_size, overlap, batch_size, progress, haze: as for
            :func:`~urbanseg_core.predict.predict_source`.

    Returns:
        ``(C, H, W)`` float32 softmax probabilities (C = the card's classes, summing to 1 at
        each valid pixel); 0 in every class where the input has no data.
    """
    card = loaded.card
    source = correct_haze(source, card.normalisation, haze)
    overlap = card.overlap if overlap is None else overlap
    height, width = source.shape
    tile_size = tile_size or scene_tile_size(card, height, width, overlap)
    tiles = plan_tiles(height, width, tile_size, overlap)
    batch_size = batch_size or max(1, BATCH_PIXELS // (tile_size * tile_size))
    out = np.zeros((card.architecture.n_classes, height, width), dtype="float32")
    if progress:
        progress(0, len(tiles))
    for i in range(0, len(tiles), batch_size):
        batch = tiles[i:i + batch_size]
        loaded_tiles = [_load_tile(source, t) for t in batch]
        refl = np.stack([t[0] for t in loaded_tiles])
        valid = np.stack([t[1] for t in loaded_tiles])
        if valid.any():
            probs = _softmax(loaded, normalise(add_indices(refl), valid, card.normalisation))
            probs *= valid[:, None]
            for tile, p in zip(batch, probs):
                r, c = tile.rows, tile.cols
                out[:, r.core_start:r.core_end, c.core_start:c.core_end] = p[
                    :, r.core_start - r.start:r.core_end - r.start,
                    c.core_start - c.start:c.core_end - c.start]
        if progress:
            progress(min(i + batch_size, len(tiles)), len(tiles))
    return out


def scene_probabilities(scene: Scene, loaded: LoadedModel, **kwargs) -> np.ndarray:
    """:func:`predict_probabilities` of an in-memory scene on its own grid: ``(C, H, W)``
    float32."""
    return predict_probabilities(ArraySource(scene), loaded, **kwargs)
