"""Earth Engine tile layers (XYZ URLs) for a folium map: the composite's true colour and GHSL.

Uses ``ee.Image.getMapId`` directly (what geemap does underneath), so the core needs neither
geemap nor streamlit; add a layer with
``folium.TileLayer(tiles=layer.url, attr=layer.attribution, name=layer.name, overlay=True)``.
Tile URLs stay valid for a few hours; fetch them again (they are cheap) rather than caching
them for days.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lazy import lazy_import
from ..sentinel2 import CLASSES, RGB_BANDS
from .auth import require_initialized
from .composite import (DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START, ee_geometry,
                        true_colour_image)
from .download import RetryPolicy, call_with_retries
from .reference import ghsl_classes

#: Display stretch for surface reflectance (0-0.3 covers most land).
TRUE_COLOUR_VIS = {"bands": list(RGB_BANDS), "min": 0.0, "max": 0.3, "gamma": 1.2}
#: GHSL in the classes' colours (:data:`urbanseg_core.sentinel2.CLASSES`): non-residential
#: (21-25) and residential (11-15); "other" is masked (transparent).
GHSL_VIS = {"min": 1, "max": 2, "palette": [colour.lstrip("#") for _, colour, _, _ in CLASSES[1:]]}


@dataclass(frozen=True)
class TileLayer:
    """An XYZ tile layer: ``url`` with ``{x}``, ``{y}``, ``{z}`` placeholders."""

    name: str
    url: str
    attribution: str


def _url(image, vis: dict) -> str:
    ee = lazy_import("ee")
    response = call_with_retries(lambda: image.getMapId(vis), "the map tiles", RetryPolicy(3))
    fetcher = response.get("tile_fetcher")
    if fetcher is not None:
        return fetcher.url_format
    base = ee.data._get_state().tile_base_url or ee.data.DEFAULT_TILE_BASE_URL  # noqa: SLF001
    return f"{base}/v1/{response['mapid']}/tiles/{{z}}/{{x}}/{{y}}"


def true_colour_layer(aoi, start: str = DEFAULT_START, end: str = DEFAULT_END,
                      cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD,
                      reducer: str = "median") -> TileLayer:
    """The composite's true colour (B4, B3, B2, reflectance 0-0.3) as tiles.

    Raises:
        EarthEngineError: not connected or Earth Engine refused.
    """
    require_initialized()
    image = true_colour_image(ee_geometry(aoi), start, end, cloud_threshold, reducer)
    return TileLayer(f"Sentinel-2 {reducer} {start[:4]}", _url(image, TRUE_COLOUR_VIS),
                     "Contains modified Copernicus Sentinel data; Google Earth Engine")


def ghsl_layer(aoi=None) -> TileLayer:
    """GHSL GHS-BUILT-C 2018 in the model's classes (transparent where not built) as tiles.

    Args:
        aoi: clip to this AOI, or ``None`` for the whole world.

    Raises:
        EarthEngineError: not connected or Earth Engine refused.
    """
    require_initialized()
    image = ghsl_classes()
    image = image.updateMask(image.gt(0))
    if aoi is not None:
        image = image.clip(ee_geometry(aoi))
    return TileLayer("GHSL built-up 2018 (reference)", _url(image, GHSL_VIS),
                     "GHS-BUILT-C R2023A, European Commission JRC (CC BY 4.0)")
