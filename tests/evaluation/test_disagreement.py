"""Where a prediction and a reference disagree, by kind."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from urbanseg_core.evaluation.disagreement import (AGREE, EXTRA, KINDS, MISSED, SWAPPED,
                                                   disagreement, shares)
from urbanseg_core.evaluation.metrics import confusion_matrix


def test_each_kind_of_disagreement_gets_its_code():
    ref = np.array([[0, 1, 2, 1, 2, 0, 255, 1]], dtype="uint8")
    pred = np.array([[0, 0, 0, 2, 1, 1, 1, 255]], dtype="uint8")
    assert disagreement(pred, ref).tolist() == [[AGREE, MISSED, MISSED, SWAPPED, SWAPPED,
                                                 EXTRA, 255, 255]]
    same = np.array([[0, 1, 2]], dtype="uint8")
    assert (disagreement(same, same) == AGREE).all()


def test_maps_on_different_grids_are_refused():
    with pytest.raises(ValueError, match="same grid"):
        disagreement(np.zeros((2, 3), "uint8"), np.zeros((3, 2), "uint8"))


@settings(max_examples=60, deadline=None)
@given(arrays("uint8", (9, 7), elements=st.sampled_from([0, 1, 2, 255])),
       arrays("uint8", (9, 7), elements=st.sampled_from([0, 1, 2, 255])))
def test_shares_from_the_confusion_matrix_count_the_pixels_of_the_map(pred, ref):
    codes = disagreement(pred, ref)
    valid = codes != 255
    got = shares(confusion_matrix(pred, ref))
    for kind in KINDS:
        expected = (codes[valid] == kind.code).mean() if valid.any() else np.nan
        assert got[kind.name] == pytest.approx(expected, nan_ok=True)
