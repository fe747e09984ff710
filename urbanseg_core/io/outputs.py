"""Writing class maps: GeoTIFF (index or ESM codes), GeoJSON polygons, PNG overlays.

Index codes (default): 0 other, 1 non-residential, 2 residential, **255 nodata**.
ESM codes (``codes="esm"``): 1 other, 250 non-residential, 255 residential, **0 nodata**, as
the European Settlement Map. The original project wrote index codes with ``nodata=0``, so class
0 "other" read as nodata; here the nodata value is never a class value.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import rasterio
from PIL import Image
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from ..errors import InputError
from ..sentinel2 import ESM_CODES, ESM_NODATA, NODATA
from ..util import hex_to_rgb

Codes = Literal["index", "esm"]

#: The nodata value of each code convention.
NODATA_VALUE = {"index": NODATA, "esm": ESM_NODATA}


def encode(classes: np.ndarray, codes: Codes = "index") -> np.ndarray:
    """Map an index class map (255 nodata) to the requested code convention (uint8)."""
    if codes == "index":
        return classes.astype("uint8", copy=False)
    if codes == "esm":
        lut = np.zeros(256, dtype="uint8")
        for idx, code in ESM_CODES.items():
            lut[idx] = code
        lut[NODATA] = ESM_NODATA
        return lut[classes]
    raise ValueError(f"codes must be 'index' or 'esm', got {codes!r}")


#: Band 2 of a mask GeoTIFF written with a confidence layer.
CONFIDENCE_DESCRIPTION = ("split confidence, % (residential vs non-residential, built-up pixels "
                          "only; 255 elsewhere)")


def mask_profile(classes: np.ndarray, crs: CRS | None, transform, codes: Codes = "index",
                 count: int = 1) -> dict:
    """Rasterio profile of a class-map GeoTIFF: uint8, tiled, deflate, the convention's nodata;
    ``count`` 2 when the split confidence is band 2."""
    height, width = classes.shape
    profile = {
        "driver": "GTiff", "height": height, "width": width, "count": count, "dtype": "uint8",
        "crs": crs, "transform": transform, "nodata": NODATA_VALUE[codes],
        "compress": "deflate", "predictor": 2,
    }
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def describe_class_band(dst, class_names: Sequence[str], colours: Sequence[str],
                        codes: Codes = "index", software: str = "urbanseg") -> None:
    """Give band 1 of an open class-map GeoTIFF its colour table (nodata transparent), the
    tags ``CODES``, ``CLASSES`` (value -> name), ``NODATA_MEANING``, ``SOFTWARE`` and the
    description ``class``."""
    values = [ESM_CODES[i] if codes == "esm" else i for i in range(len(class_names))]
    cmap = {v: (*hex_to_rgb(col), 255) for v, col in zip(values, colours)}
    cmap[NODATA_VALUE[codes]] = (0, 0, 0, 0)
    dst.write_colormap(1, cmap)
    dst.update_tags(
        CODES=codes,
        CLASSES=json.dumps({str(v): n for v, n in zip(values, class_names)}),
        NODATA_MEANING="no input data",
        SOFTWARE=software,
    )
    dst.set_band_description(1, "class")


def _write(dst, classes: np.ndarray, class_names: Sequence[str], colours: Sequence[str],
           codes: Codes, confidence: np.ndarray | None = None) -> None:
    dst.write(encode(classes, codes), 1)
    describe_class_band(dst, class_names, colours, codes)
    if confidence is not None:
        conf = confidence.astype("uint8", copy=True)
        if codes == "esm":  # one nodata value for the whole file: the convention's
            conf[confidence == 0] = 1  # 0 % -> 1 %: 0 is ESM's nodata
            conf[confidence == NODATA] = ESM_NODATA
        dst.write(conf, 2)
        dst.set_band_description(2, CONFIDENCE_DESCRIPTION)
        dst.update_tags(2, UNITS="percent", MEANING="|p_res - p_nonres| / (p_res + p_nonres)")


def write_mask(path: str | Path, classes: np.ndarray, crs: CRS | None, transform,
               class_names: Sequence[str], colours: Sequence[str],
               codes: Codes = "index", confidence: np.ndarray | None = None) -> Path:
    """Write an ``(H, W)`` uint8 class map as a georeferenced GeoTIFF with a colour table.

    Args:
        path: output file; its folder must exist and be writable.
        classes: ``(H, W)`` uint8 index class map (255 nodata).
        crs, transform: georeference of the input (``crs`` may be ``None``).
        class_names, colours: in index order (from the model card).
        codes: ``"index"`` or ``"esm"`` (see module docstring).
        confidence: optional ``(H, W)`` uint8 split confidence (0-100 %, 255 none), written
            as band 2 (:data:`CONFIDENCE_DESCRIPTION`; with ESM codes 0 is its nodata and a
            0 % pixel is written as 1 %).

    Returns:
        The path written.

    Raises:
        InputError: the folder is missing or not writable.
    """
    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"The output folder {path.parent} does not exist. Create it first.")
    try:
        profile = mask_profile(classes, crs, transform, codes, 1 if confidence is None else 2)
        with rasterio.open(path, "w", **profile) as dst:
            _write(dst, classes, class_names, colours, codes, confidence)
    except (rasterio.errors.RasterioIOError, PermissionError, OSError) as exc:
        raise InputError(f"Cannot write {path}: {exc}. Choose a writable location.") from exc
    return path


def mask_bytes(classes: np.ndarray, crs: CRS | None, transform, class_names: Sequence[str],
               colours: Sequence[str], codes: Codes = "index",
               confidence: np.ndarray | None = None) -> bytes:
    """The GeoTIFF of :func:`write_mask` as bytes (for download buttons)."""
    with MemoryFile() as mem:
        profile = mask_profile(classes, crs, transform, codes, 1 if confidence is None else 2)
        with mem.open(**profile) as dst:
            _write(dst, classes, class_names, colours, codes, confidence)
        return mem.read()


def overlay_rgba(classes: np.ndarray, colours: Sequence[str], opacity: float = 0.7,
                 show_other: bool = False) -> np.ndarray:
    """An ``(H, W, 4)`` uint8 RGBA image of a class map for map overlays.

    Class 0 ("other") and nodata are transparent unless ``show_other``.
    """
    lut = np.zeros((256, 4), dtype="uint8")
    for i, col in enumerate(colours):
        r, g, b = hex_to_rgb(col)
        alpha = 0 if (i == 0 and not show_other) else int(round(255 * opacity))
        lut[i] = (r, g, b, alpha)
    return lut[classes]


def png_bytes(rgba: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3|4)`` uint8 array as PNG."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return buf.getvalue()
