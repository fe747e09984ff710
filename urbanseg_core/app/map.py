"""The dashboard's folium maps: basemap, true-colour image, class overlays, AOI, legend.

The images come ready-made from :mod:`urbanseg_core.io.display` (reprojected to Web Mercator,
encoded as data URLs); this module only assembles Leaflet layers around them. Pages call
:func:`run_page_map` and :func:`results_map`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import folium
from branca.element import MacroElement, Template
from folium.plugins import Draw
from shapely.geometry import shape

from ..io.display import ImageLayer

#: Outline of the scene footprint and of the area of interest (Okabe-Ito vermilion, purple).
FOOTPRINT_STYLE = {"color": "#D55E00", "weight": 2, "fill": False, "dashArray": "6 4"}
AOI_STYLE = {"color": "#CC79A7", "weight": 3, "fillOpacity": 0.05}
#: Drawing tools: rectangles and polygons only.
DRAW_OPTIONS = {"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                "polygon": True, "rectangle": True}

Bounds = list[list[float]]


def legend_html(class_names: Sequence[str], colours: Sequence[str], title: str = "Classes",
                skip_first: bool = True) -> str:
    """A small HTML legend (coloured squares and names) for the map or the page."""
    items = [
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;border:1px solid #555;background:{c}"></span>{n}</div>'
        for i, (n, c) in enumerate(zip(class_names, colours)) if not (skip_first and i == 0)
    ]
    return (f'<div style="font:13px sans-serif;line-height:20px"><b>{title}</b>'
            + "".join(items) + "</div>")


def _legend_control(html: str) -> MacroElement:
    """A bottom-right Leaflet control holding ``html``."""
    element = MacroElement()
    element._template = Template(
        "{% macro script(this, kwargs) %}\n"
        "var legend = L.control({position: 'bottomright'});\n"
        "legend.onAdd = function () {var d = L.DomUtil.create('div', 'urbanseg-legend');"
        "d.style.background = 'rgba(255,255,255,0.9)'; d.style.padding = '6px 8px';"
        "d.style.borderRadius = '4px'; d.innerHTML = " + json.dumps(html) + "; return d;};\n"
        "legend.addTo({{ this._parent.get_name() }});\n"
        "{% endmacro %}"
    )
    return element


def geom_bounds(geom: dict) -> Bounds:
    """``[[south, west], [north, east]]`` of a GeoJSON geometry in degrees."""
    w, s, e, n = shape(geom).bounds
    return [[s, w], [n, e]]


def base_map(bounds: Bounds | None, height: int = 520) -> folium.Map:
    """A folium map fitted to ``bounds`` with an OpenStreetMap basemap.

    Without bounds it shows Europe. Tiles may stay grey offline; overlays still show.
    """
    if bounds:
        (s, w), (n, e) = bounds
        m = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=12, tiles=None,
                       control_scale=True, height=height)
        m.fit_bounds(bounds)
    else:
        m = folium.Map(location=[50, 10], zoom_start=4, tiles=None, control_scale=True,
                       height=height)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=True).add_to(m)
    return m


def image_overlay(layer: ImageLayer, name: str, opacity: float = 1.0,
                  show: bool = True) -> folium.raster_layers.ImageOverlay:
    """A folium ImageOverlay of an :class:`~urbanseg_core.io.display.ImageLayer`."""
    return folium.raster_layers.ImageOverlay(
        image=layer.data_url, bounds=layer.bounds, name=name, opacity=opacity,
        interactive=False, cross_origin=False, zindex=1, show=show,
    )


def _geojson(geom: dict, name: str, style: dict) -> folium.GeoJson:
    return folium.GeoJson({"type": "Feature", "geometry": geom, "properties": {"name": name}},
                          name=name, style_function=lambda _f: style)


def footprint_layer(geom: dict, name: str = "Scene footprint") -> folium.GeoJson:
    """The scene outline as a dashed GeoJSON layer."""
    return _geojson(geom, name, FOOTPRINT_STYLE)


def aoi_group(aoi: dict, name: str = "Area of interest") -> folium.FeatureGroup:
    """An AOI (GeoJSON geometry, EPSG:4326) as a feature group for dynamic maps."""
    group = folium.FeatureGroup(name=name)
    _geojson(aoi, name, AOI_STYLE).add_to(group)
    return group


@dataclass
class MapSpec:
    """What a map shows (the keyword arguments of :func:`build_map`).

    Attributes:
        true_colour: the scene image (shown under the overlays).
        outline: scene footprint (GeoJSON geometry, EPSG:4326).
        overlays: ``(name, layer, shown)`` class overlays, drawn at ``opacity``.
        opacity: 0-1 opacity of the class overlays.
        legend: legend HTML (see :func:`legend_html`).
        aoi: a drawn or uploaded area of interest (GeoJSON geometry) to show.
        draw: add rectangle/polygon drawing tools (Leaflet.draw).
        height: map height in pixels.
        layer_control: add a layer switcher.
        bounds: ``[[south, west], [north, east]]`` to show when there is no image or AOI.
        tiles: ``(name, url, attribution)`` XYZ tile overlays (Earth Engine layers).
    """

    true_colour: ImageLayer | None = None
    outline: dict | None = None
    overlays: Sequence[tuple[str, ImageLayer, bool]] = ()
    opacity: float = 0.7
    legend: str | None = None
    aoi: dict | None = None
    draw: bool = False
    height: int = 520
    layer_control: bool = True
    bounds: Bounds | None = None
    tiles: Sequence[tuple[str, str, str]] = field(default_factory=tuple)

    def view_bounds(self) -> Bounds | None:
        """The image's bounds, else the first overlay's, the given ones, the AOI's or the
        footprint's."""
        if self.true_colour is not None:
            return self.true_colour.bounds
        if self.bounds is not None:
            return self.bounds
        if self.overlays:
            return self.overlays[0][1].bounds
        for geom in (self.aoi, self.outline):
            if geom is not None:
                return geom_bounds(geom)
        return None


def _add_layers(m: folium.Map, spec: MapSpec) -> None:
    for name, url, attribution in spec.tiles:
        folium.TileLayer(tiles=url, attr=attribution, name=name, overlay=True,
                         show=True).add_to(m)
    if spec.true_colour is not None:
        image_overlay(spec.true_colour, "True colour (B4, B3, B2)").add_to(m)
    for name, layer, shown in spec.overlays:
        image_overlay(layer, name, spec.opacity, shown).add_to(m)
    if spec.outline is not None:
        footprint_layer(spec.outline).add_to(m)
    if spec.aoi is not None:
        _geojson(spec.aoi, "Area of interest", AOI_STYLE).add_to(m)


def _add_controls(m: folium.Map, spec: MapSpec) -> None:
    if spec.draw:
        Draw(export=False, position="topleft", draw_options=DRAW_OPTIONS,
             edit_options={"edit": False, "remove": True}).add_to(m)
    if spec.legend:
        m.add_child(_legend_control(spec.legend))
    if spec.layer_control:
        folium.LayerControl(collapsed=False).add_to(m)


def build_map(**kwargs) -> folium.Map:
    """Assemble a folium map from the fields of :class:`MapSpec` (keyword arguments)."""
    spec = MapSpec(**kwargs)
    m = base_map(spec.view_bounds(), spec.height)
    _add_layers(m, spec)
    _add_controls(m, spec)
    return m


def build_dynamic_map(*, overlays: Sequence[tuple[str, ImageLayer, bool]], opacity: float,
                      **static) -> tuple[folium.Map, list[folium.FeatureGroup],
                                         folium.LayerControl]:
    """A map whose class overlays can change (opacity, new result) without reloading it.

    For ``streamlit_folium.st_folium(m, feature_group_to_add=groups, layer_control=control)``:
    the static part (basemap, true colour, footprint, AOI, drawing tools, legend: the
    keyword arguments of :func:`build_map`) is the map; each class overlay is a
    :class:`folium.FeatureGroup` that streamlit-folium swaps in place, so a new opacity or a
    new prediction keeps the user's zoom and position.

    Returns:
        ``(map, groups, layer_control)``.
    """
    m = build_map(layer_control=False, **static)
    groups = []
    for name, layer, shown in overlays:
        group = folium.FeatureGroup(name=name, show=shown)
        image_overlay(layer, name, opacity, True).add_to(group)
        groups.append(group)
    return m, groups, folium.LayerControl(collapsed=False)


def view_for(geometry: dict, width_px: int = 700, height_px: int = 480,
             max_zoom: int = 16) -> tuple[tuple[float, float], int]:
    """``((lat, lon), zoom)`` that shows a geometry whole in a ``width_px x height_px`` map.

    Web Mercator zoom ``z`` shows ``256 * 2**z`` px for 360° of longitude; latitude spans are
    compared in Mercator units.
    """
    (s, w), (n, e) = geom_bounds(geometry)

    def merc(lat: float) -> float:
        lat = max(min(lat, 85.0), -85.0)
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lon_frac = max(e - w, 1e-9) / 360.0
    lat_frac = max(merc(n) - merc(s), 1e-9) / (2 * math.pi)
    zoom = min(math.log2(width_px / 256 / lon_frac), math.log2(height_px / 256 / lat_frac))
    return ((s + n) / 2, (w + e) / 2), max(1, min(max_zoom, int(math.floor(zoom))))
