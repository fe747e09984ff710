"""The GHSL reference on the download grid, in the model's index classes.

Source: GHS-BUILT-C R2023A (Pesaresi & Politis 2023, JRC; CC BY 4.0), Earth Engine
``JRC/GHSL/P2023A/GHS_BUILT_C``, band ``built_characteristics``, 10 m, epoch 2018. Its classes
11-15 are residential buildings (by height), 21-25 non-residential buildings; everything else
(open spaces, vegetation, water, roads) is "other". The collection is mosaicked and resampled
to the download grid by nearest neighbour (Earth Engine's default), so codes are never mixed.

Mapping (the model's index codes): 11-15 -> 2 residential, 21-25 -> 1 non-residential,
any other code -> 0 other, no data / outside the AOI -> 255.
"""

from __future__ import annotations

import numpy as np

GHSL_COLLECTION = "JRC/GHSL/P2023A/GHS_BUILT_C"
GHSL_BAND = "built_characteristics"
REFERENCE_BAND = "reference"
NODATA = 255

RESIDENTIAL_CODES = (11, 12, 13, 14, 15)
NON_RESIDENTIAL_CODES = (21, 22, 23, 24, 25)
#: (from GHSL codes, to model index codes), used by the Earth Engine remap.
REMAP = (list(RESIDENTIAL_CODES + NON_RESIDENTIAL_CODES),
         [2] * len(RESIDENTIAL_CODES) + [1] * len(NON_RESIDENTIAL_CODES))


def ghsl_reference(geometry):
    """The GHSL reference as an ``ee.Image`` (one uint8 band ``reference``).

    Args:
        geometry: an ``ee.Geometry``; pixels outside it are 255.

    Returns:
        ``ee.Image``: 0 other, 1 non-residential, 2 residential, 255 nodata.
    """
    import ee

    codes = ee.ImageCollection(GHSL_COLLECTION).mosaic().select(GHSL_BAND)
    return (codes.remap(REMAP[0], REMAP[1], 0)
            .rename(REFERENCE_BAND)
            .clip(geometry)
            .unmask(NODATA, False)
            .toUint8())


def ghsl_to_index(codes: np.ndarray, nodata: int | None = None) -> np.ndarray:
    """The same mapping on a local array of GHSL codes (e.g. a downloaded GHS-BUILT-C tile).

    Args:
        codes: ``(H, W)`` integer GHSL ``built_characteristics`` codes.
        nodata: the file's nodata value, mapped to 255.

    Returns:
        ``(H, W)`` uint8: 0 other, 1 non-residential, 2 residential, 255 nodata.
    """
    out = np.zeros(codes.shape, dtype=np.uint8)
    out[np.isin(codes, RESIDENTIAL_CODES)] = 2
    out[np.isin(codes, NON_RESIDENTIAL_CODES)] = 1
    if nodata is not None:
        out[codes == nodata] = NODATA
    return out


def fetch_reference(scene_or_aoi, **kwargs) -> np.ndarray:
    """Fetch the reference for a fetched scene (same grid) or an AOI.

    A shortcut for :func:`urbanseg_core.gee.download.fetch_reference`; see it for arguments.

    Returns:
        ``(H, W)`` uint8: 0 other, 1 non-residential, 2 residential, 255 nodata.

    Raises:
        EarthEngineError: not connected or a request failed for good.
    """
    from .download import fetch_reference as _fetch

    return _fetch(scene_or_aoi, **kwargs)
