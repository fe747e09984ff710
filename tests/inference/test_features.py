"""The model's inputs: the four spectral indices against hand-computed values, and the
card's bands and indices deciding what the network reads."""

import numpy as np
import pytest
import torch

from urbanseg_core.inference.features import add_indices, model_inputs, normalized_difference
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.io.scene import Scene
from urbanseg_core.model.card import DEFAULT_CLASSES, Architecture, ModelCard, Normalisation
from urbanseg_core.model.loading import LoadedModel, build_model
from urbanseg_core.sentinel2 import CHANNELS, MODEL_BANDS

from ..conftest import T, UTM33


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


def test_the_card_chooses_bands_and_indices():
    """A card reading 3 bands and 1 index gets exactly those channels, in the card's order."""
    rng = np.random.default_rng(0)
    refl = rng.uniform(0.01, 0.4, (2, 11, 8, 8)).astype("float32")
    card = ModelCard(name="rgb-ndvi", weights="w.pt", classes=DEFAULT_CLASSES,
                     architecture=Architecture(n_channels=4, base_width=4),
                     bands=["B4", "B3", "B2"], indices={"NDVI": ["B8", "B4"]},
                     normalisation=Normalisation(mean=[0.0] * 4, std=[1.0] * 4))
    x = model_inputs(refl, np.ones((2, 8, 8), bool), card)
    band = {b: refl[:, i] for i, b in enumerate(MODEL_BANDS)}
    assert x.shape == (2, 4, 8, 8)
    np.testing.assert_allclose(x[:, :3], np.stack([band["B4"], band["B3"], band["B2"]], 1))
    ndvi = (band["B8"] - band["B4"]) / (band["B8"] + band["B4"])
    np.testing.assert_allclose(x[:, 3], ndvi, rtol=1e-5)


def test_a_model_of_other_inputs_runs_end_to_end():
    card = ModelCard(name="four-channels", weights="w.pt", classes=DEFAULT_CLASSES,
                     architecture=Architecture(n_channels=4, base_width=4,
                                               align_corners=False),
                     bands=["B4", "B3", "B2"], indices={"NDVI": ["B8", "B4"]},
                     normalisation=Normalisation(mean=[0.1] * 4, std=[0.1] * 4),
                     tile_size=64, overlap=16)
    torch.manual_seed(0)
    model = build_model(card.architecture).eval()
    loaded = LoadedModel(model, card, path=None, sha256="")
    refl = np.random.default_rng(1).uniform(0.01, 0.4, (11, 40, 50)).astype("float32")
    seg = segment_scene(Scene(refl, np.ones((40, 50), bool), UTM33, T), loaded)
    assert seg.classes.shape == (40, 50) and set(np.unique(seg.classes)) <= {0, 1, 2}
