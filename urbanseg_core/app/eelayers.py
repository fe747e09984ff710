"""Earth Engine layers on the map through geemap: the composite's true colour and GHSL.

geemap's :class:`geemap.ee_tile_layers.EEFoliumTileLayer` asks Earth Engine for a map id of
the image (``getMapId``) and holds the XYZ tile URL; the layers themselves are described in
:mod:`urbanseg_core.gee.layers`. geemap is imported here, when the first layer is made (about
4 s: it brings ipyleaflet, plotly and matplotlib), never at start-up, and it is never asked to
authenticate or initialise Earth Engine: the app's connection flow
(:mod:`urbanseg_core.gee.auth`, :mod:`urbanseg_core.app.earthengine`) does that, and the
sources refuse to be made before it has.
"""

from __future__ import annotations

from ..aoi import AOI
from ..gee.download import RetryPolicy, call_with_retries
from ..gee.layers import LayerSource, TileLayer, ghsl_source, true_colour_source
from ..lazy import lazy_import

#: geemap's module of Earth Engine tile layers (imported on first use).
GEEMAP_TILES = "geemap.ee_tile_layers"


def tile_layer(source: LayerSource, policy: RetryPolicy = RetryPolicy(3)) -> TileLayer:
    """The tile layer of an Earth Engine image, its URL made by geemap.

    Args:
        source: the image, visualisation, name, attribution and legend.
        policy: retries of transient Earth Engine failures.

    Raises:
        EarthEngineError: Earth Engine refused (plain message).
        MissingDependencyError: geemap is not installed.
    """
    tiles = lazy_import(GEEMAP_TILES)
    made = call_with_retries(
        lambda: tiles.EEFoliumTileLayer(source.image, source.vis, name=source.name),
        "the map tiles", policy)
    return TileLayer(source.name, made.url_format, source.attribution, source.legend)


def map_layers(area: AOI, start: str, end: str, cloud_threshold: float) -> list[TileLayer]:
    """The Earth Engine panel's map layers: the composite's true colour, then GHSL.

    Args:
        area: the AOI.
        start, end: the composite's date range (ISO dates, end excluded).
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold.

    Raises:
        EarthEngineError: not connected, or Earth Engine refused.
        MissingDependencyError: geemap is not installed.
    """
    return [tile_layer(true_colour_source(area, start, end, cloud_threshold)),
            tile_layer(ghsl_source(area))]
