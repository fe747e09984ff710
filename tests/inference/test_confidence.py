"""The split confidence: how sure the model is of residential vs non-residential, as a layer of
the segmentation, band 2 of the GeoTIFF, and the unsure share of the built-up area."""

import json

import numpy as np
import pytest
import rasterio

from urbanseg_core.evaluation.areas import unsure_built_up
from urbanseg_core.inference.pipeline import Segmentation, segment_scene
from urbanseg_core.inference.predict import (
    ArraySource, predict_layers, predict_probabilities, predict_source, split_confidence,
    class_confidence_head,
)
from urbanseg_core.io.scene import Scene

from ..conftest import NAMES, T, UTM33, textured_reflectance


def test_split_confidence_is_the_built_up_margin_in_percent():
    p = np.array([[0.1, 0.45, 0.45],   # even split: 0 %
                  [0.0, 0.2, 0.8],     # 0.6 / 1.0: 60 %
                  [0.9, 0.1, 0.0],     # all built-up probability on one class: 100 %
                  [1.0, 0.0, 0.0]],    # no built-up probability at all: 0 %
                 dtype="float32").T[:, :, None]  # (C=3, 4, 1)
    assert split_confidence(p, axis=0)[:, 0].tolist() == [0, 60, 100, 0]


def _scene(h=96, w=128):
    refl = textured_reflectance(h, w)
    valid = np.ones((h, w), bool)
    valid[:10, :10] = False
    refl[:, ~valid] = 0
    return Scene(refl, valid, UTM33, T)


def test_confidence_layer_matches_probabilities_and_classes_stay_the_same(tiny_model):
    scene = _scene()
    layers = predict_layers(ArraySource(scene), tiny_model, class_confidence_head)
    probs = predict_probabilities(ArraySource(scene), tiny_model)
    classes = predict_source(ArraySource(scene), tiny_model)
    assert np.array_equal(layers[0], classes)
    nr, r = probs[1], probs[2]
    expected = np.rint(100 * np.abs(r - nr) / np.maximum(r + nr, 1e-6))
    ok = scene.valid
    assert np.abs(layers[1][ok].astype(int) - expected[ok]).max() <= 1
    assert (layers[1][~ok] == 255).all() and (layers[0][~ok] == 255).all()


def test_segmentation_keeps_confidence_on_built_up_pixels_only(tiny_model):
    seg = segment_scene(_scene(), tiny_model)
    built = np.isin(seg.classes, [1, 2])
    assert built.any() and (seg.classes == 0).any()
    assert (seg.confidence[~built] == 255).all()
    assert (seg.confidence[built] <= 100).all()


def test_unsure_area_in_km2():
    classes = np.zeros((10, 20), "uint8")
    classes[:, 10:] = 2
    conf = np.full((10, 20), 255, "uint8")
    conf[:, 10:15] = 30   # 50 px unsure
    conf[:, 15:] = 90     # 50 px sure
    seg = Segmentation(classes, UTM33, T, "m", "", NAMES, ["#000"] * 3, 0.0, confidence=conf)
    u = unsure_built_up(seg)
    assert u.unsure_km2 == pytest.approx(50 * 1e-4) and u.built_up_km2 == pytest.approx(100e-4)
    assert u.share_of_built_up == pytest.approx(0.5)
    assert unsure_built_up(seg, threshold_pct=95).share_of_built_up == pytest.approx(1.0)
    seg.confidence = None
    assert unsure_built_up(seg) is None


@pytest.mark.parametrize("codes, nodata", [("index", 255), ("esm", 0)])
def test_geotiff_band_2_is_the_confidence(tmp_path, codes, nodata):
    classes = np.array([[0, 1, 2, 255]], "uint8").repeat(4, axis=0)
    conf = np.array([[255, 0, 70, 255]], "uint8").repeat(4, axis=0)
    seg = Segmentation(classes, UTM33, T, "m", "", NAMES, ["#111111", "#0072B2", "#E69F00"],
                       0.0, confidence=conf)
    path = seg.write(tmp_path / "m.tif", codes=codes, confidence=True)
    with rasterio.open(path) as src:
        assert src.count == 2 and "confidence" in src.descriptions[1]
        band = src.read(2)
    zero = 1 if codes == "esm" else 0  # 0 % is written as 1 % where 0 means nodata
    assert band[0].tolist() == [nodata, zero, 70, nodata]
    with rasterio.open(seg.write(tmp_path / "one.tif", codes=codes)) as src:
        assert src.count == 1


def test_cli_confidence_band_and_unsure_line(cli, s2_geotiff, tiny_model_path, tmp_path):
    out, stats = tmp_path / "m.tif", tmp_path / "s.json"
    res = cli("predict", s2_geotiff, "-o", out, "--model", tiny_model_path, "--confidence",
              "--json", stats)
    assert res.returncode == 0, res.stderr
    assert "unsure residential vs non-residential" in res.stdout
    with rasterio.open(out) as src:
        classes, conf = src.read(1), src.read(2)
    built = np.isin(classes, [1, 2])
    assert (conf[~built] == 255).all() and (conf[built] <= 100).all()
    unsure = json.loads(stats.read_text())["unsure_built_up"]
    share = ((conf < 50) & built).sum() / built.sum()
    assert unsure["share_of_built_up"] == pytest.approx(share, abs=1e-6)

