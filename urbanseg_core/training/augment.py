"""Augmentation and model-input preparation of training crops.

Radiometric jitter counters the Level-1C / Level-2A brightness gap (see
``../shared/data/README.md``, "What a first trial on this data showed"): per-band and global
gain, per-band offset and an additive haze that falls with wavelength (as path radiance
does, roughly like Rayleigh scattering, lambda^-4 normalised to B2). Geometric
augmentations: flips, 90° rotations and an optional scale jitter (:func:`resize_pair`: the
same buildings at other sizes, as in other cities and at other ground sampling); the mild
random crop is done by the sources.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..inference.features import add_indices
from ..model.card import Normalisation
from ..inference.features import haze_shape, normalise
from .config import AugmentConfig
from .datasets import IGNORE, Sample

_HAZE_SHAPE = haze_shape(4.0)  # Rayleigh scattering
B8, B8A = 6, 7
#: Bands delivered at 10 m (B2, B3, B4, B8), averaged to 20 m by :func:`simulate_20m`.
BANDS_10M = (0, 1, 2, 6)


def radiometric_jitter(refl: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
                       cfg: AugmentConfig) -> np.ndarray:
    """Random gain / offset / haze on ``(11, h, w)`` reflectance; returns a new array >= 0."""
    g = 1 + rng.uniform(-cfg.global_gain, cfg.global_gain)
    gain = g * (1 + rng.uniform(-cfg.gain, cfg.gain, size=11)).astype("float32")
    offset = rng.uniform(-cfg.offset, cfg.offset, size=11).astype("float32")
    offset += np.float32(rng.uniform(cfg.haze_low, cfg.haze)) * _HAZE_SHAPE
    out = refl * gain[:, None, None] + offset[:, None, None]
    np.maximum(out, 0.0, out=out)
    out[:, ~valid] = 0
    return out.astype("float32", copy=False)


def simulate_20m(refl: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The 10 m bands (B2, B3, B4, B8) of ``(11, h, w)`` reflectance averaged over 2 x 2
    blocks and repeated back to 10 m (nearest), as a scene whose bands are all 20 m-native
    looks (the Islamabad scene). Odd last rows/columns keep their values."""
    out = refl.copy()
    h, w = (refl.shape[1] // 2) * 2, (refl.shape[2] // 2) * 2
    for b in BANDS_10M:
        block = refl[b, :h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        out[b, :h, :w] = np.repeat(np.repeat(block, 2, axis=0), 2, axis=1)
    out[:, ~valid] = 0
    return out


def geometric(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig):
    """Random flips and 90° rotations of ``x (C, h, w)`` and ``y (h, w)`` together."""
    if cfg.flips and rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    if cfg.flips and rng.random() < 0.5:
        x, y = x[:, ::-1, :], y[::-1, :]
    if cfg.rot90:
        k = int(rng.integers(4))
        x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def draw_scale(rng: np.random.Generator, scale: float) -> float:
    """Scale factor log-uniform in ``[1 / (1 + scale), 1 + scale]`` (1.0 when ``scale`` is 0)."""
    if scale <= 0:
        return 1.0
    r = np.log1p(scale)
    return float(np.exp(rng.uniform(-r, r)))


def resize_pair(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize model input ``x (C, h, w)`` float32 (bilinear) and label ``y (h, w)``
    (nearest, so class and ignore codes stay exact) to ``(C, size, size)`` / ``(size, size)``.
    """
    if x.shape[1:] == (size, size):
        return x, y
    xt = F.interpolate(torch.from_numpy(np.ascontiguousarray(x))[None], size=(size, size),
                       mode="bilinear", align_corners=False)[0]
    yt = F.interpolate(torch.from_numpy(np.ascontiguousarray(y))[None, None].float(),
                       size=(size, size), mode="nearest")[0, 0]
    return xt.numpy(), yt.numpy().astype(y.dtype)


class Prepare:
    """Turn a :class:`Sample` into model input ``(15, s, s)`` and target ``(s, s)``.

    Args:
        norm: the card's normalisation (per-channel mean/std from the training data).
        cfg: augmentation settings; ``None`` = no augmentation (validation).
    """

    def __init__(self, norm: Normalisation, cfg: AugmentConfig | None):
        self.norm = norm
        self.cfg = cfg

    def draw_size(self, rng: np.random.Generator, size: int) -> int:
        """The crop size to cut for an output of ``size`` px: ``size`` x a scale factor
        (:func:`draw_scale`) with scale jitter on, else ``size`` with no random draw (so
        recipes without it reproduce exactly)."""
        if self.cfg is None or self.cfg.scale <= 0:
            return size
        return round(size * draw_scale(rng, self.cfg.scale))

    def __call__(self, s: Sample, rng: np.random.Generator, size: int | None = None):
        refl, valid, label = s.reflectance, s.valid, s.label
        if self.cfg is not None:
            refl = radiometric_jitter(refl, valid, rng, self.cfg)
            if s.has_b8 and rng.random() < self.cfg.b8_from_b8a:
                refl = refl.copy()
                refl[B8] = refl[B8A]
            if self.cfg.sim_20m and rng.random() < self.cfg.sim_20m:
                refl = simulate_20m(refl, valid)
        x = normalise(add_indices(refl)[None], valid[None], self.norm)[0]
        y = label.copy()
        y[~valid] = IGNORE
        if self.cfg is not None:
            x, y = geometric(x, y, rng, self.cfg)
        if size is not None:
            x, y = resize_pair(x, y, size)
        return x, y
