"""Small Leaflet controls of the dashboard's maps: the layer legend, the basemap note, a title.

The legend shows only what is on the map: every layer that has a legend carries it as a
Leaflet option (``legend_html``, see :func:`legend_option`), and the legend control lists the
legends of the layers on the map, again whenever a layer is added or removed (the layer
switcher, a new prediction swapped in by streamlit-folium). A layer hidden in the switcher
leaves the legend with it.
"""

from __future__ import annotations

from html import escape
from typing import Literal, Sequence

from branca.element import MacroElement
from folium.template import Template

#: How a legend swatch is drawn: a filled square, a coloured outline, a dashed outline, or
#: hatching.
Swatch = Literal["fill", "outline", "dashed", "hatch"]
#: One legend line: ``(label, hex colour, swatch)``.
LegendItem = tuple[str, str, Swatch]

_SWATCH_CSS = {
    "fill": "background:{c}",
    "outline": "background:transparent;border:2px solid {c}",
    "dashed": "background:transparent;border:2px dashed {c}",
    "hatch": "background:repeating-linear-gradient(45deg,{c} 0 2px,transparent 2px 5px)",
}

#: The option name layers carry their legend under (camelCase in JavaScript).
LEGEND_OPTION = "legend_html"
#: The option name basemap tile layers carry (watched by :class:`BasemapNote`).
BASEMAP_OPTION = "urbanseg_basemap"

#: Shown in the map when basemap tiles fail to load (no internet, blocked).
NO_BASEMAP = "No basemap (no internet?): your images and results still show."


def legend_block(title: str, items: Sequence[LegendItem]) -> str:
    """HTML of one legend block: a bold title and one line per item.

    Args:
        title: the block's title (a layer name).
        items: ``(label, colour, swatch)`` lines; ``swatch`` is ``"fill"``, ``"outline"``,
            ``"dashed"`` or ``"hatch"``.
    """
    lines = "".join(
        '<div><span style="display:inline-block;box-sizing:border-box;width:14px;height:14px;'
        'margin-right:6px;vertical-align:middle;border:1px solid #555;'
        + _SWATCH_CSS[swatch].format(c=colour) + f'"></span>{escape(label)}</div>'
        for label, colour, swatch in items)
    return (f'<div style="font:13px sans-serif;line-height:20px;margin-bottom:2px">'
            f'<span style="font-weight:bold">{escape(title)}</span>{lines}</div>')


def class_items(class_names: Sequence[str], colours: Sequence[str], swatch: Swatch = "fill",
                skip_first: bool = True) -> list[LegendItem]:
    """Legend lines of a class map (class 0 "other" is transparent on the map: skipped)."""
    return [(n, c, swatch) for i, (n, c) in enumerate(zip(class_names, colours))
            if not (skip_first and i == 0)]


def legend_option(title: str, items: Sequence[LegendItem]) -> dict[str, str]:
    """Keyword arguments giving a folium layer its legend (see the module docstring)."""
    return {LEGEND_OPTION: legend_block(title, items)} if items else {}


class _Box(MacroElement):
    """A white box in a corner of the map (a Leaflet control) holding ``text``; subclasses
    add ``behaviour``, JavaScript run after it with ``map`` and ``box`` (the control) set."""

    position = "bottomright"
    css_class = "urbanseg-box"
    css = ""
    behaviour = ""
    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var box = L.control({position: {{ this.position|tojson }}});
  box.onAdd = function () {
    var d = L.DomUtil.create('div', {{ this.css_class|tojson }});
    d.style.cssText = 'background:rgba(255,255,255,0.92);padding:3px 8px;border-radius:4px;'
      + {{ this.css|tojson }};
    d.textContent = {{ this.text|tojson }};
    L.DomEvent.disableClickPropagation(d);
    return d;
  };
  box.addTo(map);
  {{ this.behaviour }}
})();
{% endmacro %}
""")

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._name = type(self).__name__
        self.text = text


class WheelAfterClick(MacroElement):
    """The mouse wheel zooms the map only after a click on it, until the pointer leaves it
    (Leaflet's ``scrollWheelZoom`` handler), so scrolling a page past a map scrolls the page
    instead of zooming the map away."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  map.scrollWheelZoom.disable();
  map.on('click', function () { map.scrollWheelZoom.enable(); });
  map.on('mouseout', function () { map.scrollWheelZoom.disable(); });
})();
{% endmacro %}
""")

    def __init__(self) -> None:
        super().__init__()
        self._name = "WheelAfterClick"


class LayerLegend(_Box):
    """Bottom-right legend listing the legends of the layers on the map, the top layer first
    (hidden when none has a legend). A line at its top folds it away ("hide legend") and
    back ("legend"), so it never has to cover the data."""

    css_class = "urbanseg-legend"
    css = "padding:6px 8px;max-height:45%;overflow:auto"
    behaviour = """
  var open = true, div = box.getContainer();
  div.textContent = '';
  var toggle = L.DomUtil.create('div', 'urbanseg-legend-toggle', div);
  toggle.style.cssText = 'cursor:pointer;font:12px sans-serif;color:#555;text-align:right';
  var body = L.DomUtil.create('div', 'urbanseg-legend-body', div);
  function refresh() {
    var found = [], seen = [];
    map.eachLayer(function (layer) {
      var html = layer.options && layer.options.legendHtml;
      if (html && seen.indexOf(html) < 0) {
        seen.push(html);
        found.push({html: html, z: layer.options.zIndex || 0});
      }
    });
    found.sort(function (a, b) { return b.z - a.z; });
    toggle.innerHTML = open ? 'hide legend &#9662;' : 'legend &#9656;';
    body.innerHTML = open ? found.map(function (f) { return f.html; }).join('') : '';
    div.style.display = found.length ? '' : 'none';
  }
  // the toggle stays in the page (only the text and the body change), so Leaflet sees the
  // click inside the control and the map does not take it as a click on the map
  toggle.addEventListener('click', function () { open = !open; refresh(); });
  map.on('layeradd layerremove', refresh);
  refresh();
"""


class BasemapNote(_Box):
    """One line in the map, top left (under the zoom buttons), while basemap tiles fail to
    load (no internet): the grey background is explained."""

    position = "topleft"
    css_class = "urbanseg-basemap-note"
    css = "font:12px sans-serif;display:none"
    behaviour = """
  function watch(layer) {
    if (!(layer instanceof L.TileLayer) || !layer.options.urbansegBasemap
        || layer._urbansegWatched) { return; }
    layer._urbansegWatched = true;
    layer.on('tileerror', function () { box.getContainer().style.display = ''; });
    layer.on('tileload', function () { box.getContainer().style.display = 'none'; });
  }
  map.eachLayer(watch);
  map.on('layeradd', function (e) { watch(e.layer); });
"""

    def __init__(self, text: str = NO_BASEMAP) -> None:
        super().__init__(text)


class MapTitle(_Box):
    """A short title in the map's top-right corner (which side of a comparison this is)."""

    position = "topright"
    css_class = "urbanseg-map-title"
    css = "font:bold 13px sans-serif"
