"""Metrics against hand-computed values."""

import json
import math

import numpy as np
import pytest

from urbanseg_core.errors import ReferenceError_
from urbanseg_core.evaluation.metrics import confusion_matrix, evaluate_maps, json_safe

PRED = np.array([[0, 0, 1], [2, 2, 255]], dtype="uint8")
REF = np.array([[0, 1, 1], [2, 0, 2]], dtype="uint8")


def test_confusion_matrix_rows_are_reference():
    cm = confusion_matrix(PRED, REF)
    # (1,2) is nodata in the prediction and does not count.
    assert cm.tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]


def test_scores_hand_computed():
    m = evaluate_maps(PRED, REF)
    pc = m["per_class"]
    assert pc["other"]["dice"] == pytest.approx(0.5)           # TP1 FP1 FN1
    assert pc["non-residential"]["dice"] == pytest.approx(2 / 3)  # TP1 FP0 FN1
    assert pc["residential"]["dice"] == pytest.approx(2 / 3)   # TP1 FP1 FN0
    assert pc["non-residential"]["precision"] == pytest.approx(1.0)
    assert pc["non-residential"]["recall"] == pytest.approx(0.5)
    assert pc["residential"]["iou"] == pytest.approx(0.5)
    assert [pc[k]["support_px"] for k in pc] == [2, 2, 1]
    # weighted by reference support 2, 2, 1: (2*0.5 + 2*2/3 + 1*2/3) / 5
    assert m["dice_weighted"] == pytest.approx(0.6)
    assert m["dice_macro_builtup"] == pytest.approx(2 / 3)
    # built-up vs other: TP 2, FP 1, FN 1
    assert m["dice_binary_builtup"] == pytest.approx(4 / 6)
    assert m["built_up_share_pred"] == pytest.approx(3 / 5)
    assert m["built_up_share_ref"] == pytest.approx(3 / 5)
    assert m["valid_px"] == 5


def test_reference_nodata_is_ignored():
    ref = REF.copy()
    ref[0, 0] = 255
    m = evaluate_maps(PRED, ref)
    assert m["valid_px"] == 4
    assert m["per_class"]["other"]["support_px"] == 1
    assert m["unscored_reference_px"] == 1  # PRED has no data at (1, 2)


def test_reference_pixels_without_prediction_are_counted_as_unscored():
    pred = PRED.copy()
    pred.flat[:2] = 255  # the image has no data there (and at (1, 2) already)
    m = evaluate_maps(pred, REF)
    assert m["unscored_reference_px"] == 3 and m["valid_px"] == REF.size - 3


def test_absent_class_is_nan_and_json_null():
    pred = np.zeros((4, 4), dtype="uint8")
    ref = np.zeros((4, 4), dtype="uint8")
    m = evaluate_maps(pred, ref)
    assert m["per_class"]["other"]["dice"] == 1.0
    assert math.isnan(m["per_class"]["residential"]["dice"])
    assert math.isnan(m["dice_macro_builtup"])
    assert m["dice_weighted"] == 1.0
    text = json.dumps(json_safe(m), allow_nan=False)
    assert json.loads(text)["per_class"]["residential"]["dice"] is None


def test_predicted_but_absent_class_scores_zero():
    pred = np.array([[1, 0]], dtype="uint8")
    ref = np.array([[0, 0]], dtype="uint8")
    m = evaluate_maps(pred, ref)
    assert m["per_class"]["non-residential"]["dice"] == 0.0
    assert m["dice_macro_builtup"] == 0.0
    assert m["dice_binary_builtup"] == 0.0


def test_no_overlap_raises_plain_error():
    with pytest.raises(ReferenceError_):
        evaluate_maps(np.full((2, 2), 255, "uint8"), np.zeros((2, 2), "uint8"))


def test_shape_mismatch():
    with pytest.raises(ValueError):
        evaluate_maps(np.zeros((2, 2), "uint8"), np.zeros((2, 3), "uint8"))
