"""A spatially separated validation block for each image of an adaptation.

The labelled part of an image is cut into ``round(1 / fraction)`` strips holding equal
shares of its built-up reference pixels, once along the rows and once along the columns. The
validation block is the strip that leaves both itself and the rest closest to the whole
reference's class mix (:func:`_balance`; ties go to the longer side of the labelled extent,
then to a strip at an edge, then to the last one), extended to the image's edges across the
other side.
No training crop touches the block or a ``buffer`` of pixels around it, so the block's score
is not the score of pixels the model learned (neighbouring pixels are correlated; the
bundled model's recipe holds a 64 px buffer around its held-out block).

Images on the same grid (the same place at two dates) share one block, planned on their
labels together, so no date trains on pixels another date validates on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import ReferenceContentError
from ...sentinel2 import NODATA

#: Fewest built-up reference pixels in a validation block, and left for training.
MIN_VALIDATION_BUILT_UP_PX = 100
MIN_TRAINING_BUILT_UP_PX = 300
#: About the most pixels a validation block spans (150 km² at 10 m): on larger images the
#: block holds a smaller share of the built-up pixels (down to :data:`MIN_FRACTION`), so
#: scoring it stays a small part of the time budget.
MAX_VALIDATION_PX = 1_500_000
MIN_FRACTION = 0.05


@dataclass(frozen=True)
class Block:
    """Rows ``r0:r1`` and columns ``c0:c1`` of an image's grid (pixels, end excluded)."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def rows(self) -> slice:
        return slice(self.r0, self.r1)

    @property
    def cols(self) -> slice:
        return slice(self.c0, self.c1)

    def grown(self, margin: int, shape: tuple[int, int]) -> "Block":
        """This block with ``margin`` pixels more on every side, clipped to ``shape``."""
        return Block(max(self.r0 - margin, 0), min(self.r1 + margin, shape[0]),
                     max(self.c0 - margin, 0), min(self.c1 + margin, shape[1]))

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)``, the layout training sources take for exclusions."""
        return self.r0, self.r1, self.c0, self.c1


@dataclass(frozen=True)
class Split:
    """Where an image validates and where it may train.

    Attributes:
        val: the validation block (scored, never trained on).
        exclude: ``val`` grown by the buffer: no training crop overlaps it.
        axis: 0 when the block is a band of rows, 1 a band of columns.
    """

    val: Block
    exclude: Block
    axis: int

    def describe(self) -> str:
        """One sentence for the model card."""
        what = "rows" if self.axis == 0 else "columns"
        lo, hi = ((self.val.r0, self.val.r1) if self.axis == 0 else (self.val.c0, self.val.c1))
        blo, bhi = ((self.exclude.r0, self.exclude.r1) if self.axis == 0
                    else (self.exclude.c0, self.exclude.c1))
        return (f"validation block: {what} {lo}-{hi} of the image grid; training outside "
                f"{what} {blo}-{bhi} (a buffer of {lo - blo or bhi - hi} px around the block)")


def _line_counts(label: np.ndarray, axis: int) -> np.ndarray:
    """``(lines, 3)`` labelled pixels of each class per row (axis 0) or column (axis 1)."""
    return np.stack([(label == c).sum(axis=1 - axis) for c in range(3)], axis=1)


def _candidates(counts: np.ndarray, n: int) -> list[tuple[int, int]]:
    """``n`` line ranges ``[a, b)`` holding equal shares of the built-up pixels."""
    cum = np.cumsum(counts[:, 1] + counts[:, 2])
    total = cum[-1]
    out = []
    for k in range(n):
        a = 0 if k == 0 else int(np.searchsorted(cum, k * total / n, side="right"))
        b = (len(cum) if k == n - 1
             else int(np.searchsorted(cum, (k + 1) * total / n, side="right")))
        if b > a:
            out.append((a, b))
    return out


def _balance(counts: np.ndarray, a: int, b: int, fraction: float, buffer: int) -> float:
    """How well lines ``a:b`` and the rest (beyond ``buffer`` lines around them) both
    represent every class the reference has: the smallest, over those classes, of the
    strip's share of the class divided by ``fraction`` and the rest's share divided by
    ``1 - fraction``, capped at 1 (1 = both as the whole, 0 = a class absent from a side)."""
    total = counts.sum(axis=0)
    strip = counts[a:b].sum(axis=0)
    rest = total - counts[max(a - buffer, 0):b + buffer].sum(axis=0)
    ratios = [min(strip[c] / total[c] / fraction, rest[c] / total[c] / (1 - fraction), 1.0)
              for c in range(3) if total[c] > 0]
    return float(min(ratios))


def _pick(label: np.ndarray, fraction: float, buffer: int) -> tuple[int, int, int]:
    """``(axis, a, b)`` of the validation strip: the best :func:`_balance` among the strips
    of both axes; ties go to the longer side of the labelled extent, then to a strip at an
    edge, then to the last one."""
    n = max(int(round(1 / fraction)), 2)
    rows, cols = np.nonzero(label != NODATA)
    longer = 0 if rows.size and np.ptp(rows) >= np.ptp(cols) else 1
    best: tuple | None = None
    for axis in (0, 1):
        counts = _line_counts(label, axis)
        for a, b in _candidates(counts, n):
            key = (round(_balance(counts, a, b, fraction, buffer), 2), axis == longer,
                   a == 0 or b == len(counts), a)
            if best is None or key > best[0]:
                best = (key, axis, a, b)
    return best[1], best[2], best[3]


def plan_split(label: np.ndarray, fraction: float = 0.2, buffer: int = 32) -> Split:
    """The validation block of one image's reference (see the module docstring).

    Args:
        label: ``(H, W)`` uint8 index classes, 255 unlabelled.
        fraction: the share of built-up reference pixels to validate on (0-0.5); less on
            images of more than :data:`MAX_VALIDATION_PX` / ``fraction`` pixels.
        buffer: pixels around the block that no training crop may touch.

    Returns:
        A :class:`Split`.

    Raises:
        ReferenceContentError: the block or the rest would hold too few built-up pixels
            (:data:`MIN_VALIDATION_BUILT_UP_PX`, :data:`MIN_TRAINING_BUILT_UP_PX`).
    """
    H, W = label.shape
    fraction = min(fraction, max(MIN_FRACTION, MAX_VALIDATION_PX / label.size))
    axis, a, b = _pick(label, fraction, buffer)
    val = Block(a, b, 0, W) if axis == 0 else Block(0, H, a, b)
    ex = val.grown(buffer, (H, W))
    ex = Block(ex.r0, ex.r1, 0, W) if axis == 0 else Block(0, H, ex.c0, ex.c1)
    _check_sizes(_line_counts(label, axis), val, ex, axis)
    return Split(val, ex, axis)


def _check_sizes(counts: np.ndarray, val: Block, ex: Block, axis: int) -> None:
    built = counts[:, 1] + counts[:, 2]
    lo, hi = (val.r0, val.r1) if axis == 0 else (val.c0, val.c1)
    blo, bhi = (ex.r0, ex.r1) if axis == 0 else (ex.c0, ex.c1)
    in_val, total = int(built[lo:hi].sum()), int(built.sum())
    in_train = total - int(built[blo:bhi].sum())
    if in_val < MIN_VALIDATION_BUILT_UP_PX or in_train < MIN_TRAINING_BUILT_UP_PX:
        raise ReferenceContentError(
            f"The reference's {total:,} built-up pixels are too few or too clustered to hold "
            f"a validation block back ({in_val:,} in the block, {in_train:,} left to learn "
            f"from; at least {MIN_VALIDATION_BUILT_UP_PX} and {MIN_TRAINING_BUILT_UP_PX} are "
            "needed).", "Give a reference over a larger built-up area.",
            labelled_px=int(counts.sum()), built_up_px=total,
            needed_px=MIN_VALIDATION_BUILT_UP_PX + MIN_TRAINING_BUILT_UP_PX)


def _grid_key(pair) -> tuple:
    s = pair.scene
    return (str(s.crs), tuple(s.transform), s.shape)


def plan_splits(pairs: Sequence, fraction: float = 0.2, buffer: int = 32) -> list[Split]:
    """One :class:`Split` per pair; pairs on the same grid share one, planned on their
    labels together (the first labelled value of each pixel).

    Args:
        pairs: :class:`~urbanseg_core.training.adapt.inputs.AdaptPair` objects.
        fraction, buffer: see :func:`plan_split`.

    Raises:
        ReferenceContentError: see :func:`plan_split`.
    """
    joined: dict[tuple, np.ndarray] = {}
    for pair in pairs:
        key = _grid_key(pair)
        prev = joined.get(key)
        joined[key] = pair.label if prev is None else np.where(prev != NODATA, prev, pair.label)
    plans = {key: plan_split(label, fraction, buffer) for key, label in joined.items()}
    return [plans[_grid_key(pair)] for pair in pairs]
