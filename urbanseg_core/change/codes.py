"""The from-to code of a change map: ``3 * before + after``, 255 nodata.

With the model's three classes (0 other, 1 non-residential, 2 residential) the nine codes are::

                      after: other   non-residential   residential
    before other             0             1                2
    before non-residential   3             4                5
    before residential       6             7                8

Codes 0, 4 and 8 are "no change"; 1 and 2 are new built-up area; 3 and 6 built-up area lost;
5 and 7 a change of use. Colours are from the Okabe-Ito colour-blind-safe palette (Okabe & Ito
2008): greys for no change, the class colours of the model card's palette for new built-up
area, vermillion / reddish purple for losses, green / sky blue for a change of use.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..sentinel2 import NODATA

#: Classes per date the code supports (``3 * before + after`` needs exactly three).
N_CLASSES = 3
#: Number of from-to codes.
N_PAIRS = N_CLASSES * N_CLASSES

#: Colour of each code 0-8 (hex).
PAIR_COLOURS: tuple[str, ...] = (
    "#F0F0F0",  # 0 other -> other
    "#0072B2",  # 1 other -> non-residential (new)
    "#E69F00",  # 2 other -> residential (new)
    "#D55E00",  # 3 non-residential -> other (lost)
    "#B3C7D6",  # 4 non-residential, unchanged
    "#009E73",  # 5 non-residential -> residential
    "#CC79A7",  # 6 residential -> other (lost)
    "#56B4E9",  # 7 residential -> non-residential
    "#E6D3B3",  # 8 residential, unchanged
)


def encode(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """From-to codes of two class maps.

    Args:
        before, after: ``(H, W)`` uint8 class maps (0, 1, 2; 255 nodata), same shape.

    Returns:
        ``(H, W)`` uint8 ``3 * before + after``; 255 where either map is nodata.
    """
    before = np.asarray(before)
    after = np.asarray(after)
    codes = (N_CLASSES * before.astype("uint16") + after).astype("uint8")
    codes[(before >= N_CLASSES) | (after >= N_CLASSES)] = NODATA
    return codes


def decode(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode`: ``(before, after)`` ``(H, W)`` uint8 maps, 255 where the code
    is nodata (or not a from-to code)."""
    codes = np.asarray(codes)
    bad = codes >= N_PAIRS
    before = (codes // N_CLASSES).astype("uint8")
    after = (codes % N_CLASSES).astype("uint8")
    before[bad] = NODATA
    after[bad] = NODATA
    return before, after


def changed(codes: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the class at the two dates differs (nodata is not change)."""
    before, after = decode(codes)
    return (before != after) & (before != NODATA)


def pair_names(class_names: Sequence[str], arrow: str = " -> ") -> list[str]:
    """Names of the nine from-to codes, e.g. ``"other -> residential"``; unchanged pairs read
    ``"residential (unchanged)"``.

    Raises:
        ModelLoadError: the model does not have exactly three classes.
    """
    check_classes(class_names)
    return [f"{b} (unchanged)" if i == j else f"{b}{arrow}{a}"
            for i, b in enumerate(class_names) for j, a in enumerate(class_names)]


def check_classes(class_names: Sequence[str]) -> None:
    """Raise :class:`ModelLoadError` unless the model has the three classes the code needs."""
    if len(class_names) != N_CLASSES:
        raise ModelLoadError(
            f"Change maps need a model with {N_CLASSES} classes (other, non-residential, "
            f"residential); this one has {len(class_names)}: {', '.join(class_names)}.")
