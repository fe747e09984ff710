"""Web-map image layers: footprint, class overlays, the true-colour stretch."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from urbanseg_core.io import display

from ..conftest import COLOURS, T, UTM33



def test_footprint_and_bounds_are_in_degrees_around_the_scene():
    ring = display.footprint(UTM33, T, (768, 1024))["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    (s, w), (n, e) = display.latlon_bounds(UTM33, T, (768, 1024))
    assert 52.45 < s < n < 52.53 and 12.49 < w < e < 12.65
    assert display.footprint(None, T, (5, 5)) is None


def test_class_layer_is_a_palette_png_with_other_and_nodata_transparent():
    classes = np.zeros((64, 64), dtype="uint8")
    classes[:, 32:] = 1
    classes[40:, :] = 2
    classes[:4, :] = 255
    layer = display.class_layer(classes, UTM33, T, COLOURS)
    img = np.array(Image.open(io.BytesIO(layer.png)).convert("RGBA"))
    alphas = {tuple(px) for px in img.reshape(-1, 4)}
    assert (0, 0x72, 0xB2, 255) in alphas and (0xE6, 0x9F, 0x00, 255) in alphas
    assert (0xF0, 0xF0, 0xF0, 255) not in alphas                # "other" is not painted
    assert layer.data_url.startswith("data:image/png;base64,")
    (s, w), (n, e) = layer.bounds
    assert s < n and w < e


def test_true_colour_is_transparent_where_invalid_and_stretched():
    refl = np.random.default_rng(1).uniform(0.02, 0.3, (11, 50, 60)).astype("float32")
    valid = np.ones((50, 60), bool)
    valid[:, :10] = False
    rgba = display.true_colour(refl, valid)
    assert rgba.shape == (50, 60, 4)
    assert (rgba[:, :10, 3] == 0).all() and (rgba[:, 10:, 3] == 255).all()
    assert rgba[:, 10:, :3].min() == 0 and rgba[:, 10:, :3].max() == 255  # 2-98 % stretch
    layer = display.true_colour_layer(refl, valid, UTM33, T)
    assert layer.mime == "image/webp" and Image.open(io.BytesIO(layer.png)).format == "WEBP"
