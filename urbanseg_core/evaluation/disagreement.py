"""Where a prediction and a reference disagree, by kind.

Three kinds, on pixels valid in both maps (index classes: 0 other, 1 non-residential,
2 residential):

- **missed built-up**: built up in the reference, "other" in the prediction;
- **extra built-up**: built up in the prediction, "other" in the reference;
- **residential <-> non-residential**: built up in both, but not the same built-up class.

The shares per kind follow from the confusion matrix of
:func:`urbanseg_core.evaluation.metrics.evaluate_maps` (rows: reference, columns: prediction),
so the figures beside the map and the map itself count the same pixels. Colours: Okabe-Ito
(Okabe & Ito 2008), apart from the classes' own blue and orange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..sentinel2 import BUILT_UP, NODATA

#: Codes of the disagreement map (0: the maps agree, 255: no data in either map).
AGREE, MISSED, EXTRA, SWAPPED = 0, 1, 2, 3


@dataclass(frozen=True)
class Kind:
    """One kind of disagreement: its code in the map, name, colour and meaning."""

    code: int
    name: str
    colour: str
    meaning: str


#: The kinds in code order (code 0, agreement, is transparent on the map).
KINDS: tuple[Kind, ...] = (
    # Okabe-Ito colours unlike the classes' blue and orange (vermilion and sky blue read as
    # residential and as a lighter non-residential over the prediction)
    Kind(MISSED, "missed built-up", "#CC79A7",
         "built up in the reference, not in the prediction"),
    Kind(EXTRA, "extra built-up", "#F0E442",
         "built up in the prediction, not in the reference"),
    Kind(SWAPPED, "residential \u2194 non-residential", "#009E73",
         "built up in both, but the other built-up class"),
)
#: Colour of each code from 0 (the agreement colour is never drawn).
COLOURS: tuple[str, ...] = ("#000000",) + tuple(k.colour for k in KINDS)


def disagreement(prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The disagreement map of two class maps on the same grid.

    Args:
        prediction, reference: ``(H, W)`` uint8 index class maps (255 nodata).

    Returns:
        ``(H, W)`` uint8: :data:`AGREE`, :data:`MISSED`, :data:`EXTRA` or :data:`SWAPPED`;
        255 where either map has no data.

    Raises:
        ValueError: the maps differ in shape.
    """
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} "
                         "are not on the same grid")
    pred_built = np.isin(prediction, BUILT_UP)
    ref_built = np.isin(reference, BUILT_UP)
    out = np.full(prediction.shape, AGREE, dtype="uint8")
    out[ref_built & ~pred_built] = MISSED
    out[pred_built & ~ref_built] = EXTRA
    out[pred_built & ref_built & (prediction != reference)] = SWAPPED
    out[(prediction == NODATA) | (reference == NODATA)] = NODATA
    return out


def shares(confusion: Sequence[Sequence[float]]) -> dict[str, float]:
    """Share of the pixels valid in both maps in each kind of disagreement.

    Args:
        confusion: 3 x 3 confusion matrix, rows reference, columns prediction (pixel counts).

    Returns:
        ``{kind name: share 0-1}`` in :data:`KINDS` order; NaN when no pixel is valid.
    """
    cm = np.asarray(confusion, dtype="float64")
    built = list(BUILT_UP)
    counts = {MISSED: cm[np.ix_(built, [0])].sum(), EXTRA: cm[np.ix_([0], built)].sum(),
              SWAPPED: cm[np.ix_(built, built)].sum() - np.trace(cm[np.ix_(built, built)])}
    total = cm.sum()
    return {k.name: (counts[k.code] / total if total else float("nan")) for k in KINDS}
