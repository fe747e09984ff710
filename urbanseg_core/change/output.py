"""Files of a change map: the from-to GeoTIFF, JSON statistics, GeoJSON of new built-up areas.

Every file is written to a temporary name in the target folder and renamed over the target at
the end (:func:`urbanseg_core.util.atomic_write`), so an interrupted run never leaves half a
file under the requested name.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS

from ..evaluation.metrics import json_safe
from ..io.outputs import write_mask
from ..io.vectorize import class_polygons
from ..util import atomic_write
from .codes import PAIR_COLOURS, pair_names

#: Codes traced as "new built-up area": other -> non-residential (1), other -> residential (2).
NEW_BUILT_UP_CODES = (1, 2)


def change_tags(class_names: Sequence[str], extra: dict | None = None) -> dict[str, str]:
    """GeoTIFF tags that say how to read a from-to map (besides ``CLASSES`` and the colours
    :func:`~urbanseg_core.io.outputs.write_mask` writes)."""
    tags = {
        "CODES": "from_to",
        "FROM_TO_ENCODING": "code = 3 * before + after; 255 = nodata",
        "CLASSES_PER_DATE": json.dumps({str(i): n for i, n in enumerate(class_names)}),
        "NODATA_MEANING": "outside the overlap of the two dates, or no data at one of them",
    }
    for key, value in (extra or {}).items():
        tags[key] = value if isinstance(value, str) else json.dumps(value)
    return tags


def write_change_geotiff(path: str | Path, codes: np.ndarray, crs: CRS | None, transform,
                         class_names: Sequence[str], tags: dict | None = None) -> Path:
    """Write a from-to map as a uint8 GeoTIFF with a colour table and the nine pair names.

    Args:
        path: output file (written atomically, see :func:`urbanseg_core.util.atomic_write`).
        codes: ``(H, W)`` uint8 ``3 * before + after``, 255 nodata.
        crs, transform: georeference (BEFORE's grid).
        class_names: the three class names (index order).
        tags: extra tags (values that are not strings are stored as JSON).

    Returns:
        The path written.

    Raises:
        InputError: the folder is missing or not writable.
    """
    def write(tmp: Path) -> None:
        write_mask(tmp, codes, crs, transform, pair_names(class_names), PAIR_COLOURS, "index")
        with rasterio.open(tmp, "r+") as dst:
            dst.update_tags(**change_tags(class_names, tags))
            dst.set_band_description(1, "from_to")

    return atomic_write(path, write)


def change_geotiff_bytes(codes: np.ndarray, crs: CRS | None, transform,
                         class_names: Sequence[str], tags: dict | None = None) -> bytes:
    """The GeoTIFF of :func:`write_change_geotiff` as bytes (for download buttons)."""
    with tempfile.TemporaryDirectory(prefix="urbanseg-change-") as tmp:
        path = write_change_geotiff(Path(tmp) / "change.tif", codes, crs, transform,
                                    class_names, tags)
        return path.read_bytes()


def new_built_up_polygons(codes: np.ndarray, crs: CRS | None, transform,
                          class_names: Sequence[str], min_pixels: int = 4) -> dict:
    """GeoJSON FeatureCollection (EPSG:4326) of the areas that became built up (codes 1 and 2),
    traced by :func:`urbanseg_core.io.vectorize.class_polygons`; each feature's ``class`` is its
    from-to pair, e.g. ``"other -> residential"``."""
    return class_polygons(codes, crs, transform, pair_names(class_names),
                          include=NEW_BUILT_UP_CODES, min_pixels=min_pixels)


def json_bytes(payload: dict) -> bytes:
    """Indented UTF-8 JSON (NaN and infinities written as ``null``)."""
    return (json.dumps(json_safe(payload), indent=2, ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8")
