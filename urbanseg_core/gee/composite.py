"""The Sentinel-2 surface-reflectance composite of an AOI, as an Earth Engine expression.

Sources:

* ``COPERNICUS/S2_SR_HARMONIZED``: Sentinel-2 Level-2A, harmonised so that scenes after
  2022-01-25 (processing baseline 04.00) carry no +1000 DN offset; DN = reflectance x 10000.
* ``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED``: Cloud Score+ (Pasquarella et al. 2023, CVPR
  workshops), linked to each scene by ``system:index``. Band ``cs_cdf`` is the cumulative
  probability that a pixel is clear; pixels with ``cs_cdf >= threshold`` (default 0.6) are kept.

The composite is the per-pixel median (or mean, as the original project used) of the clear
observations of the 11 model bands, divided by 10000 (reflectance 0-1, float32), plus a
``clear_count`` band (uint16): how many clear observations went into each pixel. Pixels
outside the AOI polygon or without any clear observation hold 0 in every band, so
``clear_count > 0`` is the valid mask.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from ..errors import EarthEngineError
from ..lazy import lazy_import
from ..sentinel2 import DN_SCALE, MODEL_BANDS, RGB_BANDS

S2_COLLECTION = "COPERNICUS/S2_SR_HARMONIZED"
CLOUD_SCORE_COLLECTION = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
CLOUD_SCORE_BAND = "cs_cdf"
COUNT_BAND = "clear_count"
DEFAULT_START = "2018-01-01"
DEFAULT_END = "2019-01-01"
DEFAULT_CLOUD_THRESHOLD = 0.6

Reducer = Literal["median", "mean"]

#: dtypes of the composite's bands as fetched (reflectance float32, count uint16).
BAND_DTYPES: dict[str, str] = {**{b: "float32" for b in MODEL_BANDS}, COUNT_BAND: "uint16"}


def ee_geometry(aoi):
    """The AOI as an ``ee.Geometry`` (planar edges in EPSG:4326, as drawn on a web map)."""
    ee = lazy_import("ee")
    return ee.Geometry(aoi.to_geojson(), None, False)


def check_params(start: str, end: str, cloud_threshold: float, reducer: str) -> None:
    """Validate composite parameters before anything is sent.

    Raises:
        EarthEngineError: dates not ``YYYY-MM-DD`` or not increasing, threshold outside 0-1,
            unknown reducer.
    """
    try:
        d0, d1 = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    except ValueError:
        raise EarthEngineError(f"Dates must be written YYYY-MM-DD (got {start!r}, {end!r}).") from None
    if d1 <= d0:
        raise EarthEngineError(f"The end date {end} must be after the start date {start}.")
    if d0 < date(2017, 3, 28):
        raise EarthEngineError("Sentinel-2 surface reflectance in Earth Engine starts in 2017 "
                               "(2017-03-28). Choose a start date after that.")
    if not 0.0 <= float(cloud_threshold) <= 1.0:
        raise EarthEngineError(f"The Cloud Score+ threshold must be between 0 and 1 (got "
                               f"{cloud_threshold}); 0.6 is a good default.")
    if reducer not in ("median", "mean"):
        raise EarthEngineError(f"The composite must be 'median' or 'mean', not {reducer!r}.")


def clear_collection(geometry, start: str = DEFAULT_START, end: str = DEFAULT_END,
                     cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD):
    """Sentinel-2 L2A scenes over ``geometry`` in ``[start, end)`` with cloudy pixels masked.

    Args:
        geometry: an ``ee.Geometry`` (see :func:`ee_geometry`).
        start, end: ``YYYY-MM-DD``; ``end`` is exclusive.
        cloud_threshold: keep pixels with Cloud Score+ ``cs_cdf >= cloud_threshold``.

    Returns:
        An ``ee.ImageCollection`` of the 11 model bands (DN), each image masked.
    """
    ee = lazy_import("ee")
    scores = ee.ImageCollection(CLOUD_SCORE_COLLECTION)
    threshold = float(cloud_threshold)

    def mask_clouds(image):
        clear = image.select(CLOUD_SCORE_BAND).gte(threshold)
        return image.updateMask(clear).select(list(MODEL_BANDS))

    return (ee.ImageCollection(S2_COLLECTION)
            .filterBounds(geometry)
            .filterDate(start, end)
            .linkCollection(scores, [CLOUD_SCORE_BAND])
            .map(mask_clouds))


def scene_count(geometry, start: str = DEFAULT_START, end: str = DEFAULT_END):
    """An ``ee.Number``: how many Sentinel-2 scenes touch the AOI in the date range."""
    ee = lazy_import("ee")
    return ee.ImageCollection(S2_COLLECTION).filterBounds(geometry).filterDate(start, end).size()


def composite(geometry, start: str = DEFAULT_START, end: str = DEFAULT_END,
              cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD, reducer: Reducer = "median"):
    """The cloud-masked composite of the 11 model bands plus the clear-observation count.

    Args:
        geometry: an ``ee.Geometry``; the result is clipped to it.
        start, end: ``YYYY-MM-DD``, ``end`` exclusive (default: calendar year 2018, the
            original project's year and the GHSL epoch).
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1 (higher = stricter).
        reducer: ``"median"`` (robust to missed clouds and shadows) or ``"mean"``.

    Returns:
        An ``ee.Image`` with bands ``B2 .. B12`` (float32 reflectance 0-1, in
        :data:`~urbanseg_core.io.scene.MODEL_BANDS` order) and ``clear_count`` (uint16); 0 where
        there is no clear observation or outside the AOI.

    Raises:
        EarthEngineError: invalid parameters (checked locally, nothing is sent).
    """
    ee = lazy_import("ee")
    check_params(start, end, cloud_threshold, reducer)
    clear = clear_collection(geometry, start, end, cloud_threshold)
    ee_reducer = ee.Reducer.median() if reducer == "median" else ee.Reducer.mean()
    # Cast after unmask: unmask may widen a band's type, and the request size (and the
    # dtypes in BAND_DTYPES) must be exactly float32 x 11 + uint16.
    reflectance = (clear.reduce(ee_reducer)
                   .rename(list(MODEL_BANDS))
                   .divide(DN_SCALE)
                   .clip(geometry)
                   .unmask(0, False)
                   .toFloat())
    count = (clear.select(MODEL_BANDS[0])
             .reduce(ee.Reducer.count())
             .rename(COUNT_BAND)
             .clip(geometry)
             .unmask(0, False)
             .toUint16())
    return reflectance.addBands(count)


def true_colour_image(geometry, start: str = DEFAULT_START, end: str = DEFAULT_END,
                cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD, reducer: Reducer = "median"):
    """The composite's B4, B3, B2 (reflectance) for display, masked where no clear pixel."""
    image = composite(geometry, start, end, cloud_threshold, reducer)
    return image.select(list(RGB_BANDS)).updateMask(image.select(COUNT_BAND).gt(0))
