"""Map layers for the dashboard: footprint, true-colour image and class overlays on a folium map.

Leaflet draws an image overlay by stretching it linearly between two latitude/longitude corners
in Web Mercator, so every raster is first reprojected to EPSG:3857 with
:func:`rasterio.warp.reproject` (bilinear for the true-colour image, nearest for class maps) and
its bounds given in EPSG:4326. Images travel inside the page as data URLs (no tile server):
the true-colour image as lossy WebP (about 15 times smaller than PNG), class maps as
lossless palette PNG with transparent "other" and nodata.
The true-colour image is a 2-98 percentile stretch of B4, B3, B2 with a 1/1.4 gamma (display
only; never fed to the model).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform, reproject, transform_bounds, transform_geom

from ..inference.predict import NODATA

WEB_MERCATOR = CRS.from_epsg(3857)
#: Largest side, in pixels, of an image sent to the browser (keeps pages light).
MAX_SIDE = 1200


@dataclass(frozen=True)
class ImageLayer:
    """An image to overlay on the map.

    Attributes:
        png: the encoded image (PNG or WebP bytes, see ``mime``).
        bounds: ``[[south, west], [north, east]]`` in degrees (EPSG:4326), as Leaflet wants.
        mime: ``"image/png"`` or ``"image/webp"``.
    """

    png: bytes
    bounds: list[list[float]]
    mime: str = "image/png"

    @property
    def data_url(self) -> str:
        """The image as a ``data:`` URL."""
        return f"data:{self.mime};base64," + base64.b64encode(self.png).decode("ascii")


def footprint(crs: CRS | None, transform, shape: tuple[int, int]) -> dict | None:
    """The raster's outline as a GeoJSON Polygon in EPSG:4326 (``None`` without a CRS).

    Args:
        crs, transform: the raster's georeference.
        shape: ``(H, W)`` in pixels.
    """
    if crs is None:
        return None
    left, bottom, right, top = array_bounds(shape[0], shape[1], transform)
    ring = [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
    geom = {"type": "Polygon", "coordinates": [ring]}
    # densify so the outline follows the projection's curvature
    return transform_geom(crs, "EPSG:4326", geom, antimeridian_cutting=True, precision=6)


def latlon_bounds(crs: CRS | None, transform, shape: tuple[int, int]) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of a raster in degrees (``None`` without a CRS)."""
    if crs is None:
        return None
    w, s, e, n = transform_bounds(crs, "EPSG:4326", *array_bounds(shape[0], shape[1], transform))
    return [[s, w], [n, e]]


def _warp(data: np.ndarray, crs: CRS, transform, resampling: Resampling, nodata: float,
          max_side: int) -> tuple[np.ndarray, list[list[float]]]:
    """Reproject ``(C, H, W)`` data to EPSG:3857, at most ``max_side`` px a side."""
    count, height, width = data.shape
    left, bottom, right, top = array_bounds(height, width, transform)
    dst_transform, dst_w, dst_h = calculate_default_transform(
        crs, WEB_MERCATOR, width, height, left, bottom, right, top)
    scale = max(dst_w, dst_h) / max_side
    if scale > 1:
        dst_w, dst_h = max(1, int(round(dst_w / scale))), max(1, int(round(dst_h / scale)))
        dst_transform, dst_w, dst_h = calculate_default_transform(
            crs, WEB_MERCATOR, width, height, left, bottom, right, top,
            dst_width=dst_w, dst_height=dst_h)
    out = np.full((count, dst_h, dst_w), nodata, dtype=data.dtype)
    reproject(data, out, src_transform=transform, src_crs=crs, dst_transform=dst_transform,
              dst_crs=WEB_MERCATOR, resampling=resampling, src_nodata=nodata, dst_nodata=nodata)
    w, s, e, n = transform_bounds(WEB_MERCATOR, "EPSG:4326",
                                  *array_bounds(dst_h, dst_w, dst_transform))
    return out, [[s, w], [n, e]]


def true_colour(reflectance: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """An ``(H, W, 4)`` uint8 RGBA display image from an ``(11, H, W)`` reflectance stack.

    Bands B4, B3, B2 (indices 2, 1, 0), each stretched between its 2nd and 98th percentile
    over valid pixels, gamma 1/1.4; invalid pixels are transparent.
    """
    rgb = reflectance[[2, 1, 0]].astype("float32")
    out = np.zeros(valid.shape + (4,), dtype="uint8")
    if not valid.any():
        return out
    step = max(1, int(valid.size // 200_000))
    for i in range(3):
        vals = rgb[i][valid].ravel()[::step]
        lo, hi = np.percentile(vals, [2, 98])
        band = np.clip((rgb[i] - lo) / max(hi - lo, 1e-6), 0, 1) ** (1 / 1.4)
        out[..., i] = (band * 255).astype("uint8")
    out[..., 3] = np.where(valid, 255, 0)
    return out


def true_colour_layer(reflectance: np.ndarray, valid: np.ndarray, crs: CRS, transform,
                      max_side: int = MAX_SIDE) -> ImageLayer:
    """The true-colour image reprojected to Web Mercator as an :class:`ImageLayer`.

    Args:
        reflectance: ``(11, H, W)`` float32 reflectance 0-1 (model band order).
        valid: ``(H, W)`` bool.
        crs, transform: the scene's georeference (a CRS is required).
        max_side: largest side of the PNG in pixels.
    """
    from PIL import Image

    rgba = true_colour(reflectance, valid)
    warped, bounds = _warp(np.moveaxis(rgba, -1, 0), crs, transform, Resampling.bilinear, 0,
                           max_side)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(warped, 0, -1))).save(
        buf, format="WEBP", quality=82, method=3)
    return ImageLayer(buf.getvalue(), bounds, "image/webp")


def class_layer(classes: np.ndarray, crs: CRS, transform, colours: Sequence[str],
                show_other: bool = False, max_side: int = MAX_SIDE) -> ImageLayer:
    """A class map reprojected (nearest) to Web Mercator and coloured as an :class:`ImageLayer`.

    Args:
        classes: ``(H, W)`` uint8 index class map, 255 nodata (transparent).
        crs, transform: its georeference.
        colours: hex colours in class-index order (model card).
        show_other: paint class 0 "other" too (otherwise transparent).
        max_side: largest side of the PNG in pixels.

    The PNG is fully opaque where coloured; the map sets the opacity, so a slider needs no
    new image.
    """
    warped, bounds = _warp(classes[None], crs, transform, Resampling.nearest, NODATA, max_side)
    return ImageLayer(palette_png(warped[0], colours, show_other), bounds)


def palette_png(classes: np.ndarray, colours: Sequence[str], show_other: bool = False) -> bytes:
    """A palette PNG of an ``(H, W)`` uint8 class map: class ``i`` in ``colours[i]``; nodata
    (255) and, unless ``show_other``, class 0 transparent. Small and lossless."""
    from PIL import Image

    palette = np.zeros((256, 3), dtype="uint8")
    alpha = np.zeros(256, dtype="uint8")
    for i, col in enumerate(colours):
        c = col.lstrip("#")
        palette[i] = (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))
        alpha[i] = 0 if (i == 0 and not show_other) else 255
    image = Image.fromarray(np.ascontiguousarray(classes, dtype="uint8"), mode="P")
    image.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=alpha.tobytes(), optimize=False)
    return buf.getvalue()


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


def _legend_control(html: str):
    """A bottom-right Leaflet control holding ``html``."""
    from branca.element import MacroElement, Template

    element = MacroElement()
    element._template = Template(
        "{% macro script(this, kwargs) %}\n"
        "var legend = L.control({position: 'bottomright'});\n"
        "legend.onAdd = function () {var d = L.DomUtil.create('div', 'urbanseg-legend');"
        "d.style.background = 'rgba(255,255,255,0.9)'; d.style.padding = '6px 8px';"
        "d.style.borderRadius = '4px'; d.innerHTML = " + _js_string(html) + "; return d;};\n"
        "legend.addTo({{ this._parent.get_name() }});\n"
        "{% endmacro %}"
    )
    return element


def _js_string(text: str) -> str:
    import json

    return json.dumps(text)


def base_map(bounds: list[list[float]] | None, height: int = 520):
    """A folium map fitted to ``bounds`` with an OpenStreetMap basemap.

    Without bounds it shows Europe. Tiles may stay grey offline; overlays still show.
    """
    import folium

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


def image_overlay(layer: ImageLayer, name: str, opacity: float = 1.0, show: bool = True):
    """A folium ImageOverlay of an :class:`ImageLayer`."""
    import folium

    return folium.raster_layers.ImageOverlay(
        image=layer.data_url, bounds=layer.bounds, name=name, opacity=opacity,
        interactive=False, cross_origin=False, zindex=1, show=show,
    )


def footprint_layer(geom: dict, name: str = "Scene footprint"):
    """The scene outline as a dashed GeoJSON layer."""
    import folium

    return folium.GeoJson(
        {"type": "Feature", "geometry": geom, "properties": {"name": name}}, name=name,
        style_function=lambda _f: {"color": "#D55E00", "weight": 2, "fill": False,
                                   "dashArray": "6 4"},
    )


def build_map(
    *,
    true_colour: ImageLayer | None = None,
    outline: dict | None = None,
    overlays: Sequence[tuple[str, ImageLayer, bool]] = (),
    opacity: float = 0.7,
    legend: str | None = None,
    aoi: dict | None = None,
    draw: bool = False,
    height: int = 520,
    layer_control: bool = True,
    bounds: list[list[float]] | None = None,
    tiles: Sequence[tuple[str, str, str]] = (),
):
    """Assemble a folium map.

    Args:
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

    Returns:
        A :class:`folium.Map`.
    """
    import folium
    from folium.plugins import Draw

    bounds = true_colour.bounds if true_colour else bounds
    if bounds is None and overlays:
        bounds = overlays[0][1].bounds
    if bounds is None and aoi is not None:
        bounds = _geom_bounds(aoi)
    if bounds is None and outline is not None:
        bounds = _geom_bounds(outline)
    m = base_map(bounds, height)
    for name, url, attribution in tiles:
        folium.TileLayer(tiles=url, attr=attribution, name=name, overlay=True,
                         show=True).add_to(m)
    if true_colour is not None:
        image_overlay(true_colour, "True colour (B4, B3, B2)").add_to(m)
    for name, layer, shown in overlays:
        image_overlay(layer, name, opacity, shown).add_to(m)
    if outline is not None:
        footprint_layer(outline).add_to(m)
    if aoi is not None:
        folium.GeoJson({"type": "Feature", "geometry": aoi, "properties": {}},
                       name="Area of interest",
                       style_function=lambda _f: {"color": "#CC79A7", "weight": 3,
                                                  "fillOpacity": 0.05}).add_to(m)
    if draw:
        Draw(export=False, position="topleft",
             draw_options={"polyline": False, "circle": False, "marker": False,
                           "circlemarker": False, "polygon": True, "rectangle": True},
             edit_options={"edit": False, "remove": True}).add_to(m)
    if legend:
        m.add_child(_legend_control(legend))
    if layer_control:
        folium.LayerControl(collapsed=False).add_to(m)
    return m


def _geom_bounds(geom: dict) -> list[list[float]]:
    from shapely.geometry import shape

    w, s, e, n = shape(geom).bounds
    return [[s, w], [n, e]]


def build_dynamic_map(
    *,
    overlays: Sequence[tuple[str, ImageLayer, bool]],
    opacity: float,
    **static,
):
    """A map whose class overlays can change (opacity, new result) without reloading it.

    For ``streamlit_folium.st_folium(m, feature_group_to_add=groups, layer_control=control)``:
    the static part (basemap, true colour, footprint, AOI, drawing tools, legend: the
    keyword arguments of :func:`build_map`) is the map; each class overlay is a
    :class:`folium.FeatureGroup` that streamlit-folium swaps in place, so a new opacity or a
    new prediction keeps the user's zoom and position.

    Returns:
        ``(map, groups, layer_control)``.
    """
    import folium

    m = build_map(layer_control=False, **static)
    groups = []
    for name, layer, shown in overlays:
        group = folium.FeatureGroup(name=name, show=shown)
        image_overlay(layer, name, opacity, True).add_to(group)
        groups.append(group)
    return m, groups, folium.LayerControl(collapsed=False)


def aoi_group(aoi: dict, name: str = "Area of interest"):
    """An AOI (GeoJSON geometry, EPSG:4326) as a feature group for dynamic maps."""
    import folium

    group = folium.FeatureGroup(name=name)
    folium.GeoJson({"type": "Feature", "geometry": aoi, "properties": {}}, name=name,
                   style_function=lambda _f: {"color": "#CC79A7", "weight": 3,
                                              "fillOpacity": 0.05}).add_to(group)
    return group


def view_for(geometry: dict, width_px: int = 700, height_px: int = 480,
             max_zoom: int = 16) -> tuple[tuple[float, float], int]:
    """``((lat, lon), zoom)`` that shows a geometry whole in a ``width_px x height_px`` map.

    Web Mercator zoom ``z`` shows ``256 * 2**z`` px for 360° of longitude; latitude spans are
    compared in Mercator units.
    """
    import math

    (s, w), (n, e) = _geom_bounds(geometry)

    def merc(lat: float) -> float:
        lat = max(min(lat, 85.0), -85.0)
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lon_frac = max(e - w, 1e-9) / 360.0
    lat_frac = max(merc(n) - merc(s), 1e-9) / (2 * math.pi)
    zoom = min(math.log2(width_px / 256 / lon_frac), math.log2(height_px / 256 / lat_frac))
    return ((s + n) / 2, (w + e) / 2), max(1, min(max_zoom, int(math.floor(zoom))))
