"""The dashboard's maps: leafmap maps, offline assets, legends, comparison."""

from __future__ import annotations

import json
import re

import folium
import numpy as np
import pytest
from folium.plugins import DualMap

from urbanseg_core.app import assets
from urbanseg_core.app.map import (BASEMAPS, MapSide, Overlay, aoi_group, build_dynamic_map,
                                   build_map, compare_map, legend_html, view_for)
from urbanseg_core.app.mapcontrols import NO_BASEMAP, class_items
from urbanseg_core.gee.layers import GHSL_LEGEND, TileLayer
from urbanseg_core.io.display import class_layer

from ..conftest import COLOURS, NAMES, T, UTM33

leafmap_foliumap = pytest.importorskip("leafmap.foliumap")


@pytest.fixture(scope="module")
def prediction() -> Overlay:
    classes = np.ones((32, 32), dtype="uint8")
    classes[:, 16:] = 2
    return Overlay("Prediction", class_layer(classes, UTM33, T, COLOURS),
                   tuple(class_items(NAMES, COLOURS)))


def _options(html: str, name: str) -> list[dict]:
    """The JSON options of every ``L.<name>(...)`` call in a rendered map."""
    found = []
    for match in re.finditer(rf"L\.{name}\((.*?)\n\s*\)", html, re.S):
        blob = match.group(1)
        options = blob[blob.rindex("{\n"):]  # the last argument, on lines of its own
        found.append(json.loads(re.sub(r",\s*}", "}", options)))
    return found


def test_the_map_is_a_leafmap_map_with_our_controls(prediction):
    m = build_map(overlays=[prediction], opacity=0.4, draw=True)
    assert isinstance(m, leafmap_foliumap.Map)
    html = m.get_root().render()
    assert html.count("L.Control.Draw") == 1           # ours; leafmap's own draw control is off
    assert "Fullscreen" not in html                     # leafmap's fullscreen button is off
    image = _options(html, "imageOverlay")[0]
    assert image["opacity"] == 0.4 and image["zIndex"] == 2
    assert "non-residential" in image["legendHtml"] and ">other<" not in image["legendHtml"]
    control = _options(html, "control.layers")
    assert control and control[0]["collapsed"] is True and control[0]["autoZIndex"] is False
    assert NO_BASEMAP in html


def test_basemaps_come_from_leafmaps_catalogue_and_include_satellite_imagery():
    html = build_map(bounds=[[52.4, 12.5], [52.5, 12.6]]).get_root().render()
    tiles = [o for o in _options(html, "tileLayer") if o.get("urbansegBasemap")]
    assert len(tiles) == len(BASEMAPS) == 3
    assert "World_Imagery" in html and "tile.openstreetmap.org" in html
    # one basemap on the map at first; the others are choices in the layer switcher
    assert len(re.findall(r"tile_layer_\w+\.addTo\(", html)) == 1


@pytest.mark.parametrize("kind", ["map", "dynamic", "compare"])
def test_every_script_and_stylesheet_is_served_by_the_app(prediction, kind):
    if kind == "map":
        square = {"type": "Polygon", "coordinates": [[[12.5, 52.4], [12.6, 52.4], [12.6, 52.5],
                                                      [12.5, 52.4]]]}
        root = build_map(overlays=[prediction], draw=True, aoi=square, outline=square,
                         tiles=[TileLayer("GHSL", "https://t.invalid/{z}/{x}/{y}", "JRC")])
    elif kind == "dynamic":
        root, groups, control = build_dynamic_map(overlays=[prediction], opacity=0.7, draw=True)
        groups.append(aoi_group({"type": "Polygon", "coordinates": [[[12.5, 52.4], [12.6, 52.4],
                                                                    [12.5, 52.5], [12.5, 52.4]]]}))
        for group in groups:
            group.add_to(root)
        control.add_to(root)
    else:
        side = MapSide("Prediction", [prediction], prediction.layer)
        root = compare_map(side, side)
    root.render() if isinstance(root, DualMap) else root.get_root().render()
    assert assets.external_links(root) == []
    links = [url for e in assets._elements(root) for attr in ("default_js", "default_css")
             for _n, url in getattr(e, attr, None) or ()]
    assert any(url.endswith("leaflet.js") for url in links)
    for url in links:
        assert (assets.STATIC_DIR / url[len(assets.URL_PREFIX):]).is_file(), url


def test_vendored_files_and_licences_match_what_folium_asks_for():
    leaflet = dict(folium.Map.default_js)["leaflet"]
    assert "leaflet@1.9.3/" in leaflet and assets.ASSETS["leaflet"].startswith("leaflet-1.9.3/")
    draw = dict(folium.plugins.Draw.default_js)["leaflet_draw_js"]
    assert "/1.0.2/" in draw and assets.ASSETS["leaflet_draw_js"].startswith("leaflet-draw-1.0.2/")
    for path in filter(None, assets.ASSETS.values()):
        assert (assets.STATIC_DIR / path).is_file()
        assert (assets.STATIC_DIR / path.split("/")[0] / "LICENSE").is_file()
    css = (assets.STATIC_DIR / assets.ASSETS["leaflet_css"]).read_text()
    for image in re.findall(r"url\((images/[^)]+)\)", css):  # icons the stylesheet loads
        assert (assets.STATIC_DIR / "leaflet-1.9.3" / image).is_file()


def test_an_unknown_plugin_keeps_its_link_and_is_reported(caplog):
    m = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(m)
    assets.localise(m)
    assert [u for u in assets.external_links(m) if "fullscreen" in u]
    assert "not served by the app" in caplog.text


def test_dynamic_map_swaps_only_the_overlays_that_follow_the_opacity(prediction):
    outline = Overlay("Reference (outlines)", prediction.layer, opacity=1.0)
    hidden = Overlay("Differences", prediction.layer, shown=False, opacity=0.9)
    m, groups, control = build_dynamic_map(overlays=[prediction, outline, hidden],
                                           opacity=0.55)
    assert [g.layer_name for g in groups] == ["Prediction"]
    static = _options(m.get_root().render(), "imageOverlay")
    assert sorted(o["zIndex"] for o in static) == [3, 4]  # stacked above the prediction (2)
    assert {o["opacity"] for o in static} == {1.0, 0.9}
    [image] = groups[0]._children.values()
    assert image.options["opacity"] == 0.55 and image.options["z_index"] == 2
    assert "legend_html" in image.options  # the legend follows the group on and off the map
    assert isinstance(control, folium.LayerControl) and control.options["collapsed"] is True


def test_earth_engine_tiles_carry_their_legend():
    ghsl = TileLayer("GHSL built-up 2018 (reference)", "https://tiles.invalid/ghsl/{z}/{x}/{y}",
                     "JRC", GHSL_LEGEND)
    composite = TileLayer("Sentinel-2 median 2018", "https://tiles.invalid/s2/{z}/{x}/{y}", "C")
    html = build_map(bounds=[[52.4, 12.5], [52.5, 12.6]], tiles=[composite, ghsl]
                     ).get_root().render()
    layers = {o.get("attribution"): o for o in _options(html, "tileLayer")}
    assert "residential" in layers["JRC"]["legendHtml"]
    assert "legendHtml" not in layers["C"]  # true colour: nothing to explain
    assert "https://tiles.invalid/ghsl/{z}/{x}/{y}" in html


def test_compare_map_links_two_maps_each_with_its_own_overlays(prediction):
    other = Overlay("Reference", prediction.layer, tuple(class_items(NAMES, COLOURS)), opacity=1)
    dual = compare_map(MapSide("Prediction", [prediction], prediction.layer),
                       MapSide("Reference", [other]), opacity=0.6)
    assert isinstance(dual, DualMap)
    figure = dual.m1.get_root()
    figure.render()
    html = figure.render()
    assert f"{dual.m1.get_name()}.sync({dual.m2.get_name()})" in html
    left = dual.m1.get_root().render()
    assert '"Prediction"' in left and '"Reference"' in left  # both titles in one figure
    m1_images = [c for c in dual.m1._children.values()
                 if isinstance(c, folium.raster_layers.ImageOverlay)]
    m2_images = [c for c in dual.m2._children.values()
                 if isinstance(c, folium.raster_layers.ImageOverlay)]
    assert [i.layer_name for i in m1_images] == ["True colour (B4, B3, B2)", "Prediction"]
    assert [i.layer_name for i in m2_images] == ["Reference"]
    assert m1_images[1].options["opacity"] == 0.6 and m2_images[0].options["opacity"] == 1


def test_page_legend_skips_other_and_view_fits_the_area():
    html = legend_html(NAMES, COLOURS)
    assert "non-residential" in html and ">other<" not in html
    square = {"type": "Polygon", "coordinates": [[[12.5, 52.4], [12.6, 52.4], [12.6, 52.5],
                                                  [12.5, 52.5], [12.5, 52.4]]]}
    (lat, lon), zoom = view_for(square)
    assert lat == pytest.approx(52.45) and lon == pytest.approx(12.55) and 10 <= zoom <= 13
