"""The Model page's table of scores in cities a model was not trained on."""

from __future__ import annotations

import json
import math
from pathlib import Path

from urbanseg_core.app.widgets import cities_without_other, cross_city_frame
from urbanseg_core.model.card import read_card
from urbanseg_core.model.loading import default_model_path


def _table(label, cities, mean):
    return {"label": label, "file": "crossval.json", "cities": cities, "mean": mean}


def test_one_row_per_left_out_city_and_the_mean():
    metrics = {"cross_city": [_table(
        "multicity", {"bercy": {"non-residential": 0.3, "residential": 0.4,
                                "macro_builtup": 0.35, "binary_builtup": 0.85},
                      "montpellier_buildings": {"non-residential": 0.6, "residential": None,
                                                "macro_builtup": 0.6, "binary_builtup": 0.9}},
        {"non-residential": 0.45, "residential": 0.4, "macro_builtup": 0.475,
         "binary_builtup": 0.875})]}
    frame = cross_city_frame(metrics)
    assert list(frame["Left-out city"]) == ["Paris Bercy", "Montpellier",  # words, not keys
                                            "mean of the left-out cities"]
    assert "Run" not in frame  # one table: no run column
    assert list(frame["Dice non-residential"]) == [0.3, 0.6, 0.45]
    assert math.isnan(frame["Dice residential"][1])  # no residential labels there


def test_several_runs_are_named_and_no_table_is_empty():
    rows = {"hk": {"non-residential": 0.7}}
    frame = cross_city_frame({"cross_city": [_table("a", rows, None), _table("b", rows, None)]})
    assert list(frame["Run"]) == ["a", "b"]
    assert cross_city_frame({}).empty and cross_city_frame({"cross_city": []}).empty


def test_cities_whose_labels_have_no_other_are_named():
    """West San Jose's zoning labels no "other": its built-up vs other Dice of 1 says little.
    Found both in a crossval table (pixel counts) and in the bundled card's copy (no score)."""
    table = json.loads((Path(__file__).parents[2] / "models" / "crossval"
                        / "urbanseg-unet-0.4.0.json").read_text())
    assert cities_without_other([table]) == ["West San Jose"]
    card = read_card(default_model_path())
    assert cities_without_other(card.metrics["cross_city"][:1]) == ["West San Jose"]
    table["cities"]["cupertino_zoning"]["per_class"]["other"]["support_px"] = 5
    assert cities_without_other([table]) == []
