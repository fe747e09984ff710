"""The dashboard's maps: leafmap maps of the scene, class overlays, the AOI and drawing tools,
and two linked maps to compare two overlays.

Every map is a :class:`leafmap.foliumap.Map` (a ``folium.Map``) rendered by streamlit-folium,
so a drawn area comes back to Python; leafmap's own draw control, fullscreen button and layer
control are off, and ours are added: rectangle/polygon drawing, a collapsed layer switcher,
the legend of what is on the map (:mod:`.mapcontrols`) and a one-line note when basemap tiles
cannot be loaded. The basemaps are a short list from leafmap's catalogue, satellite imagery
included. Every script and stylesheet is served by the app (:mod:`.assets`), so the map, its
overlays and drawing work with no internet; only the basemap goes grey.

The images come ready-made from :mod:`urbanseg_core.io.display` (reprojected to Web Mercator,
encoded as data URLs) and the Earth Engine tiles from :mod:`.eelayers`; this module only
assembles Leaflet layers around them. leafmap is imported when the first map is built.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import folium
from folium.plugins import Draw, DualMap
from shapely.geometry import shape

from ..gee.layers import TileLayer
from ..io.display import ImageLayer
from ..lazy import lazy_import
from .assets import localise
from .mapcontrols import (BASEMAP_OPTION, BasemapNote, LayerLegend, LegendItem, MapTitle,
                          WheelAfterClick,
                          class_items, legend_block, legend_option)

#: leafmap's folium backend and its basemap catalogue (imported on first use).
LEAFMAP = "leafmap.foliumap"
LEAFMAP_BASEMAPS = "leafmap.basemaps"
#: The basemaps: ``(name in the layer switcher, provider in leafmap's catalogue)``; the
#: first is shown.
BASEMAPS: tuple[tuple[str, str], ...] = (
    ("Map (OpenStreetMap)", "OpenStreetMap.Mapnik"),
    ("Satellite (Esri World Imagery)", "Esri.WorldImagery"),
    ("Light grey (Esri World Gray Canvas)", "Esri.WorldGrayCanvas"),
)
#: Outline of the scene footprint (dashed near-black: no class colour) and of the area of
#: interest (Okabe-Ito reddish purple).
FOOTPRINT_STYLE = {"color": "#1A1A1A", "weight": 2, "fill": False, "dashArray": "6 4"}
#: The footprint's name and legend line (the map's legend and the Results page's).
FOOTPRINT = "Scene footprint"
FOOTPRINT_LEGEND: tuple[LegendItem, ...] = (
    ("edge of the image", FOOTPRINT_STYLE["color"], "dashed"),)
AOI_STYLE = {"color": "#CC79A7", "weight": 3, "fillOpacity": 0.05}
#: Drawing tools: rectangles and polygons only.
DRAW_OPTIONS = {"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                "polygon": True, "rectangle": True}
#: Name of the scene's image in the layer switcher.
TRUE_COLOUR = "True colour (B4, B3, B2)"

Bounds = list[list[float]]


def legend_html(class_names: Sequence[str], colours: Sequence[str], title: str = "Classes",
                skip_first: bool = True) -> str:
    """A small HTML legend (coloured squares and names) for the page or the map."""
    return legend_block(title, class_items(class_names, colours, "fill", skip_first))


def geom_bounds(geom: dict) -> Bounds:
    """``[[south, west], [north, east]]`` of a GeoJSON geometry in degrees."""
    w, s, e, n = shape(geom).bounds
    return [[s, w], [n, e]]


@functools.lru_cache(maxsize=1)
def _providers() -> dict:
    """leafmap's catalogue of free basemaps (xyzservices providers by name), read once."""
    return lazy_import(LEAFMAP_BASEMAPS).get_xyz_dict()


def basemap_layers() -> list[folium.TileLayer]:
    """New tile layers of :data:`BASEMAPS` (radio buttons in the switcher; the first shown).

    Each carries the basemap option, so the map says so when its tiles cannot be loaded.
    """
    layers = []
    for i, (name, key) in enumerate(BASEMAPS):
        provider = _providers()[key]
        layers.append(folium.TileLayer(
            tiles=provider.build_url(), attr=provider.html_attribution, name=name,
            max_native_zoom=provider.get("max_zoom", 19), max_zoom=22, overlay=False,
            control=True, show=i == 0, **{BASEMAP_OPTION: True}))
    return layers


def base_map(bounds: Bounds | None, height: int = 520) -> folium.Map:
    """A leafmap map fitted to ``bounds`` (Europe without) with the basemaps.

    Args:
        bounds: ``[[south, west], [north, east]]`` in degrees, or ``None``.
        height: map height in pixels.
    """
    foliumap = lazy_import(LEAFMAP)
    centre, zoom = [50.0, 10.0], 4
    if bounds:
        (s, w), (n, e) = bounds
        centre, zoom = [(s + n) / 2, (w + e) / 2], 12
    m = foliumap.Map(center=centre, zoom=zoom, tiles=None, height=height, max_zoom=22,
                     draw_control=False, fullscreen_control=False, layers_control=False)
    for layer in basemap_layers():
        layer.add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    return m


@dataclass(frozen=True)
class Overlay:
    """An image on the map, with its legend.

    Attributes:
        name: its name in the layer switcher (and the legend's title).
        layer: the image (:class:`~urbanseg_core.io.display.ImageLayer`).
        legend: ``(label, colour, swatch)`` lines (see :mod:`.mapcontrols`); none: no legend.
        shown: on the map when it opens (else ticked on in the switcher).
        opacity: its own opacity 0-1, or ``None`` to follow the map's overlay opacity (such
            overlays change in place, see :func:`build_dynamic_map`).
    """

    name: str
    layer: ImageLayer
    legend: tuple[LegendItem, ...] = ()
    shown: bool = True
    opacity: float | None = None


def image_overlay(overlay: Overlay, opacity: float, z_index: int) -> folium.Layer:
    """A folium ImageOverlay of an :class:`Overlay` (``opacity`` unless it has its own),
    stacked at ``z_index`` and carrying its legend."""
    return folium.raster_layers.ImageOverlay(
        image=overlay.layer.data_url, bounds=overlay.layer.bounds, name=overlay.name,
        opacity=overlay.opacity if overlay.opacity is not None else opacity,
        interactive=False, cross_origin=False, z_index=z_index, show=overlay.shown,
        **legend_option(overlay.name, overlay.legend))


def tile_overlay(tiles: TileLayer) -> folium.TileLayer:
    """An Earth Engine tile layer (from :mod:`.eelayers`) with its legend."""
    items = tuple((label, colour, "fill") for label, colour in tiles.legend)
    return folium.TileLayer(tiles=tiles.url, attr=tiles.attribution, name=tiles.name,
                            overlay=True, show=True, max_zoom=22,
                            **legend_option(tiles.name, items))


def _geojson(geom: dict, name: str, style: dict,
             legend: Sequence[LegendItem] = ()) -> folium.GeoJson:
    """A geometry as a GeoJSON layer, with its lines in the map's legend."""
    return folium.GeoJson({"type": "Feature", "geometry": geom, "properties": {"name": name}},
                          name=name, style_function=lambda _f: style,
                          **legend_option(name, legend))


def footprint_layer(geom: dict, name: str = FOOTPRINT) -> folium.GeoJson:
    """The scene outline as a dashed GeoJSON layer, with its legend line."""
    return _geojson(geom, name, FOOTPRINT_STYLE, FOOTPRINT_LEGEND)


def aoi_group(aoi: dict, name: str = "Area of interest") -> folium.FeatureGroup:
    """An AOI (GeoJSON geometry, EPSG:4326) as a feature group for dynamic maps."""
    group = folium.FeatureGroup(name=name)
    _geojson(aoi, name, AOI_STYLE).add_to(group)
    return group


def layer_control() -> folium.LayerControl:
    """The layer switcher: collapsed to an icon (it opens on hover or tap), and leaving the
    stacking of the images as given (true colour under the class maps)."""
    return folium.LayerControl(collapsed=True, autoZIndex=False)


@dataclass
class MapSpec:
    """What a map shows (the keyword arguments of :func:`build_map`).

    Attributes:
        true_colour: the scene image (shown under the overlays).
        outline: scene footprint (GeoJSON geometry, EPSG:4326).
        overlays: image overlays, bottom to top.
        opacity: 0-1 opacity of the overlays that have none of their own.
        aoi: a drawn or uploaded area of interest (GeoJSON geometry) to show.
        draw: add rectangle/polygon drawing tools (Leaflet.draw).
        height: map height in pixels.
        layer_control: add a layer switcher.
        bounds: ``[[south, west], [north, east]]`` to show when there is no image or AOI.
        tiles: Earth Engine tile layers (see :mod:`.eelayers`).
        title: a short title in the corner (the side of a comparison).
    """

    true_colour: ImageLayer | None = None
    outline: dict | None = None
    overlays: Sequence[Overlay] = ()
    opacity: float = 0.7
    aoi: dict | None = None
    draw: bool = False
    height: int = 520
    layer_control: bool = True
    bounds: Bounds | None = None
    tiles: Sequence[TileLayer] = field(default_factory=tuple)
    title: str | None = None

    def view_bounds(self) -> Bounds | None:
        """The image's bounds, else the given ones, the first overlay's, the AOI's or the
        footprint's."""
        if self.true_colour is not None:
            return self.true_colour.bounds
        if self.bounds is not None:
            return self.bounds
        if self.overlays:
            return self.overlays[0].layer.bounds
        for geom in (self.aoi, self.outline):
            if geom is not None:
                return geom_bounds(geom)
        return None


def _add_layers(m: folium.Map, spec: MapSpec, fixed_only: bool) -> None:
    """The layers of ``spec`` (with ``fixed_only``, only overlays with their own opacity);
    images stack in order: true colour (z-index 1), then the overlays (2, 3...)."""
    for tiles in spec.tiles:
        tile_overlay(tiles).add_to(m)
    if spec.true_colour is not None:
        image_overlay(Overlay(TRUE_COLOUR, spec.true_colour, opacity=1.0), 1.0, 1).add_to(m)
    for i, overlay in enumerate(spec.overlays):
        if not (fixed_only and overlay.opacity is None):
            image_overlay(overlay, spec.opacity, 2 + i).add_to(m)
    if spec.outline is not None:
        footprint_layer(spec.outline).add_to(m)
    if spec.aoi is not None:
        _geojson(spec.aoi, "Area of interest", AOI_STYLE).add_to(m)


def _add_controls(m: folium.Map, spec: MapSpec) -> None:
    if spec.draw:
        Draw(export=False, position="topleft", draw_options=DRAW_OPTIONS,
             edit_options={"edit": False, "remove": True}).add_to(m)
    if spec.title:
        MapTitle(spec.title).add_to(m)
    LayerLegend().add_to(m)
    BasemapNote().add_to(m)
    WheelAfterClick().add_to(m)
    if spec.layer_control:
        layer_control().add_to(m)


def _fill(m: folium.Map, spec: MapSpec, fixed_only: bool = False) -> folium.Map:
    _add_layers(m, spec, fixed_only)
    _add_controls(m, spec)
    return m


def build_map(**kwargs) -> folium.Map:
    """Assemble a map from the fields of :class:`MapSpec` (keyword arguments); its scripts
    and stylesheets are the app's own (:func:`~urbanseg_core.app.assets.localise`)."""
    spec = MapSpec(**kwargs)
    return localise(_fill(base_map(spec.view_bounds(), spec.height), spec))


def build_dynamic_map(*, overlays: Sequence[Overlay], opacity: float,
                      **static) -> tuple[folium.Map, list[folium.FeatureGroup],
                                         folium.LayerControl]:
    """A map whose class overlays can change (opacity, new result) without reloading it.

    For ``streamlit_folium.st_folium(m, feature_group_to_add=groups, layer_control=control)``:
    the static part (basemaps, true colour, footprint, AOI, drawing tools, legend, the
    overlays with an opacity of their own: the other keyword arguments of :func:`build_map`)
    is the map; each overlay that follows ``opacity`` is a :class:`folium.FeatureGroup` that
    streamlit-folium swaps in place, so a new opacity or a new prediction keeps the user's
    zoom and position. streamlit-folium shows every group: such overlays are always shown.

    Returns:
        ``(map, groups, layer_control)``.
    """
    spec = MapSpec(overlays=overlays, opacity=opacity, layer_control=False, **static)
    m = _fill(base_map(spec.view_bounds(), spec.height), spec, fixed_only=True)
    groups = []
    for i, overlay in enumerate(overlays):
        if overlay.opacity is None:
            group = folium.FeatureGroup(name=overlay.name)
            image_overlay(overlay, opacity, 2 + i).add_to(group)
            groups.append(group)
    return localise(m), groups, layer_control()


@dataclass(frozen=True)
class MapSide:
    """One side of a comparison: a title, the scene image and the overlays over it."""

    title: str
    overlays: Sequence[Overlay]
    true_colour: ImageLayer | None = None


def compare_map(left: MapSide, right: MapSide, *, outline: dict | None = None,
                opacity: float = 0.8) -> DualMap:
    """Two linked maps side by side (they pan and zoom together), e.g. prediction and
    reference, or the two dates of a change.

    Each map has the basemaps, its scene image, its overlays (at ``opacity`` unless they
    have their own), its title, legend and layer switcher. folium's DualMap (Leaflet.Sync)
    works through streamlit-folium; the side-by-side swipe plugin does not take images.

    Args:
        left, right: the two sides.
        outline: the scene footprint (GeoJSON geometry, EPSG:4326), drawn on both.
        opacity: opacity of the overlays without their own.
    """
    sides = [MapSpec(true_colour=s.true_colour, overlays=s.overlays, opacity=opacity,
                     outline=outline, title=s.title) for s in (left, right)]
    bounds = next((b for b in (s.view_bounds() for s in sides) if b), None)
    dual = DualMap(location=[50.0, 10.0], zoom_start=12, tiles=None, control_scale=True)
    for spec, m in zip(sides, (dual.m1, dual.m2)):
        for layer in basemap_layers():
            layer.add_to(m)
        _fill(m, spec)
    if bounds:
        dual.fit_bounds(bounds)
    return localise(dual)


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
