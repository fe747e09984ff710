"""Earth Engine tile layers (XYZ URLs) for a folium map: the composite's true colour and GHSL.

Uses ``ee.Image.getMapId`` directly (what geemap does underneath), so the core needs neither
geemap nor streamlit; add a layer with
``folium.TileLayer(tiles=layer.url, attr=layer.attribution, name=layer.name, overlay=True)``.
Tile URLs stay valid for a few hours; fetch them again (they are cheap) rather than caching
them for days.
"""

from __future__ import annotations

from dataclasses import dataclass

from .auth import require_initialized
from .composite import DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START, ee_geometry, true_colour
from .download import RetryPolicy, call_with_retries
from .reference import GHSL_BAND, GHSL_COLLECTION

#: Display stretch for surface reflectance (0-0.3 covers most land).
TRUE_COLOUR_VIS = {"bands": ["B4", "B3", "B2"], "min": 0.0, "max": 0.3, "gamma": 1.2}
#: GHSL in the model card's colours (urbanseg_core.model.card.DEFAULT_CLASSES): non-residential
#: (21-25) blue, residential (11-15) orange; "other" is masked (transparent).
GHSL_VIS = {"min": 1, "max": 2, "palette": ["0072B2", "E69F00"]}


@dataclass(frozen=True)
class TileLayer:
    """An XYZ tile layer: ``url`` with ``{x}``, ``{y}``, ``{z}`` placeholders."""

    name: str
    url: str
    attribution: str


def _url(image, vis: dict) -> str:
    import ee

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
    image = true_colour(ee_geometry(aoi), start, end, cloud_threshold, reducer)
    return TileLayer(f"Sentinel-2 {reducer} {start[:4]}", _url(image, TRUE_COLOUR_VIS),
                     "Contains modified Copernicus Sentinel data; Google Earth Engine")


def ghsl_layer(aoi=None) -> TileLayer:
    """GHSL GHS-BUILT-C 2018 in the model's classes (transparent where not built) as tiles.

    Args:
        aoi: clip to this AOI, or ``None`` for the whole world.

    Raises:
        EarthEngineError: not connected or Earth Engine refused.
    """
    import ee

    from .reference import REMAP

    require_initialized()
    image = (ee.ImageCollection(GHSL_COLLECTION).mosaic().select(GHSL_BAND)
             .remap(REMAP[0], REMAP[1], 0))
    image = image.updateMask(image.gt(0))
    if aoi is not None:
        image = image.clip(ee_geometry(aoi))
    return TileLayer("GHSL built-up 2018 (reference)", _url(image, GHSL_VIS),
                     "GHS-BUILT-C R2023A, European Commission JRC (CC BY 4.0)")
