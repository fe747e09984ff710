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

from ..io.references import GHSL_NON_RESIDENTIAL, GHSL_RESIDENTIAL
from ..lazy import lazy_import
from ..sentinel2 import NODATA

GHSL_COLLECTION = "JRC/GHSL/P2023A/GHS_BUILT_C"
GHSL_BAND = "built_characteristics"
REFERENCE_BAND = "reference"

#: (from GHSL codes, to model index codes), used by the Earth Engine remap; the same mapping
#: as :func:`urbanseg_core.io.references.to_index` with ``codes="ghsl"`` on local files.
REMAP = (list(GHSL_RESIDENTIAL + GHSL_NON_RESIDENTIAL),
         [2] * len(GHSL_RESIDENTIAL) + [1] * len(GHSL_NON_RESIDENTIAL))


def ghsl_classes():
    """GHS-BUILT-C mosaicked and remapped to index classes (0 where not built), an
    ``ee.Image`` without a mask or clip."""
    ee = lazy_import("ee")
    codes = ee.ImageCollection(GHSL_COLLECTION).mosaic().select(GHSL_BAND)
    return codes.remap(REMAP[0], REMAP[1], 0)


def ghsl_reference(geometry):
    """The GHSL reference as an ``ee.Image`` (one uint8 band ``reference``).

    Args:
        geometry: an ``ee.Geometry``; pixels outside it are 255.

    Returns:
        ``ee.Image``: 0 other, 1 non-residential, 2 residential, 255 nodata.
    """
    return (ghsl_classes()
            .rename(REFERENCE_BAND)
            .clip(geometry)
            .unmask(NODATA, False)
            .toUint8())
