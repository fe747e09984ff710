"""The map overlays of a run's result: prediction, reference, where they differ, and where
the model is unsure of residential vs non-residential.

Prediction and reference at partial opacity would blend (blue over orange reads as olive), so
the prediction is filled (at the page's opacity) and the reference drawn as outlines over it;
in the comparison (two linked maps) each is filled on its own map. The layers that are not in
the :class:`~urbanseg_core.runs.result.RunResult` already (outlines, disagreement, confidence)
are made once per run (``st.cache_data`` keyed on the run id).

Split confidence: a result that carries a ``split_confidence`` attribute (``(H, W)`` uint8,
0-100 %, 255 where not built up or no data; see
:func:`urbanseg_core.inference.predict.split_confidence`) gets a hatched layer where it is
below :data:`~urbanseg_core.io.display.CONFIDENCE_THRESHOLD`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ..evaluation.disagreement import COLOURS as DISAGREEMENT_COLOURS
from ..evaluation.disagreement import KINDS, disagreement
from ..io.display import (CONFIDENCE_COLOUR, CONFIDENCE_THRESHOLD, ImageLayer, class_layer,
                          confidence_layer, outline_layer)
from ..runs.result import RunResult
from .map import MapSide, Overlay
from .mapcontrols import LegendItem, class_items

#: The attribute of a result holding its split confidence, when it has one.
CONFIDENCE_ATTRIBUTE = "split_confidence"
PREDICTION = "Prediction"
REFERENCE = "Reference"
REFERENCE_OUTLINES = "Reference (outlines)"
DIFFERENCES = "Where prediction and reference differ"
UNSURE = f"Split confidence below {CONFIDENCE_THRESHOLD} %"
#: Legend of the disagreement layer and of the confidence layer.
DIFFERENCE_ITEMS: tuple[LegendItem, ...] = tuple((k.name, k.colour, "fill") for k in KINDS)
UNSURE_ITEMS: tuple[LegendItem, ...] = (
    ("unsure: residential or non-residential?", CONFIDENCE_COLOUR, "hatch"),)


def split_confidence(result: RunResult) -> np.ndarray | None:
    """The result's ``(H, W)`` uint8 split confidence (0-100, 255 none), if it has one."""
    return getattr(result, CONFIDENCE_ATTRIBUTE, None)


@st.cache_data(max_entries=8, show_spinner=False)
def _reference_layers(run_id: str, _result: RunResult) -> tuple[ImageLayer, ImageLayer]:  # noqa: ARG001
    """The reference as outlines and the disagreement map, for one run."""
    r = _result
    return (outline_layer(r.reference, r.crs, r.transform, r.colours),
            class_layer(disagreement(r.classes, r.reference), r.crs, r.transform,
                        DISAGREEMENT_COLOURS))


@st.cache_data(max_entries=8, show_spinner=False)
def _confidence_layer(run_id: str, _result: RunResult) -> ImageLayer:  # noqa: ARG001
    r = _result
    return confidence_layer(split_confidence(r), r.crs, r.transform)


def prediction_overlay(result: RunResult, opacity: float | None = None) -> Overlay:
    """The prediction, filled in the classes' colours (``None``: the map's opacity)."""
    return Overlay(PREDICTION, result.prediction_layer,
                   tuple(class_items(result.class_names, result.colours)), opacity=opacity)


def result_overlays(result: RunResult) -> list[Overlay]:
    """The Results map's overlays, bottom to top: the prediction (at the page's opacity),
    the reference as outlines, where they differ and where the model is unsure (those two
    ticked off at first). Empty without a CRS (nothing to place)."""
    if result.prediction_layer is None:
        return []
    overlays = [prediction_overlay(result)]
    if result.reference is not None:
        outlines, differences = _reference_layers(result.run_id, result)
        overlays += [
            Overlay(REFERENCE_OUTLINES, outlines,
                    tuple(class_items(result.class_names, result.colours, "outline")),
                    opacity=1.0),
            Overlay(DIFFERENCES, differences, DIFFERENCE_ITEMS, shown=False, opacity=0.9)]
    if split_confidence(result) is not None:
        overlays.append(Overlay(UNSURE, _confidence_layer(result.run_id, result),
                                UNSURE_ITEMS, shown=False, opacity=1.0))
    return overlays


def comparison(result: RunResult, opacity: float = 0.8) -> tuple[MapSide, MapSide]:
    """Prediction (left) and reference (right), each filled over the scene image; the
    disagreement map can be ticked on over the reference."""
    _, differences = _reference_layers(result.run_id, result)
    reference = Overlay(REFERENCE, result.reference_layer,
                        tuple(class_items(result.class_names, result.colours)), opacity=opacity)
    return (MapSide(PREDICTION, [prediction_overlay(result, opacity)], result.true_colour),
            MapSide(REFERENCE, [reference, Overlay(DIFFERENCES, differences, DIFFERENCE_ITEMS,
                                                   shown=False, opacity=0.9)],
                    result.true_colour))
