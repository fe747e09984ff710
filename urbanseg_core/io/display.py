"""Pictures of scenes and class maps: the true-colour stretch, and web-map image layers.

:func:`true_colour_rgb` is the one display stretch (plots and map layers use it). The layers
are what the dashboard's map (:mod:`urbanseg_core.app.map`, folium) overlays; nothing here
needs folium or a browser. Leaflet draws an image overlay by stretching it linearly between
two latitude/longitude corners in Web Mercator, so every raster is first reprojected to
EPSG:3857 with
:func:`rasterio.warp.reproject` (bilinear for the true-colour image, nearest for class maps) and
its bounds given in EPSG:4326. Images travel inside the page as data URLs (no tile server):
the true-colour image as lossy WebP (about 15 times smaller than PNG), class maps as
lossless palette PNG with transparent "other" and nodata.
The true-colour image is a 2-98 percentile stretch of B4, B3, B2 with a 1/1.4 gamma (display
only; never fed to the model).

Besides filled class maps (:func:`class_layer`), a class map can be drawn as outlines
(:func:`outline_layer`: a reference under a filled prediction stays readable, where two filled
layers would blend into one muddy colour) and a split-confidence map as hatching where the
model is unsure (:func:`confidence_layer`). Outlines and hatching are drawn in display pixels,
after the reprojection.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import sieve
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform, reproject, transform_bounds, transform_geom

from ..sentinel2 import MODEL_BANDS, NODATA, RGB_BANDS
from ..util import hex_to_rgb
from .grid import utm_crs_for, wgs84_bounds
from .outputs import overlay_rgba

WEB_MERCATOR = CRS.from_epsg(3857)
#: Largest side, in pixels, of an image sent to the browser (keeps pages light).
MAX_SIDE = 1200
#: Split confidence (percent) below which a built-up pixel counts as unsure.
CONFIDENCE_THRESHOLD = 50
#: Hatching of unsure pixels (dark purple, ColorBrewer PuOr): visible on both built-up colours.
CONFIDENCE_COLOUR = "#542788"
#: The dark line along the boundaries of an outlined class map.
OUTLINE_CASING = "#1A1A1A"


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
    bounds = wgs84_bounds(crs, transform, shape)
    if bounds is None:
        return None
    w, s, e, n = bounds
    return [[s, w], [n, e]]


def _reprojected(data: np.ndarray, crs: CRS, transform, dst_crs: CRS, resampling: Resampling,
                 nodata: float, max_side: int | None = None) -> tuple[np.ndarray, object]:
    """``(C, H, W)`` data reprojected to ``dst_crs`` (GDAL's default grid for it: square
    pixels of about the input's size, shrunk to at most ``max_side`` px a side); returns the
    data, ``nodata`` outside the input or where a band held it, and its transform."""
    count, height, width = data.shape
    bounds = array_bounds(height, width, transform)
    dst_transform, dst_w, dst_h = calculate_default_transform(
        crs, dst_crs, width, height, *bounds)
    scale = max(dst_w, dst_h) / max_side if max_side else 1
    if scale > 1:
        dst_w, dst_h = max(1, int(round(dst_w / scale))), max(1, int(round(dst_h / scale)))
        dst_transform, dst_w, dst_h = calculate_default_transform(
            crs, dst_crs, width, height, *bounds, dst_width=dst_w, dst_height=dst_h)
    out = np.full((count, dst_h, dst_w), nodata, dtype=data.dtype)
    reproject(data, out, src_transform=transform, src_crs=crs, dst_transform=dst_transform,
              dst_crs=dst_crs, resampling=resampling, src_nodata=nodata, dst_nodata=nodata)
    return out, dst_transform


def _warp(data: np.ndarray, crs: CRS, transform, resampling: Resampling, nodata: float,
          max_side: int) -> tuple[np.ndarray, list[list[float]]]:
    """Reproject ``(C, H, W)`` data to EPSG:3857, at most ``max_side`` px a side; returns it
    with its ``[[south, west], [north, east]]`` bounds in degrees."""
    out, dst_transform = _reprojected(data, crs, transform, WEB_MERCATOR, resampling, nodata,
                                      max_side)
    w, s, e, n = transform_bounds(WEB_MERCATOR, "EPSG:4326",
                                  *array_bounds(*out.shape[1:], dst_transform))
    return out, [[s, w], [n, e]]


def true_colour_rgb(reflectance: np.ndarray, valid: np.ndarray, gamma: float = 1.0,
                    max_samples: int | None = None) -> np.ndarray:
    """The display stretch of a scene: B4, B3, B2, each between its 2nd and 98th percentile
    over valid pixels, clipped to 0-1, then raised to ``1 / gamma``.

    Args:
        reflectance: ``(11, H, W)`` reflectance in model band order.
        valid: ``(H, W)`` bool; at least one pixel should be valid.
        gamma: display gamma (1 = linear).
        max_samples: estimate the percentiles from about this many pixels (every n-th of the
            image), or from all valid pixels when ``None``.

    Returns:
        ``(H, W, 3)`` floats in 0-1 (values at invalid pixels are not meaningful).
    """
    step = max(1, int(valid.size // max_samples)) if max_samples else 1
    channels = []
    for band in RGB_BANDS:
        channel = reflectance[MODEL_BANDS.index(band)].astype("float32", copy=False)
        lo, hi = np.percentile(channel[valid].ravel()[::step], [2, 98])
        stretched = np.clip((channel - lo) / max(hi - lo, 1e-6), 0, 1)
        channels.append(stretched if gamma == 1 else stretched ** (1 / gamma))
    return np.stack(channels, axis=-1)


def true_colour(reflectance: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """An ``(H, W, 4)`` uint8 RGBA display image from an ``(11, H, W)`` reflectance stack:
    :func:`true_colour_rgb` with gamma 1.4 from about 200,000 pixels; invalid pixels are
    transparent."""
    out = np.zeros(valid.shape + (4,), dtype="uint8")
    if not valid.any():
        return out
    out[..., :3] = (true_colour_rgb(reflectance, valid, 1.4, 200_000) * 255).astype("uint8")
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


def palette_png(classes: np.ndarray, colours: Sequence[str], show_other: bool = False,
                opacities: Sequence[int] | None = None) -> bytes:
    """A palette PNG of an ``(H, W)`` uint8 class map: class ``i`` in ``colours[i]``; nodata
    (255) and, unless ``show_other``, class 0 transparent. Small and lossless.

    Args:
        classes: ``(H, W)`` uint8 codes.
        colours: hex colour of each code from 0.
        show_other: paint code 0 too.
        opacities: alpha (0-255) of each code instead of opaque (``show_other`` then unused).
    """
    palette = np.zeros((256, 3), dtype="uint8")
    alpha = np.zeros(256, dtype="uint8")
    for i, col in enumerate(colours):
        palette[i] = hex_to_rgb(col)
        alpha[i] = 0 if (i == 0 and not show_other) else 255
        if opacities is not None:
            alpha[i] = opacities[i]
    image = Image.fromarray(np.ascontiguousarray(classes, dtype="uint8"), mode="P")
    image.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=alpha.tobytes(), optimize=False)
    return buf.getvalue()


def class_edges(classes: np.ndarray, width: int = 2) -> np.ndarray:
    """The rim of every region of equal values: pixels less than ``width`` pixels (4-neighbour
    steps) from a pixel of another value.

    Args:
        classes: ``(H, W)`` codes.
        width: rim width in pixels (on each side of a boundary).

    Returns:
        ``(H, W)`` bool.
    """
    edge = np.zeros(classes.shape, dtype=bool)
    across = classes[:, 1:] != classes[:, :-1]
    down = classes[1:, :] != classes[:-1, :]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    edge[1:, :] |= down
    edge[:-1, :] |= down
    for _ in range(width - 1):  # grow the rim inwards, one pixel a step
        grown = edge.copy()
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        grown[1:, :] |= edge[:-1, :]
        grown[:-1, :] |= edge[1:, :]
        edge = grown
    return edge


#: Holes without reference of at most this many pixels inside a labelled region are drawn as
#: the region (:func:`fill_small_holes`): yards and lawns taken out of zoning polygons would
#: otherwise each get a ring (West San Jose: 2,187 of its 2,225 unlabelled patches).
OUTLINE_HOLE_PX = 25


def fill_small_holes(classes: np.ndarray, max_px: int = OUTLINE_HOLE_PX) -> np.ndarray:
    """A class map whose nodata patches of at most ``max_px`` pixels (4-connected) take the
    class of their largest neighbouring region (GDAL's sieve filter,
    :func:`rasterio.features.sieve`); classes and larger nodata areas are unchanged.

    Args:
        classes: ``(H, W)`` uint8 class map, :data:`NODATA` (255) where there is no value.
        max_px: largest patch filled, pixels.

    Returns:
        ``(H, W)`` uint8, a new array.
    """
    holes = classes == NODATA
    if not holes.any() or holes.all():
        return classes.copy()
    sieved = sieve(classes, size=max_px + 1, connectivity=4)
    return np.where(holes, sieved, classes).astype("uint8")


def outline_layer(classes: np.ndarray, crs: CRS, transform, colours: Sequence[str],
                  width: int = 3, casing: str = OUTLINE_CASING,
                  max_side: int = MAX_SIDE) -> ImageLayer:
    """A class map as outlines (interiors transparent) for the map.

    Inside each built-up region a band in the class's colour (``width`` - 1 pixels) runs
    along its boundary, and just outside it, on the side of class 0 or of no reference, a
    dark line one pixel wide (``casing``; also along the edge of the area with data). Drawn
    over a filled class map, the outlines stay readable, also where both maps agree (a
    coloured line over the same colour would vanish), while two filled layers at partial
    opacity would blend (blue over orange reads as olive). The casing stays outside, so
    small regions read in their colour, not as dark specks. Small holes without reference
    inside a region are drawn as the region (:func:`fill_small_holes`), so a reference with
    its yards left out does not read as a mesh of rings.

    Args:
        classes: ``(H, W)`` uint8 index class map, 255 nodata.
        crs, transform: its georeference.
        colours: hex colours in class-index order; class 0 gets the casing only.
        width: outline width in display pixels (the casing outside, the colour inside).
        casing: hex colour of the dark line along every boundary.
        max_side: largest side of the PNG in pixels.
    """
    warped, bounds = _warp(fill_small_holes(classes)[None], crs, transform, Resampling.nearest,
                           NODATA, max_side)
    data = warped[0]
    rim = np.where(class_edges(data, width - 1), data, NODATA)
    built = (data != 0) & (data != NODATA)
    outside = class_edges(data, 1) & ~built & ((data == 0) | class_edges(built, 1))
    rim[outside] = len(colours)  # the casing's code
    return ImageLayer(palette_png(rim.astype("uint8"), list(colours) + [casing]), bounds)


def confidence_layer(confidence: np.ndarray, crs: CRS, transform,
                     threshold: int = CONFIDENCE_THRESHOLD, colour: str = CONFIDENCE_COLOUR,
                     max_side: int = MAX_SIDE) -> ImageLayer:
    """Where the model is unsure whether built-up land is residential or non-residential:
    diagonal hatching over pixels whose split confidence is below ``threshold``.

    Args:
        confidence: ``(H, W)`` uint8 split confidence in percent (0-100, see
            :func:`urbanseg_core.inference.predict.split_confidence`); 255 where not built
            up or no data (left transparent).
        crs, transform: its georeference.
        threshold: percent below which a pixel is hatched.
        colour: hex colour of the hatching (between the lines: the same colour, faint).
        max_side: largest side of the PNG in pixels.
    """
    warped, bounds = _warp(confidence[None], crs, transform, Resampling.nearest, NODATA,
                           max_side)
    rows, cols = np.indices(warped.shape[1:])
    line = (rows + cols) % 6 < 2
    codes = np.where(warped[0] < threshold, np.where(line, 1, 2), 0).astype("uint8")
    return ImageLayer(palette_png(codes, ["#000000", colour, colour], opacities=(0, 255, 60)),
                      bounds)


#: Height of the legend strip under :func:`figure_rgba`'s picture, px.
LEGEND_PX = 44
#: The credit Copernicus asks for on products made from Sentinel data ("[Year]" follows when
#: known: :func:`copernicus_credit`).
COPERNICUS_CREDIT = "Contains modified Copernicus Sentinel data"


def copernicus_credit(years: Sequence[int] = ()) -> str:
    """The credit line of the Copernicus Sentinel data legal notice, "Contains modified
    Copernicus Sentinel data [Year]": ``2017``, ``2022-2023`` for a span, no year when
    none is known."""
    years = sorted(set(years))
    if not years:
        return COPERNICUS_CREDIT
    span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    return f"{COPERNICUS_CREDIT} {span}"


def scale_bar_length(pixel_m: float, max_px: float) -> float:
    """The longest round length (1, 2 or 5 x a power of ten, metres) whose bar is at most
    ``max_px`` pixels of ``pixel_m`` metres; at least one pixel's length."""
    best = pixel_m
    for power in range(0, 8):
        for step in (1, 2, 5):
            metres = step * 10.0 ** power
            if metres / pixel_m <= max_px:
                best = metres
    return best


def length_text(metres: float) -> str:
    """``"500 m"``, ``"2 km"``."""
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def draw_scale_and_north(image: Image.Image, pixel_m: float) -> None:
    """A scale bar (lower left, a round length: :func:`scale_bar_length`, at most a quarter
    of the width) and a grid-north arrow (upper right) on a north-up RGBA image whose pixels
    are ``pixel_m`` metres."""
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    w, h = image.size
    metres = scale_bar_length(pixel_m, w / 4)
    bar = max(int(round(metres / pixel_m)), 1)
    x0, y0 = 10, h - 14
    draw.rectangle((x0 - 4, y0 - 20, x0 + bar + 4, y0 + 8), fill=(255, 255, 255, 220))
    draw.rectangle((x0, y0, x0 + bar, y0 + 4), fill=(30, 30, 30, 255))
    draw.rectangle((x0 + bar // 2, y0 + 1, x0 + bar - 1, y0 + 3), fill=(255, 255, 255, 255))
    draw.text((x0, y0 - 17), length_text(metres), fill=(30, 30, 30, 255), font=font)
    cx, top = w - 18, 8
    draw.rectangle((cx - 10, top - 2, cx + 10, top + 36), fill=(255, 255, 255, 220))
    draw.polygon(((cx, top + 2), (cx - 7, top + 18), (cx, top + 14), (cx + 7, top + 18)),
                 fill=(30, 30, 30, 255))
    draw.text((cx, top + 27), "N", fill=(30, 30, 30, 255), font=font, anchor="mm")


def on_utm(picture: np.ndarray, classes: np.ndarray, crs: CRS, transform
           ) -> tuple[np.ndarray, np.ndarray, float]:
    """A picture and its class map on a latitude/longitude grid, redrawn with square pixels on
    the WGS 84 / UTM grid of their centre (nearest neighbour), so shapes are not stretched
    (a degree of longitude is shorter than one of latitude away from the equator) and a
    scale bar holds in every direction.

    Args:
        picture: ``(h, w, C)`` uint8 (true colour, C 3 or 4).
        classes: ``(h, w)`` uint8 class map on the same pixels, :data:`NODATA` (255) none.
        crs, transform: their georeference (a geographic CRS).

    Returns:
        ``(picture (h2, w2, C) uint8, classes (h2, w2) uint8, pixel side in metres)``;
        outside the input's footprint the picture is white and the classes :data:`NODATA`.
    """
    west, south, east, north = wgs84_bounds(crs, transform, classes.shape)
    utm = utm_crs_for((west + east) / 2, (south + north) / 2)
    # a band of ones marks the footprint (nodata 0 is per band: black pixels stay black)
    bands = np.concatenate([np.moveaxis(picture, -1, 0), np.ones((1, *classes.shape), "uint8")])
    out, dst_transform = _reprojected(bands.astype("uint8"), crs, transform, utm,
                                      Resampling.nearest, 0)
    redrawn = np.where(out[-1:] == 1, out[:-1], 255).astype("uint8")
    cls, _ = _reprojected(classes[None], crs, transform, utm, Resampling.nearest, NODATA)
    return np.moveaxis(redrawn, 0, -1), cls[0], float(abs(dst_transform.a))


def figure_rgba(picture: np.ndarray, classes: np.ndarray, colours: Sequence[str],
                names: Sequence[str], title: str, opacity: float = 0.6,
                pixel_m: float | None = None, credit: str = COPERNICUS_CREDIT) -> np.ndarray:
    """A picture to show others: the true-colour image with the built-up classes laid over it,
    a scale bar and north arrow (when ``pixel_m`` is known) and a legend strip (title, the
    classes' colours and a credit line) below.

    Args:
        picture: ``(h, w, 3|4)`` uint8 true-colour image (:func:`true_colour`).
        classes: ``(h, w)`` uint8 class map on the same pixels (index classes, 255 nodata);
            class 0 ("other") and nodata are left as the picture.
        colours, names: each class's ``#rrggbb`` colour and name (index order).
        title: text at the left of the legend strip (e.g. the image's name).
        opacity: opacity of the classes over the picture (0-1).
        pixel_m: side of a square picture pixel in metres (:func:`~.grid.pixel_size_m`
            times the decimation); ``None``: no scale bar or north arrow.
        credit: a second line in the strip (default the Copernicus credit).

    Returns:
        ``(h + LEGEND_PX, w, 4)`` uint8 RGBA.

    Raises:
        ValueError: the picture and the class map differ in size.
    """
    if picture.shape[:2] != classes.shape:
        raise ValueError(f"picture {picture.shape[:2]} and classes {classes.shape} differ")
    base = Image.fromarray(picture[..., :3].astype("uint8")).convert("RGBA")
    image = Image.alpha_composite(base, Image.fromarray(overlay_rgba(classes, colours,
                                                                     opacity)))
    if pixel_m:
        draw_scale_and_north(image, pixel_m)
    h, w = classes.shape
    canvas = Image.new("RGBA", (w, h + LEGEND_PX), (255, 255, 255, 255))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    y = h + 6
    x = w - 6
    for colour, name in reversed(list(zip(colours[1:], names[1:]))):
        x -= int(draw.textlength(name, font=font))
        draw.text((x, y - 1), name, fill=(30, 30, 30, 255), font=font)
        x -= 18
        draw.rectangle((x, y, x + 13, y + 13), fill=(*hex_to_rgb(colour), 255))
        x -= 14
    draw.text((6, y - 1), title, fill=(30, 30, 30, 255), font=font)
    draw.text((6, y + 18), credit, fill=(90, 90, 90, 255), font=ImageFont.load_default(size=11))
    return np.asarray(canvas)
