"""Scaling of the 15 model channels before the network, as the model card prescribes."""

from __future__ import annotations

import warnings

import numpy as np

from ..model.card import Normalisation


def normalise(features: np.ndarray, valid: np.ndarray, spec: Normalisation) -> np.ndarray:
    """Scale a tile's channels for the network.

    Args:
        features: ``(N, 15, H, W)`` float32 (11 reflectance bands 0-1, then 4 indices -1..1).
        valid: ``(N, H, W)`` bool; invalid pixels are set to the neutral value (0 after
            standardisation, the band mean for min-max) and later written as nodata.
        spec: the card's normalisation block.

    Returns:
        ``(N, 15, H, W)`` float32, a new array.

    ``standardize`` is per pixel, so the result does not depend on the tile. ``minmax_window``
    reproduces the original project: per image (tile) and band, min-max over valid pixels to
    [0, 1]; invalid pixels take the band mean.
    """
    x = features.astype("float32", copy=True)
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
