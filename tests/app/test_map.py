"""The dashboard's folium maps."""

from __future__ import annotations

import numpy as np

from urbanseg_core.app.map import build_map, legend_html
from urbanseg_core.io.display import class_layer

from ..conftest import COLOURS, NAMES, T, UTM33



def test_map_has_layers_legend_and_drawing_tools():
    classes = np.ones((32, 32), dtype="uint8")
    layer = class_layer(classes, UTM33, T, COLOURS)
    html = build_map(overlays=[("Prediction", layer, True)], opacity=0.4,
                             legend=legend_html(NAMES, COLOURS), draw=True
                             ).get_root().render()
    assert "L.Control.Draw" in html and "imageOverlay" in html
    assert '"opacity": 0.4' in html
    assert "non-residential" in html and "residential" in html
    assert ">other<" not in legend_html(NAMES, COLOURS)
