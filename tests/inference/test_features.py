"""The four spectral indices, checked against hand-computed values."""

import numpy as np
import pytest

from urbanseg_core.inference.features import add_indices, normalized_difference
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.sentinel2 import CHANNELS


def test_normalized_difference_hand_values():
    a = np.array([0.3, 0.0, 0.2], "float32")
    b = np.array([0.1, 0.0, 0.2], "float32")
    assert normalized_difference(a, b).tolist() == pytest.approx([0.5, 0.0, 0.0])


def test_add_indices_hand_computed():
    values = {"B2": 0.05, "B3": 0.08, "B4": 0.06, "B5": 0.10, "B6": 0.20, "B7": 0.25,
              "B8": 0.30, "B8A": 0.31, "B9": 0.09, "B11": 0.18, "B12": 0.12}
    refl = np.array([values[b] for b in MODEL_BANDS], "float32")[:, None, None]
    out = add_indices(refl)
    assert out.shape == (15, 1, 1) and out.dtype == np.float32
    assert list(CHANNELS[11:]) == ["NDVI", "NDTI", "NDVIre", "MNDWI"]
    ndvi = (0.30 - 0.06) / (0.30 + 0.06)       # (B8 - B4) / (B8 + B4) = 0.6667
    ndti = (0.18 - 0.12) / (0.18 + 0.12)       # (B11 - B12) / (B11 + B12) = 0.2
    ndvire = (0.10 - 0.06) / (0.10 + 0.06)     # (B5 - B4) / (B5 + B4) = 0.25
    mndwi = (0.08 - 0.18) / (0.08 + 0.18)      # (B3 - B11) / (B3 + B11) = -0.3846
    assert out[11:, 0, 0].tolist() == pytest.approx([ndvi, ndti, ndvire, mndwi], abs=1e-6)
    np.testing.assert_array_equal(out[:11], refl)


def test_add_indices_batched_and_zero_pixels():
    refl = np.zeros((2, 11, 3, 3), "float32")
    out = add_indices(refl)
    assert out.shape == (2, 15, 3, 3)
    assert np.isfinite(out).all() and (out[:, 11:] == 0).all()
    with pytest.raises(ValueError):
        add_indices(np.zeros((10, 3, 3), "float32"))
