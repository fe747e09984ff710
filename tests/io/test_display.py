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


def _rgba(layer) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(layer.png)).convert("RGBA"))


def test_class_edges_are_the_rim_of_each_region():
    classes = np.zeros((12, 12), dtype="uint8")
    classes[3:9, 3:9] = 2
    rim = display.class_edges(classes, width=2)
    assert rim[3, 3:9].all() and rim[4, 4:8].all()      # two pixels inside the square
    assert not rim[5:7, 5:7].any()                      # its middle is not
    assert rim[2, 3:9].all() and not rim[0, :].any()    # two outside, not beyond
    assert not display.class_edges(np.ones((5, 5), "uint8")).any()


def test_outline_layer_draws_a_cased_rim_and_leaves_interiors_clear():
    classes = np.zeros((60, 60), dtype="uint8")
    classes[10:50, 10:50] = 1
    classes[:, :4] = 255
    rgba = _rgba(display.outline_layer(classes, UTM33, T, COLOURS, width=3))
    colours = {tuple(px) for px in rgba.reshape(-1, 4) if px[3]}
    assert colours == {(0, 0x72, 0xB2, 255), (0x1A, 0x1A, 0x1A, 255)}  # class colour + casing
    h, w = rgba.shape[:2]
    assert rgba[h // 2, w // 2, 3] == 0                # the square's middle stays clear
    assert rgba[h // 2, :, 3].sum() > 0                 # its sides are drawn
    row = rgba[h // 2]
    drawn = np.flatnonzero(row[:, 3])
    first = drawn[drawn > w // 10][0]                   # the square's left side, from outside
    assert tuple(row[first]) == (0x1A, 0x1A, 0x1A, 255)  # the casing outside the square
    assert tuple(row[first + 1]) == (0, 0x72, 0xB2, 255)  # its colour inside


def test_a_reference_with_yards_left_out_reads_as_regions_with_a_casing():
    """Small holes without reference inside a region are drawn as the region (no ring around
    each yard); where a region borders no reference at all, the casing is drawn there too."""
    classes = np.full((60, 60), 255, dtype="uint8")  # a zoning reference: no class 0
    classes[10:50, 10:50] = 2
    classes[20:22, 20:22] = 255                       # a yard taken out (4 px)
    classes[30:40, 30:40] = 255                       # a park (100 px): stays a hole
    filled = display.fill_small_holes(classes)
    assert (filled[20:22, 20:22] == 2).all() and (filled[30:40, 30:40] == 255).all()
    assert (filled[:10] == 255).all() and (filled[classes != 255] == 2).all()
    rgba = _rgba(display.outline_layer(classes, UTM33, T, COLOURS, width=3))
    h, w = rgba.shape[:2]
    yard = rgba[int(h * 20 / 60):int(h * 22 / 60), int(w * 20 / 60):int(w * 22 / 60)]
    assert (yard[..., 3] == 0).all()                  # no ring around the yard
    row = rgba[h // 4]                                # crosses the square's left side
    drawn = np.flatnonzero(row[:, 3])
    assert tuple(row[drawn[0]]) == (0x1A, 0x1A, 0x1A, 255)  # casing on the no-reference side
    park = rgba[int(h * 35 / 60), int(w * 29 / 60):int(w * 31 / 60)]
    assert park[:, 3].any()                           # the park keeps its outline


def test_confidence_layer_hatches_only_unsure_built_up_pixels():
    confidence = np.full((60, 60), 255, dtype="uint8")  # not built up
    confidence[:, :20] = 20                             # unsure
    confidence[:, 20:40] = 90                           # sure
    rgba = _rgba(display.confidence_layer(confidence, UTM33, T))
    h, w = rgba.shape[:2]
    rows = slice(h // 4, 3 * h // 4)  # inside the image (its warped edges may be clear)
    unsure, sure = rgba[rows, 3: w // 4], rgba[rows, w // 3 + 3: 2 * w // 3 - 3]
    none = rgba[rows, -w // 4:]
    assert set(np.unique(unsure[..., 3])) == {60, 255}  # lines and faint gaps
    assert (sure[..., 3] == 0).all() and (none[..., 3] == 0).all()
    lines = unsure[..., 3] == 255
    assert 0.2 < lines.mean() < 0.5                     # 2 pixels of 6: diagonal hatching
    assert tuple(unsure[lines][0][:3]) == (0x54, 0x27, 0x88)


def test_palette_png_takes_an_opacity_per_code():
    png = display.palette_png(np.array([[0, 1, 2, 255]], "uint8"), COLOURS,
                              opacities=(10, 128, 255))
    rgba = np.array(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert list(rgba[0, :, 3]) == [10, 128, 255, 0]


def test_the_scale_bar_takes_the_longest_round_length_that_fits():
    assert display.scale_bar_length(10.0, 256) == 2000      # 10 m pixels, 256 px at most
    assert display.scale_bar_length(10.0, 499) == 2000
    assert display.scale_bar_length(10.0, 500) == 5000
    assert display.scale_bar_length(30.0, 20) == 500
    assert display.length_text(2000) == "2 km" and display.length_text(500) == "500 m"


def test_the_picture_gets_a_scale_bar_and_north_arrow_when_its_pixel_size_is_known():
    picture = np.full((200, 400, 3), 90, dtype="uint8")
    classes = np.zeros((200, 400), dtype="uint8")
    plain = display.figure_rgba(picture, classes, COLOURS, ["other", "a", "b"], "t")
    scaled = display.figure_rgba(picture, classes, COLOURS, ["other", "a", "b"], "t",
                                 pixel_m=10.0)
    assert (plain[:200, :, :3] == 90).all()              # nothing drawn without a pixel size
    changed = (scaled[:200, :, :3] != 90).any(axis=2)
    # a bar of 1 km = 100 px (the longest round length within a quarter of 400 px) lower left
    bar = changed[186:191, :]
    assert bar[:, 10:110].all(axis=0).sum() >= 95 and not changed[150:, 130:300].any()
    assert changed[:50, 360:].any() and not changed[:50, 130:340].any()  # north, upper right


def test_the_copernicus_credit_names_the_imagery_years():
    assert display.copernicus_credit([2017]) == "Contains modified Copernicus Sentinel data 2017"
    assert display.copernicus_credit([2023, 2022, 2023]).endswith("data 2022-2023")
    assert display.copernicus_credit([]) == "Contains modified Copernicus Sentinel data"
