"""Spectral evidence of change: a change vector that season, haze and misregistration do not
trigger.

The change vector (change-vector analysis, Malila 1980) is the difference of the two dates'
reflectance in six bands that see built surfaces well: B2, B3, B4 (visible), B8 (NIR), B11,
B12 (SWIR). Three steps keep it from firing where nothing was built or demolished:

1. **Relative radiometric normalisation** on pseudo-invariant features (Schott, Salvaggio &
   Volchok 1988): per band, BEFORE is mapped to AFTER's radiometry by the gain and offset that
   match the median and the spread (MAD) of both dates over pixels the model calls built up at
   both dates (roofs and pavements change little with season). A uniform brightness, haze or
   sun-angle change (``after = gain * before + offset``) leaves no difference.
2. **Standardisation**: each band's residual is divided by its robust spread (1.4826 x MAD)
   over the whole overlap, floored at :data:`NOISE_FLOOR`. The magnitude is then in units of
   the scene's typical no-change difference, so one threshold serves scenes of any contrast.
3. **Registration tolerance**: the residual of a pixel is the smallest over the pixels of the
   other date within ``tolerance_px`` (both directions; cf. Bruzzone & Cossu 2003 on
   registration noise), so a building edge moved by a pixel is not change.

The threshold and Otsu's method (Otsu 1979) for the baseline live here too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..sentinel2 import MODEL_BANDS

#: Bands of the change vector (the baseline of the OSCD benchmark uses the same six).
CVA_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8", "B11", "B12")
#: Smallest robust spread (reflectance) a band's difference is divided by: two real
#: acquisitions of an unchanged surface never agree better (sensor noise plus residual
#: misregistration; the ten OSCD cities measure 0.005-0.06). Guards the degenerate case of a
#: date that is an exact copy or a pure gain/offset of the other.
NOISE_FLOOR = 0.003
#: Fewest pseudo-invariant pixels for the normalisation; with fewer, every overlap pixel is
#: used (gain and offset then also absorb real seasonal change).
MIN_REFERENCE_PIXELS = 1000
#: At most this many pixels enter a median (an even subsample of larger scenes).
_MAX_SAMPLE = 1_000_000
#: MAD to standard deviation for normal data.
_MAD_SCALE = 1.4826


def _sample(values: np.ndarray) -> np.ndarray:
    step = max(1, values.size // _MAX_SAMPLE)
    return values[::step]


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 x median absolute deviation (a standard deviation for normal data,
    unaffected by up to half the values being outliers) of a 1-D array."""
    values = _sample(values)
    median = float(np.median(values))
    return median, _MAD_SCALE * float(np.median(np.abs(values - median)))


def band_indexes(bands: Sequence[str]) -> list[int]:
    """Positions of ``bands`` in the model's 11-band stack (:data:`MODEL_BANDS`)."""
    return [MODEL_BANDS.index(b) for b in bands]


def radiometric_normalisation(x1: np.ndarray, x2: np.ndarray,
                              reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band gain and offset that map date 1 onto date 2's radiometry.

    ``gain = MAD2 / MAD1`` and ``offset = median2 - gain * median1`` over the reference
    (pseudo-invariant) pixels: the line through both dates' medians whose slope is the ratio
    of their spreads (Schott et al. 1988 match means and standard deviations; medians and
    MADs are the robust equivalents).

    Args:
        x1, x2: ``(B, H, W)`` float32 reflectance of the two dates on one grid.
        reference: ``(H, W)`` bool, pixels to match on (valid at both dates).

    Returns:
        ``(gain, offset)``: ``(B,)`` float64 each; ``x2 ~ gain * x1 + offset``.
    """
    gain = np.ones(x1.shape[0])
    offset = np.zeros(x1.shape[0])
    for b in range(x1.shape[0]):
        m1, s1 = robust_location_scale(x1[b][reference])
        m2, s2 = robust_location_scale(x2[b][reference])
        gain[b] = s2 / s1 if s1 > 0 and s2 > 0 else 1.0
        offset[b] = m2 - gain[b] * m1
    return gain, offset


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` (``(..., H, W)``) moved so that ``out[..., y, x] = a[..., y + dy, x + dx]``; NaN
    where that falls outside."""
    out = np.full_like(a, np.nan)
    h, w = a.shape[-2:]
    src_y = slice(max(dy, 0), h + min(dy, 0))
    dst_y = slice(max(-dy, 0), h + min(-dy, 0))
    src_x = slice(max(dx, 0), w + min(dx, 0))
    dst_x = slice(max(-dx, 0), w + min(-dx, 0))
    out[..., dst_y, dst_x] = a[..., src_y, src_x]
    return out


def change_magnitude(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    reference: np.ndarray | None = None,
    bands: Sequence[str] = CVA_BANDS,
    tolerance_px: int = 1,
    noise_floor: float = NOISE_FLOOR,
) -> np.ndarray:
    """Magnitude of the normalised change vector, in robust standard deviations.

    Args:
        before, after: ``(11, H, W)`` float32 reflectance (0-1) in :data:`MODEL_BANDS` order,
            on one grid.
        valid: ``(H, W)`` bool, pixels with data at both dates (the overlap).
        reference: ``(H, W)`` bool pseudo-invariant pixels for the radiometric normalisation
            (e.g. built up at both dates); ``None`` or fewer than
            :data:`MIN_REFERENCE_PIXELS`: every valid pixel.
        bands: the bands of the change vector (default :data:`CVA_BANDS`).
        tolerance_px: misregistration tolerated, in pixels (0: pixel against pixel).
        noise_floor: smallest spread (reflectance) a band is divided by.

    Returns:
        ``(H, W)`` float32 magnitude ``sqrt(sum_b z_b^2)`` of the standardised residuals
        ``z_b`` (see module docstring); 0 outside ``valid``. Without change it behaves like the
        length of a vector of ``len(bands)`` standard normal values (mostly below 4).

    References:
        Malila (1980), "Change vector analysis: an approach for detecting forest changes with
        Landsat", LARS Symposia. Schott, Salvaggio & Volchok (1988), "Radiometric scene
        normalization using pseudoinvariant features", Remote Sens. Environ. 26.
        Bruzzone & Cossu (2003), "An adaptive approach to reducing registration noise effects
        in unsupervised change detection", IEEE TGRS 41(11).
    """
    idx = band_indexes(bands)
    x1, x2 = _standardised(before[idx], after[idx], valid, reference, noise_floor)
    return _tolerant_distance(x1, x2, valid, int(tolerance_px))


def _standardised(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray,
                  reference: np.ndarray | None, noise_floor: float):
    """Both dates' bands ``(B, H, W)`` in robust standard deviations of their difference,
    BEFORE matched to AFTER on the reference pixels; NaN outside ``valid``."""
    x1 = x1.astype("float32")
    x2 = x2.astype("float32")
    if reference is None or int(np.count_nonzero(reference & valid)) < MIN_REFERENCE_PIXELS:
        reference = valid
    else:
        reference = reference & valid
    gain, offset = radiometric_normalisation(x1, x2, reference)
    x1 = x1 * gain.astype("float32")[:, None, None] + offset.astype("float32")[:, None, None]
    scale = np.empty(len(x1), dtype="float32")
    for b in range(len(x1)):
        residual = x2[b][valid] - x1[b][valid]
        centre, spread = robust_location_scale(residual)
        x1[b] += np.float32(centre)  # the residual's median becomes 0
        scale[b] = max(spread, noise_floor)
    x1 /= scale[:, None, None]
    x2 /= scale[:, None, None]
    x1[:, ~valid] = np.nan
    x2[:, ~valid] = np.nan
    return x1, x2


def _tolerant_distance(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray,
                       r: int) -> np.ndarray:
    """Distance of each pixel to the best-matching pixel of the other date within ``r``
    pixels, both ways, the larger of the two; 0 outside ``valid``."""
    forward = np.full(valid.shape, np.inf, dtype="float32")   # after vs shifted before
    backward = np.full(valid.shape, np.inf, dtype="float32")  # shifted after vs before
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            s1, s2 = _shifted(x1, dy, dx), _shifted(x2, dy, dx)
            forward = np.fmin(forward, np.sqrt(np.square(x2 - s1).sum(axis=0)))
            backward = np.fmin(backward, np.sqrt(np.square(s2 - x1).sum(axis=0)))
    magnitude = np.maximum(forward, backward)
    magnitude[~valid | ~np.isfinite(magnitude)] = 0.0
    return magnitude.astype("float32", copy=False)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample: the cut that maximises the between-class variance of
    its histogram.

    Args:
        values: finite values (any shape; NaN and infinities are ignored).
        bins: histogram bins between the minimum and maximum.

    Returns:
        The threshold (values above it form the upper class).

    Raises:
        ValueError: fewer than two distinct finite values.

    References:
        Otsu (1979), "A threshold selection method from gray-level histograms", IEEE Trans.
        Syst. Man Cybern. 9(1).
    """
    values = np.asarray(values, dtype="float64").ravel()
    values = values[np.isfinite(values)]
    if values.size < 2 or values.min() == values.max():
        raise ValueError("Otsu's threshold needs at least two distinct values")
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1].astype("float64")
    w1 = values.size - w0
    m0 = np.cumsum(hist * centres)[:-1]
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (np.sum(hist * centres) - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[1:-1][int(np.argmax(between))])
