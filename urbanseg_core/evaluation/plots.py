"""Figures for evaluation: image, reference, prediction and confusion matrix (matplotlib, Agg).

matplotlib is imported only when a figure is drawn (:func:`urbanseg_core.lazy.lazy_import`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.display import true_colour_rgb
from ..lazy import lazy_import
from ..sentinel2 import NODATA
from ..util import atomic_write, hex_to_rgb


def true_colour(reflectance: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float RGB (:func:`~urbanseg_core.io.display.true_colour_rgb`), white
    where there is no data."""
    if not valid.any():
        return np.ones(valid.shape + (3,))
    out = true_colour_rgb(reflectance, valid)
    out[~valid] = 1.0
    return out


def _classes_rgb(classes: np.ndarray, colours) -> np.ndarray:
    table = np.ones((256, 3))
    for i, c in enumerate(colours):
        table[i] = [v / 255 for v in hex_to_rgb(c)]
    table[NODATA] = [0.6, 0.6, 0.6]
    return table[classes]


def evaluation_figure(scene, ref: np.ndarray, pred: np.ndarray, metrics: dict, card,
                      path: str | Path) -> Path:
    """Write a 4-panel PNG: true colour, reference, prediction (nodata grey), confusion matrix.

    Args:
        scene: the :class:`~urbanseg_core.io.scene.Scene` that was segmented.
        ref, pred: ``(H, W)`` uint8 index class maps (255 nodata) on the scene's grid.
        metrics: :func:`~urbanseg_core.evaluation.metrics.evaluate_maps` of ``pred`` vs ``ref``.
        card: the model card (class names and colours).
        path: the PNG to write.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    lazy_import("matplotlib").use("Agg")
    plt = lazy_import("matplotlib.pyplot")
    Patch = lazy_import("matplotlib.patches").Patch

    names, colours = card.class_names, card.class_colours
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
    axes[0].imshow(true_colour(scene.reflectance, scene.valid))
    axes[0].set_title("image (B4, B3, B2)")
    axes[1].imshow(_classes_rgb(ref, colours), interpolation="nearest")
    axes[1].set_title("reference")
    axes[2].imshow(_classes_rgb(pred, colours), interpolation="nearest")
    axes[2].set_title("prediction")
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[2].legend(handles=[Patch(facecolor=c, edgecolor="k", label=n)
                            for n, c in zip(names, colours)] +
                   [Patch(facecolor="#999999", label="no data")],
                   loc="lower right", fontsize=8)
    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    axes[3].imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            axes[3].text(j, i, f"{int(cm[i, j]):,}\n{100 * rows[i, j]:.0f}%", ha="center",
                         va="center", fontsize=8,
                         color="white" if rows[i, j] > 0.5 else "black")
    axes[3].set_xticks(range(len(names)), names, rotation=20)
    axes[3].set_yticks(range(len(names)), names)
    axes[3].set_xlabel("prediction")
    axes[3].set_ylabel("reference")
    dw, mb = metrics["dice_weighted"], metrics["dice_macro_builtup"]
    axes[3].set_title(f"built-up classes: Dice {mb:.3f}\n"
                      f"(weighted Dice, mostly other: {dw:.3f})", fontsize=10)
    fig.tight_layout()
    try:  # written under a temporary name and renamed: never half a PNG
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png",
                                                   bbox_inches="tight", pad_inches=0.15))
    finally:
        plt.close(fig)
    return Path(path)
