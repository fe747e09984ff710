"""A result's map overlays: prediction, reference outlines, differences, split confidence."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from urbanseg_core.app import overlays
from urbanseg_core.evaluation.disagreement import KINDS
from urbanseg_core.evaluation.metrics import evaluate_maps
from urbanseg_core.io.display import class_layer, true_colour_layer
from urbanseg_core.runs.result import RunResult
from urbanseg_core.util import hex_to_rgb

from ..conftest import COLOURS, NAMES, T, UTM33


def _result(run_id: str, reference: bool = True, confidence: bool = False) -> RunResult:
    classes = np.zeros((40, 40), dtype="uint8")
    classes[5:20, 5:35] = 1
    classes[20:35, 5:35] = 2
    ref = classes.copy()
    ref[5:20, 5:20] = 2  # half the non-residential block is residential in the reference
    refl = np.random.default_rng(0).uniform(0.02, 0.3, (11, 40, 40)).astype("float32")
    result = RunResult(
        run_id=run_id, source={"name": "test"}, classes=classes, crs=UTM33, transform=T,
        stats=None, class_names=NAMES, colours=COLOURS, model={}, parameters={}, seconds=0.1,
        true_colour=true_colour_layer(refl, np.ones((40, 40), bool), UTM33, T),
        prediction_layer=class_layer(classes, UTM33, T, COLOURS),
        reference_layer=class_layer(ref, UTM33, T, COLOURS) if reference else None,
        reference=ref if reference else None, reference_codes="index",
        metrics=evaluate_maps(classes, ref, NAMES) if reference else None)
    if confidence:
        result.split_confidence = np.where(classes > 0, 30, 255).astype("uint8")
    return result


def test_results_map_overlays_keep_prediction_and_reference_readable():
    got = overlays.result_overlays(_result("a"))
    assert [o.name for o in got] == [overlays.PREDICTION, overlays.REFERENCE_OUTLINES,
                                     overlays.DIFFERENCES]
    prediction, outlines, differences = got
    assert prediction.opacity is None and prediction.shown          # the page's slider
    assert outlines.opacity == 1.0 and {s for _l, _c, s in outlines.legend} == {"outline"}
    assert not differences.shown                                    # ticked on by the user
    rgba = np.array(Image.open(io.BytesIO(differences.layer.png)).convert("RGBA"))
    swapped = np.array([*hex_to_rgb(KINDS[2].colour), 255])         # residential <-> non-res.
    assert (rgba.reshape(-1, 4) == swapped).all(axis=1).any()
    # each kind of difference reads apart from the classes it is drawn over (RGB distance)
    classes = [np.array(hex_to_rgb(c)) for c in COLOURS[1:]]
    for kind in KINDS:
        assert min(np.abs(np.array(hex_to_rgb(kind.colour)) - c).sum() for c in classes) > 100


def test_without_reference_only_the_prediction_and_with_confidence_its_hatching():
    assert [o.name for o in overlays.result_overlays(_result("b", reference=False))] == [
        overlays.PREDICTION]
    got = overlays.result_overlays(_result("c", reference=False, confidence=True))
    assert [o.name for o in got] == [overlays.PREDICTION, overlays.UNSURE]
    assert got[1].legend == overlays.UNSURE_ITEMS and not got[1].shown
    rgba = np.array(Image.open(io.BytesIO(got[1].layer.png)).convert("RGBA"))
    assert (rgba[..., 3] == 255).any()                              # 30 % < 50 %: hatched


def test_comparison_fills_each_side_and_offers_the_differences_on_the_right():
    left, right = overlays.comparison(_result("d"), opacity=0.6)
    assert (left.title, right.title) == (overlays.PREDICTION, overlays.REFERENCE)
    assert [o.opacity for o in left.overlays] == [0.6]
    assert [o.name for o in right.overlays] == [overlays.REFERENCE, overlays.DIFFERENCES]
    assert left.true_colour is right.true_colour is not None


def test_no_crs_no_overlays():
    result = _result("e")
    result.prediction_layer = None
    assert overlays.result_overlays(result) == []
