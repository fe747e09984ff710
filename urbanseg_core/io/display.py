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
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform, reproject, transform_bounds, transform_geom

from ..sentinel2 import MODEL_BANDS, NODATA, RGB_BANDS
from ..util import hex_to_rgb

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


def palette_png(classes: np.ndarray, colours: Sequence[str], show_other: bool = False) -> bytes:
    """A palette PNG of an ``(H, W)`` uint8 class map: class ``i`` in ``colours[i]``; nodata
    (255) and, unless ``show_other``, class 0 transparent. Small and lossless."""
    palette = np.zeros((256, 3), dtype="uint8")
    alpha = np.zeros(256, dtype="uint8")
    for i, col in enumerate(colours):
        palette[i] = hex_to_rgb(col)
        alpha[i] = 0 if (i == 0 and not show_other) else 255
    image = Image.fromarray(np.ascontiguousarray(classes, dtype="uint8"), mode="P")
    image.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=alpha.tobytes(), optimize=False)
    return buf.getvalue()
