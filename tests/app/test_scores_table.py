"""The Results page's agreement figures when the reference lacks a class (a zoning map with
no "other"): undefined cells are empty, not "None" or 0."""

import re

import numpy as np

from urbanseg_core.app.widgets import confusion_spec, metrics_frame
from urbanseg_core.evaluation.metrics import evaluate_maps, json_safe

NAMES = ["other", "non-residential", "residential"]


def _metrics():
    pred = np.array([[0, 1, 2, 2], [0, 1, 1, 2]], np.uint8)
    ref = np.array([[1, 1, 2, 2], [2, 1, 1, 255]], np.uint8)  # no "other" in the reference
    return json_safe(evaluate_maps(pred, ref, NAMES))        # as a run stores them


def test_undefined_recall_is_an_empty_cell_in_the_page_table():
    html = metrics_frame(_metrics()).hide(axis="index").to_html()
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    other = cells[:6]
    assert other == ["other", "0.000", "0.000", "0.000", "", "0"]
    assert "None" not in html and "nan" not in html


def test_a_class_the_reference_lacks_is_an_empty_row_of_the_confusion_matrix():
    data, _ = confusion_spec(_metrics(), NAMES)
    other = [d for d in data if d["Reference"] == "other"]
    assert len(other) == 3 and all(d["Share"] is None for d in other)
    assert sum(d["Pixels"] for d in other) == 0
    res = [d["Share"] for d in data if d["Reference"] == "residential"]
    assert sum(res) == 100.0


def test_the_empty_row_prints_no_text():
    _, spec = confusion_spec(_metrics(), NAMES)
    text = [layer for layer in spec["layer"] if layer["mark"] != "rect"][0]
    assert {"filter": "datum.Share != null"} in text["transform"]
