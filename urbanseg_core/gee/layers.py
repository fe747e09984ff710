"""Earth Engine layers for the map: the composite's true colour and GHSL, as images to tile.

The core only describes a layer (:class:`LayerSource`: the ``ee.Image``, its visualisation,
name, attribution and legend); the dashboard turns it into an XYZ tile URL with geemap's
Earth Engine tile layer (:mod:`urbanseg_core.app.eelayers`), since only the app may use
geemap. A tile URL stays valid for a few hours: fetch it again (it is cheap) rather than
caching it for days. Making a source checks the connection but sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sentinel2 import CLASSES, RGB_BANDS
from .auth import require_initialized
from .composite import (DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START, ee_geometry,
                        true_colour_image)
from .reference import ghsl_classes

#: Display stretch for surface reflectance (0-0.3 covers most land).
TRUE_COLOUR_VIS = {"bands": list(RGB_BANDS), "min": 0.0, "max": 0.3, "gamma": 1.2}
#: GHSL in the classes' colours (:data:`urbanseg_core.sentinel2.CLASSES`): non-residential
#: (21-25) and residential (11-15); "other" is masked (transparent).
GHSL_VIS = {"min": 1, "max": 2, "palette": [colour.lstrip("#") for _, colour, _, _ in CLASSES[1:]]}
#: GHSL's legend: the built-up classes it shows, ``(name, hex colour)``.
GHSL_LEGEND: tuple[tuple[str, str], ...] = tuple((name, colour) for name, colour, _, _ in CLASSES[1:])


@dataclass(frozen=True)
class LayerSource:
    """An Earth Engine image to show on the map.

    Attributes:
        image: the ``ee.Image``.
        vis: its visualisation parameters (``getMapId`` / geemap ``vis_params``).
        name: the layer's name in the layer switcher.
        attribution: the data's attribution.
        legend: ``(label, hex colour)`` of what it shows in colour (empty: no legend).
    """

    image: Any
    vis: dict
    name: str
    attribution: str
    legend: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TileLayer:
    """An XYZ tile layer: ``url`` with ``{x}``, ``{y}``, ``{z}`` placeholders."""

    name: str
    url: str
    attribution: str
    legend: tuple[tuple[str, str], ...] = ()


def true_colour_source(aoi, start: str = DEFAULT_START, end: str = DEFAULT_END,
                       cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD,
                       reducer: str = "median") -> LayerSource:
    """The composite's true colour (B4, B3, B2, reflectance 0-0.3).

    Raises:
        EarthEngineError: not connected.
    """
    require_initialized()
    image = true_colour_image(ee_geometry(aoi), start, end, cloud_threshold, reducer)
    return LayerSource(image, TRUE_COLOUR_VIS, f"Sentinel-2 {reducer} {start[:4]}",
                       "Contains modified Copernicus Sentinel data; Google Earth Engine")


def ghsl_source(aoi=None) -> LayerSource:
    """GHSL GHS-BUILT-C 2018 in the model's classes (transparent where not built).

    Args:
        aoi: clip to this AOI, or ``None`` for the whole world.

    Raises:
        EarthEngineError: not connected.
    """
    require_initialized()
    image = ghsl_classes()
    image = image.updateMask(image.gt(0))
    if aoi is not None:
        image = image.clip(ee_geometry(aoi))
    return LayerSource(image, GHSL_VIS, "GHSL built-up 2018 (reference)",
                       "GHS-BUILT-C R2023A, European Commission JRC (CC BY 4.0)", GHSL_LEGEND)
