"""The model's input channels: bands, spectral indices and normalisation, as the card says.

The card (:class:`~urbanseg_core.model.card.ModelCard`) names the bands (``bands``) and the
indices (``indices``: name -> ``[a, b]``, index = ``(a - b) / (a + b)``) the network reads, and
how they are scaled (``normalisation``). :func:`model_inputs` builds exactly that from an
11-band reflectance stack; for the bundled model it is the original project's 15 channels
(:data:`~urbanseg_core.sentinel2.CHANNELS`): 11 bands, then NDVI, NDTI, NDVIre and MNDWI.

Indices are defined as 0 where the denominator is 0 (e.g. nodata pixels filled with 0).

References:
    NDVI: Rouse et al. (1974), NASA SP-351. NDTI (tillage index): Van Deventer et al. (1997),
    Photogramm. Eng. Remote Sens. 63(1). NDVIre (red-edge NDVI): Gitelson & Merzlyak (1994).
    MNDWI: Xu (2006), Int. J. Remote Sens. 27(14). Band choice as in the original MSc project
    (Reichman University, 2022). Cards with ``normalisation.haze == "dark_object"`` have each
scene's haze removed first (:func:`correct_haze`; Chavez 1988, dark-object subtraction).
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

from ..model.card import ModelCard, Normalisation
from ..sentinel2 import BAND_WAVELENGTH_NM, INDICES, MODEL_BANDS


def normalized_difference(a: np.ndarray, b: np.ndarray,
                          out: np.ndarray | None = None) -> np.ndarray:
    """``(a - b) / (a + b)`` element-wise, 0 where ``a + b == 0``.

    Args:
        a, b: arrays of the same shape (reflectance, any float dtype).
        out: float32 array of that shape to write into (default: a new one).

    Returns:
        float32 array in [-1, 1] for non-negative inputs (``out`` when given).
    """
    a = a.astype("float32", copy=False)
    b = b.astype("float32", copy=False)
    den = a + b
    num = a - b
    if out is None:
        out = np.zeros(np.broadcast(a, b).shape, dtype="float32")
    else:
        out.fill(0.0)
    np.divide(num, den, out=out, where=den != 0)
    return out


def add_indices(reflectance: np.ndarray,
                indices: Mapping[str, Sequence[str]] = INDICES,
                bands: Sequence[str] = MODEL_BANDS) -> np.ndarray:
    """The ``bands`` of an 11-band stack followed by the ``indices``.

    Args:
        reflectance: ``(11, H, W)`` reflectance 0-1 in
            :data:`~urbanseg_core.sentinel2.MODEL_BANDS` order (also ``(N, 11, H, W)``).
        indices: name -> ``(a, b)`` band names; each index is ``(a - b) / (a + b)``.
        bands: the bands to keep, in this order (default: all 11).

    Returns:
        ``(len(bands) + len(indices), H, W)`` (or with a leading N) float32; by default the
        15 channels of :data:`~urbanseg_core.sentinel2.CHANNELS`.

    Raises:
        ValueError: when the band axis does not hold 11 bands.
    """
    axis = reflectance.ndim - 3
    if reflectance.shape[axis] != len(MODEL_BANDS):
        raise ValueError(
            f"expected {len(MODEL_BANDS)} bands on axis {axis}, got shape {reflectance.shape}"
        )

    def band(name):  # a view of one band
        return reflectance[lead + (MODEL_BANDS.index(name),)]

    lead = (slice(None),) * axis
    shape = list(reflectance.shape)
    shape[axis] = len(bands) + len(indices)
    out = np.empty(shape, dtype="float32")  # filled in place: no intermediate copies
    if tuple(bands) == MODEL_BANDS:
        out[lead + (slice(0, len(bands)),)] = reflectance
    else:
        for k, name in enumerate(bands):
            out[lead + (k,)] = band(name)
    for k, (a, b) in enumerate(indices.values(), start=len(bands)):
        normalized_difference(band(a), band(b), out=out[lead + (k,)])
    return out


def model_inputs(reflectance: np.ndarray, valid: np.ndarray, card: ModelCard) -> np.ndarray:
    """The network's input for a batch of tiles, as the card prescribes.

    Args:
        reflectance: ``(N, 11, H, W)`` float32 reflectance in model band order.
        valid: ``(N, H, W)`` bool.
        card: the model card (``bands``, ``indices``, ``normalisation``).

    Returns:
        ``(N, C, H, W)`` float32, ``C = len(card.bands) + len(card.indices)``.
    """
    return normalise(add_indices(reflectance, card.indices, card.bands), valid,
                     card.normalisation, copy=False)


def normalise(features: np.ndarray, valid: np.ndarray, spec: Normalisation,
              copy: bool = True) -> np.ndarray:
    """Scale a tile's channels for the network.

    Args:
        features: ``(N, 15, H, W)`` float32 (11 reflectance bands 0-1, then 4 indices -1..1).
        valid: ``(N, H, W)`` bool; invalid pixels are set to the neutral value (0 after
            standardisation, the band mean for min-max) and later written as nodata.
        spec: the card's normalisation block.
        copy: ``False`` lets ``standardize`` scale float32 ``features`` in place (one pass
            fewer over the batch).

    Returns:
        ``(N, 15, H, W)`` float32, a new array unless ``copy`` is ``False``.

    ``standardize`` is per pixel, so the result does not depend on the tile. ``minmax_window``
    reproduces the original project: per image (tile) and band, min-max over valid pixels to
    [0, 1]; invalid pixels take the band mean.
    """
    x = features.astype("float32", copy=copy)
    inv = ~valid[:, None, :, :]
    if spec.method == "standardize":
        if spec.mean is None or spec.std is None:
            raise ValueError("standardize normalisation needs mean and std in the model card")
        mean = np.asarray(spec.mean, dtype="float32")[None, :, None, None]
        std = np.asarray(spec.std, dtype="float32")[None, :, None, None]
        x -= mean
        x /= np.maximum(std, 1e-6)
        np.putmask(x, np.broadcast_to(inv, x.shape), 0.0)
        return x
    if spec.method == "minmax_window":
        x[np.broadcast_to(inv, x.shape)] = np.nan
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands of empty tiles
            lo = np.nanmin(x, axis=(2, 3), keepdims=True)
            hi = np.nanmax(x, axis=(2, 3), keepdims=True)
            x = (x - lo) / np.where(hi - lo > 0, hi - lo, 1.0)
            mean = np.nanmean(x, axis=(2, 3), keepdims=True)
        x = np.where(np.isnan(x), np.nan_to_num(mean), x)
        return x.astype("float32", copy=False)
    raise ValueError(f"unknown normalisation method {spec.method!r}")


def channel_statistics(features: np.ndarray, valid: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over valid pixels, for a card's normalisation.

    Args:
        features: ``(N, C, H, W)`` or ``(C, H, W)`` float32.
        valid: matching ``(N, H, W)`` or ``(H, W)`` bool.

    Returns:
        ``(mean, std)`` lists of C floats.
    """
    if features.ndim == 3:
        features, valid = features[None], valid[None]
    flat = np.moveaxis(features, 1, 0)[:, valid]
    return flat.mean(axis=1).astype(float).tolist(), flat.std(axis=1).astype(float).tolist()


# ------------------------------------------------------------------------------ haze

_WAVELENGTHS = np.asarray(BAND_WAVELENGTH_NM, dtype="float32")

#: Pixels per side of the windows :func:`haze_sample` reads, and their number per side.
_HAZE_WINDOW, _HAZE_GRID = 32, 16


def haze_shape(exponent: float) -> np.ndarray:
    """Relative path radiance per band, ``(lambda_B2 / lambda) ** exponent``; ``(11,)`` float32.

    Rayleigh scattering gives an exponent of 4; Chavez (1988, Remote Sensing of Environment
    24, "An improved dark-object subtraction technique") uses 0.5-4 from very hazy to very
    clear skies.
    """
    return ((_WAVELENGTHS[0] / _WAVELENGTHS) ** exponent).astype("float32")


def estimate_haze(reflectance: np.ndarray, valid: np.ndarray, spec: Normalisation) -> np.ndarray:
    """Per-band haze of a scene by dark-object subtraction in B2 (Chavez 1988).

    The ``spec.haze_percentile`` percentile of B2 over valid pixels, less the surface
    reflectance a dark object has after atmospheric correction (``spec.haze_dark_b2``), is
    the haze in B2; other bands get it scaled by :func:`haze_shape`. A Level-2A scene has
    almost none; a Level-1C (top-of-atmosphere) scene typically 0.05-0.10 in B2.

    Args:
        reflectance: ``(11, ...)`` float32 reflectance 0-1 (any number of trailing pixel
            dimensions: a scene, or a sample of its windows).
        valid: matching bool mask (``reflectance.shape[1:]``).
        spec: the card's normalisation (``haze_*`` fields).

    Returns:
        ``(11,)`` float32 reflectance to subtract from each band (zeros without valid pixels
        or with ``spec.haze == "none"``).
    """
    if spec.haze == "none" or not valid.any():
        return np.zeros(len(BAND_WAVELENGTH_NM), dtype="float32")
    b2 = reflectance[0][valid]
    haze_b2 = max(float(np.percentile(b2, spec.haze_percentile)) - spec.haze_dark_b2, 0.0)
    return np.float32(haze_b2) * haze_shape(spec.haze_exponent)


def haze_sample(source, window: int = _HAZE_WINDOW,
                grid: int = _HAZE_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``grid`` x ``grid`` evenly spread ``window`` px windows of a tile source, for
    :func:`estimate_haze` without reading a whole raster.

    Args:
        source: anything with ``shape`` and ``read(row, col, height, width)`` returning
            ``(reflectance (11, h, w), valid (h, w))`` (a
            :class:`~urbanseg_core.inference.predict.TileSource`).

    Returns:
        ``(reflectance (11, n), valid (n,))`` of the sampled pixels.
    """
    height, width = source.shape
    rows = np.unique(np.linspace(0, max(height - window, 0), grid).astype(int))
    cols = np.unique(np.linspace(0, max(width - window, 0), grid).astype(int))
    refl, valid = [], []
    for r in rows:
        for c in cols:
            x, ok = source.read(int(r), int(c), window, window)
            refl.append(x.reshape(x.shape[0], -1))
            valid.append(ok.ravel())
    return np.concatenate(refl, axis=1), np.concatenate(valid)


class HazeCorrectedSource:
    """A tile source with a fixed per-band haze subtracted (clipped at 0; nodata stays 0).

    One haze for the whole raster, estimated once, so every tile gets the same correction
    and tiled prediction has no seams.
    """

    def __init__(self, source, haze: np.ndarray):
        self.source = source
        self.shape = source.shape
        self.haze = np.asarray(haze, dtype="float32")[:, None, None]

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        refl, valid = self.source.read(row, col, height, width)
        out = np.maximum(refl - self.haze, 0.0).astype("float32", copy=False)
        out[:, ~valid] = 0
        return out, valid


def correct_haze(source, spec: Normalisation, haze: np.ndarray | None = None):
    """``source`` with the scene's haze removed when the card asks for it, else ``source``.

    Args:
        source: a tile source (see :class:`HazeCorrectedSource`).
        spec: the card's normalisation.
        haze: ``(11,)`` haze already estimated for the whole raster (batch tiles pass the
            whole input's value so every tile matches single-process prediction); ``None``:
            estimated from :func:`haze_sample` of ``source``.
    """
    if spec.haze == "none":
        return source
    if haze is None:
        haze = estimate_haze(*haze_sample(source), spec)
    return HazeCorrectedSource(source, haze)
