"""Agreement between a predicted class map and a reference: Dice, IoU, confusion matrix.

Only pixels valid in both maps (neither is 255) count. Per class ``c`` with true positives
TP, false positives FP and false negatives FN:

- Dice = 2 TP / (2 TP + FP + FN) (Sørensen-Dice, equal to F1);
- IoU = TP / (TP + FP + FN) (Jaccard);
- precision = TP / (TP + FP), recall = TP / (TP + FN).

A ratio whose denominator is 0 is **NaN** (undefined): e.g. the Dice of a class that is absent
from both the reference and the prediction, or the precision of a class never predicted.
NaN is not 0 and not 1: the class simply gives no evidence. :func:`json_safe` turns NaN into
``null`` for JSON output.

``dice_weighted`` averages the per-class Dice weighted by reference support (TP + FN), as
``torchmetrics`` ``Dice(average="weighted")`` that the original project reported; classes
without reference pixels get weight 0. It is dominated by "other" on most scenes, so
``dice_macro_builtup`` (mean Dice of non-residential and residential, NaN classes skipped)
and ``dice_binary_builtup`` (built-up = non-residential or residential, vs other) are
reported beside it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import ReferenceError_
from ..sentinel2 import CLASS_NAMES as DEFAULT_CLASS_NAMES
from ..sentinel2 import NODATA


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else math.nan


def confusion_matrix(pred: np.ndarray, ref: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Confusion matrix over pixels valid in both maps.

    Args:
        pred: ``(H, W)`` uint8 predicted classes (255 nodata).
        ref: ``(H, W)`` uint8 reference classes (255 nodata).
        n_classes: number of classes (values ``0 .. n_classes - 1``).

    Returns:
        ``(n_classes, n_classes)`` int64, rows = reference class, columns = predicted class.

    Raises:
        ValueError: the shapes differ, or a valid value is outside ``0 .. n_classes - 1``.
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    cm = np.zeros(n_classes * n_classes, dtype="int64")
    rows = max(1, (1 << 22) // max(1, pred.shape[-1])) if pred.ndim == 2 else len(pred)
    for start in range(0, max(len(pred), 1), rows):  # blocks of rows: bounded int64 copies
        p_block, r_block = pred[start:start + rows], ref[start:start + rows]
        ok = (p_block != NODATA) & (r_block != NODATA)
        p = p_block[ok].astype("int64")
        r = r_block[ok].astype("int64")
        if p.size and (p.max() >= n_classes or r.max() >= n_classes):
            raise ValueError(f"class values must be below {n_classes} (or 255 for nodata)")
        cm += np.bincount(r * n_classes + p, minlength=n_classes * n_classes)
    return cm.reshape(n_classes, n_classes)


def scores_from_confusion(cm: np.ndarray,
                          class_names: Sequence[str] = DEFAULT_CLASS_NAMES) -> dict[str, Any]:
    """All scores of :func:`evaluate_maps` from a confusion matrix (rows = reference).

    Class 0 is taken as "other" and every other class as built-up.
    """
    cm = np.asarray(cm, dtype="int64")
    n = cm.shape[0]
    if len(class_names) != n:
        raise ValueError(f"{len(class_names)} class names for {n} classes")
    total = int(cm.sum())
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict[str, float | int]] = {}
    dices = []
    for c, name in enumerate(class_names):
        fp = int(predicted[c] - tp[c])
        fn = int(support[c] - tp[c])
        dice = _ratio(2 * tp[c], 2 * tp[c] + fp + fn)
        dices.append(dice)
        per_class[name] = {
            "dice": dice,
            "iou": _ratio(tp[c], tp[c] + fp + fn),
            "precision": _ratio(tp[c], tp[c] + fp),
            "recall": _ratio(tp[c], tp[c] + fn),
            "support_px": int(support[c]),
        }
    weights = support.astype("float64")
    weighted = (
        float(sum(w * d for w, d in zip(weights, dices) if w > 0) / weights.sum())
        if weights.sum() > 0 else math.nan
    )
    built = [d for d in dices[1:] if not math.isnan(d)]
    macro = float(np.mean(built)) if built else math.nan
    # binary built-up vs other
    b_tp = int(cm[1:, 1:].sum())
    b_fp = int(cm[0, 1:].sum())
    b_fn = int(cm[1:, 0].sum())
    return {
        "dice_weighted": weighted,
        "dice_macro_builtup": macro,
        "dice_binary_builtup": _ratio(2 * b_tp, 2 * b_tp + b_fp + b_fn),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "built_up_share_pred": _ratio(predicted[1:].sum(), total),
        "built_up_share_ref": _ratio(support[1:].sum(), total),
        "valid_px": total,
    }


#: A reference looks swapped when exchanging its two built-up classes raises the mean Dice of
#: the built-up classes by at least this much, and to at least 1.5 times its value.
SWAP_GAIN = 0.15


def swapped_builtup(cm: np.ndarray) -> dict[str, float] | None:
    """Whether the reference's two built-up classes look swapped (residential coded as
    non-residential and back), from a 3-class confusion matrix (rows = reference).

    Returns:
        ``{"dice_macro_builtup": as given, "if_swapped": with reference classes 1 and 2
        exchanged}`` when the exchange gains at least :data:`SWAP_GAIN` and 50 %, else
        ``None``.
    """
    cm = np.asarray(cm, dtype="int64")
    if cm.shape != (3, 3):
        return None
    given = scores_from_confusion(cm)["dice_macro_builtup"]
    swapped = scores_from_confusion(cm[[0, 2, 1]])["dice_macro_builtup"]
    if math.isnan(swapped) or math.isnan(given):
        return None
    if swapped >= given + SWAP_GAIN and swapped >= 1.5 * given:
        return {"dice_macro_builtup": given, "if_swapped": swapped}
    return None


def macro_builtup_present(cm: np.ndarray) -> float:
    """Mean Dice of the built-up classes (index 1 and up) that have reference pixels.

    Unlike ``dice_macro_builtup``, a built-up class the reference does not label (no
    residential label in a map of non-residential buildings) is left out even when the
    prediction has it, so a model is not scored on a class the reference cannot judge; the
    cross-city table and adaptation use it.

    Args:
        cm: ``(C, C)`` confusion matrix, rows = reference (:func:`confusion_matrix`).

    Returns:
        The mean Dice, NaN when the reference has no built-up pixel.
    """
    cm = np.asarray(cm, dtype="int64")
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    dices = [2 * tp[c] / (support[c] + predicted[c]) for c in range(1, cm.shape[0])
             if support[c] > 0]
    return float(np.mean(dices)) if dices else math.nan


def evaluate_maps(pred: np.ndarray, ref: np.ndarray,
                  class_names: Sequence[str] = DEFAULT_CLASS_NAMES) -> dict[str, Any]:
    """Score a predicted class map against a reference class map.

    Args:
        pred: ``(H, W)`` uint8 prediction, index classes (0 other, 1 non-residential,
            2 residential), 255 nodata.
        ref: ``(H, W)`` uint8 reference in the same codes, 255 where there is no reference.
        class_names: names in index order; index 0 is "other", the rest built-up.

    Returns:
        A dict with ``dice_weighted``, ``dice_macro_builtup``, ``dice_binary_builtup``,
        ``per_class`` ({name: {dice, iou, precision, recall, support_px}}),
        ``confusion_matrix`` (list of lists, rows = reference, columns = prediction),
        ``built_up_share_pred``, ``built_up_share_ref`` (fractions 0-1), ``valid_px``,
        ``unscored_reference_px`` (reference pixels where the prediction has no data: not
        scored) and ``swapped_builtup`` (:func:`swapped_builtup`: ``None`` unless the
        reference's built-up classes look swapped). Undefined ratios are NaN (see module
        docstring).

    Raises:
        ReferenceError_: no pixel is valid in both maps.
        ValueError: shapes differ or values are out of range.
    """
    cm = confusion_matrix(pred, ref, len(class_names))
    if cm.sum() == 0:
        raise ReferenceError_(
            "No pixel has both a prediction and a reference value: the reference does not "
            "overlap the image's valid area."
        )
    scores = scores_from_confusion(cm, class_names)
    scores["unscored_reference_px"] = int(((ref != NODATA) & (pred == NODATA)).sum())
    scores["swapped_builtup"] = swapped_builtup(cm)
    return scores


def json_safe(obj: Any) -> Any:
    """A copy of nested dicts/lists/numbers with NaN and infinities replaced by ``None``
    (JSON ``null``) and numpy scalars turned into Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
