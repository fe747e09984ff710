"""The from-to decision: spectral evidence says *whether* a pixel changed, the model says *from
what to what*.

Per pixel, with the model's class probabilities ``p1`` (BEFORE) and ``p2`` (AFTER) and the
change-vector magnitude ``m`` (:func:`~urbanseg_core.change.spectral.change_magnitude`):

1. **candidate change**: ``m > min_magnitude`` (the surface changed beyond the scene's normal
   date-to-date difference) and ``max(p1_built, p2_built) > built_up_probability`` (the model
   sees built-up area at one date at least: urban change, not crops, water or forest);
2. **minimum mapping unit**: candidate regions (8-connected) smaller than ``min_area_m2``
   are dropped (:func:`rasterio.features.sieve`);
3. **from-to**: as in compound classification (Swain 1978), the pair ``(i, j)`` maximises
   ``p1(i) * p2(j) * T(i, j)`` with a transition prior ``T`` set by step 1-2: for changed
   pixels ``T`` excludes ``i == j`` (the most probable pair of *different* classes), for the
   others it excludes ``i != j`` (the class most probable at both dates together,
   ``argmax_k p1(k) p2(k)``). Unchanged pixels thus get one class for both dates, which
   removes the flicker of two independent per-date maps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from rasterio.features import sieve

from ..sentinel2 import NODATA
from .codes import N_CLASSES
from .spectral import CVA_BANDS, NOISE_FLOOR


@dataclass(frozen=True)
class ChangeParams:
    """The method's free parameters (defaults chosen on ten OSCD cities, see README).

    Attributes:
        min_magnitude: change-vector magnitude above which a pixel's surface changed, in
            robust standard deviations of the scene's date-to-date difference.
        min_area_m2: minimum mapping unit, m² (2500 m² = 0.25 ha, the MMU of Copernicus Urban
            Atlas for artificial surfaces; 25 pixels of 10 m).
        built_up_probability: the model's probability of built-up area (non-residential +
            residential) that one date at least must exceed.
        tolerance_px: misregistration tolerated by the change vector, pixels.
        noise_floor: smallest spread (reflectance) of a band's difference.
        bands: bands of the change vector.
    """

    min_magnitude: float = 5.5
    min_area_m2: float = 2500.0
    built_up_probability: float = 0.5
    tolerance_px: int = 1
    noise_floor: float = NOISE_FLOOR
    bands: tuple[str, ...] = CVA_BANDS

    def min_pixels(self, pixel_area_m2: float) -> int:
        """The minimum mapping unit in pixels of ``pixel_area_m2`` (at least 1)."""
        return max(1, math.ceil(self.min_area_m2 / pixel_area_m2 - 1e-9))

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        d = asdict(self)
        d["bands"] = list(self.bands)
        return d


def built_up_probability(probs: np.ndarray) -> np.ndarray:
    """``(H, W)`` probability of built-up area (classes 1 and 2) of ``(3, H, W)`` softmax
    probabilities."""
    return probs[1:].sum(axis=0)


def sieve_mask(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """``mask`` without its 8-connected regions of fewer than ``min_pixels`` pixels.

    Args:
        mask: ``(H, W)`` bool.
        min_pixels: smallest region kept.

    Returns:
        ``(H, W)`` bool, a subset of ``mask`` (holes are not filled).
    """
    if min_pixels <= 1 or not mask.any():
        return mask.copy()
    kept = sieve(mask.astype("uint8"), size=int(min_pixels), connectivity=8)
    return (kept > 0) & mask


def candidates(p1: np.ndarray, p2: np.ndarray, magnitude: np.ndarray, valid: np.ndarray,
               params: ChangeParams, pixel_area_m2: float) -> np.ndarray:
    """Pixels that changed (steps 1-2 of the module docstring).

    Args:
        p1, p2: ``(3, H, W)`` float32 class probabilities at the two dates.
        magnitude: ``(H, W)`` float32 change-vector magnitude.
        valid: ``(H, W)`` bool overlap.
        params: thresholds.
        pixel_area_m2: area of one pixel, m² (for the minimum mapping unit).

    Returns:
        ``(H, W)`` bool.
    """
    built = np.maximum(built_up_probability(p1), built_up_probability(p2))
    mask = valid & (magnitude > params.min_magnitude) & (built > params.built_up_probability)
    return sieve_mask(mask, params.min_pixels(pixel_area_m2))


def from_to(p1: np.ndarray, p2: np.ndarray, changed: np.ndarray,
            valid: np.ndarray) -> np.ndarray:
    """From-to codes ``3 * before + after`` (step 3 of the module docstring).

    Args:
        p1, p2: ``(3, H, W)`` class probabilities at the two dates.
        changed: ``(H, W)`` bool, pixels whose class changes.
        valid: ``(H, W)`` bool overlap; other pixels get 255.

    Returns:
        ``(H, W)`` uint8 codes 0-8, 255 nodata.
    """
    joint = (p1[:, None] * p2[None]).reshape(N_CLASSES * N_CLASSES, *p1.shape[1:])
    diagonal = np.arange(N_CLASSES) * (N_CLASSES + 1)
    off_diagonal = np.setdiff1d(np.arange(N_CLASSES * N_CLASSES), diagonal)
    same = diagonal[np.argmax(joint[diagonal], axis=0)]
    different = off_diagonal[np.argmax(joint[off_diagonal], axis=0)]
    codes = np.where(changed, different, same).astype("uint8")
    codes[~valid] = NODATA
    return codes
