"""Held-out evaluation during and after training: scene blocks, EuroSAT patches, baselines."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..io.scene import Scene
from ..inference.features import add_indices
from ..model.loading import LoadedModel
from ..evaluation.metrics import evaluate_maps
from ..model.card import ModelCard
from ..inference.features import normalise
from ..inference.predict import predict_scene
from .datasets import EurosatPatch


def in_memory_model(model: torch.nn.Module, card: ModelCard) -> LoadedModel:
    """Wrap a network being trained so the package's tiled predictor can run it."""
    return LoadedModel(model=model, card=card, path=Path("<training>"), sha256="")


def predict_block(model: torch.nn.Module, card: ModelCard, scene: Scene) -> np.ndarray:
    """Tiled prediction of a scene with the network in eval mode; ``(H, W)`` uint8."""
    was_training = model.training
    model.eval()
    try:
        return predict_scene(scene, in_memory_model(model, card), batch_size=4)
    finally:
        model.train(was_training)


def evaluate_block(model, card: ModelCard, scene: Scene, ref: np.ndarray) -> dict:
    """:func:`~urbanseg_core.metrics.evaluate_maps` of the model's prediction of a scene."""
    return evaluate_maps(predict_block(model, card, scene), ref, card.class_names)


def threshold_baseline(scene: Scene, ndvi_max: float = 0.3, mndwi_max: float = 0.0) -> np.ndarray:
    """Spectral baseline: pixels with NDVI < ``ndvi_max`` and MNDWI < ``mndwi_max`` (not
    vegetation, not water) are called residential (the commonest built-up class), the rest
    other. NDVI: Rouse et al. 1974; MNDWI: Xu 2006. Returns ``(H, W)`` uint8, 255 nodata."""
    feats = add_indices(scene.reflectance)  # channels 11..14: NDVI, NDTI, NDVIre, MNDWI
    ndvi, mndwi = feats[11], feats[14]
    out = np.where((ndvi < ndvi_max) & (mndwi < mndwi_max), 2, 0).astype("uint8")
    out[~scene.valid] = 255
    return out


def baselines(scene: Scene, ref: np.ndarray, class_names) -> dict[str, dict]:
    """All-"other" and NDVI/MNDWI-threshold baselines scored on a block."""
    other = np.where(scene.valid, 0, 255).astype("uint8")
    return {
        "all_other": evaluate_maps(other, ref, class_names),
        "ndvi_mndwi_threshold": evaluate_maps(threshold_baseline(scene), ref, class_names),
    }


def eurosat_patch_accuracy(model: torch.nn.Module, card: ModelCard,
                           patches: list[EurosatPatch]) -> dict:
    """Majority-class accuracy on held-out EuroSAT patches.

    Each 64 x 64 patch is predicted whole; its predicted class is the most frequent pixel
    class; it is correct when that equals the patch label (Residential -> residential,
    Industrial -> non-residential, others -> other).

    Returns:
        ``{"accuracy", "n", "per_class": {eurosat class: accuracy}, "confusion_matrix"}``
        (rows = patch label, columns = majority prediction).
    """
    if not patches:
        return {"accuracy": float("nan"), "n": 0}
    was_training = model.training
    model.eval()
    preds = []
    try:
        with torch.inference_mode():
            for i in range(0, len(patches), 32):
                refl = np.stack([p.reflectance for p in patches[i:i + 32]])
                valid = (refl > 0).all(axis=1)
                x = normalise(add_indices(refl), valid, card.normalisation)
                cls = model(torch.from_numpy(x)).argmax(1).numpy()
                preds += [int(np.bincount(c.ravel(), minlength=3).argmax()) for c in cls]
    finally:
        model.train(was_training)
    labels = [p.label for p in patches]
    cm = np.zeros((3, 3), dtype=int)
    for t, p in zip(labels, preds):
        cm[t, p] += 1
    per_class = {}
    for name in sorted({p.class_name for p in patches}):
        idx = [i for i, p in enumerate(patches) if p.class_name == name]
        per_class[name] = float(np.mean([preds[i] == labels[i] for i in idx]))
    return {"accuracy": float(np.mean([a == b for a, b in zip(preds, labels)])),
            "n": len(patches), "per_class": per_class, "confusion_matrix": cm.tolist()}


def tile_speed_ms(model: torch.nn.Module, tile: int = 256, repeats: int = 5) -> dict:
    """Median forward time of one ``(1, 15, tile, tile)`` tile in eval mode, in ms, with the
    current ``torch.get_num_threads()``; plus the weights' size in MB."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, model.n_channels, tile, tile)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    model.train(was_training)
    n_bytes = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    return {"ms_per_tile": round(float(np.median(times)), 1), "tile_px": tile,
            "threads": torch.get_num_threads(), "weights_mb": round(n_bytes / 2**20, 2)}
