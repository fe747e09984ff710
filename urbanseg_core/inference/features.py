"""The original project's four spectral indices, appended to the 11 bands (15 channels).

All are normalised differences ``(a - b) / (a + b)`` on reflectance, defined as 0 where the
denominator is 0 (e.g. nodata pixels filled with 0).

References:
    NDVI: Rouse et al. (1974), NASA SP-351. NDTI (tillage index): Van Deventer et al. (1997),
    Photogramm. Eng. Remote Sens. 63(1). NDVIre (red-edge NDVI): Gitelson & Merzlyak (1994).
    MNDWI: Xu (2006), Int. J. Remote Sens. 27(14). Band choice as in the original MSc project
    (Reichman University, 2022).
"""

from __future__ import annotations

import numpy as np

from ..io.scene import MODEL_BANDS

#: Index name -> (numerator band, subtracted band): index = (a - b) / (a + b).
INDICES: dict[str, tuple[str, str]] = {
    "NDVI": ("B8", "B4"),
    "NDTI": ("B11", "B12"),
    "NDVIre": ("B5", "B4"),
    "MNDWI": ("B3", "B11"),
}

#: The 15 model channels: 11 bands then 4 indices.
CHANNELS: tuple[str, ...] = MODEL_BANDS + tuple(INDICES)


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a - b) / (a + b)`` element-wise, 0 where ``a + b == 0``.

    Args:
        a, b: arrays of the same shape (reflectance, any float dtype).

    Returns:
        float32 array in [-1, 1] for non-negative inputs.
    """
    a = a.astype("float32", copy=False)
    b = b.astype("float32", copy=False)
    den = a + b
    num = a - b
    out = np.zeros(np.broadcast(a, b).shape, dtype="float32")
    np.divide(num, den, out=out, where=den != 0)
    return out


def add_indices(reflectance: np.ndarray) -> np.ndarray:
    """Append NDVI, NDTI, NDVIre and MNDWI to the 11-band stack.

    Args:
        reflectance: ``(11, H, W)`` reflectance 0-1 in :data:`~urbanseg_core.io.scene.MODEL_BANDS`
            order (also ``(N, 11, H, W)``).

    Returns:
        ``(15, H, W)`` (or ``(N, 15, H, W)``) float32 in :data:`CHANNELS` order.

    Raises:
        ValueError: when the band axis does not hold 11 bands.
    """
    axis = reflectance.ndim - 3
    if reflectance.shape[axis] != len(MODEL_BANDS):
        raise ValueError(
            f"expected {len(MODEL_BANDS)} bands on axis {axis}, got shape {reflectance.shape}"
        )
    take = lambda name: np.take(reflectance, MODEL_BANDS.index(name), axis=axis)  # noqa: E731
    extra = [normalized_difference(take(a), take(b)) for a, b in INDICES.values()]
    return np.concatenate(
        [reflectance.astype("float32", copy=False), np.stack(extra, axis=axis)], axis=axis
    )
