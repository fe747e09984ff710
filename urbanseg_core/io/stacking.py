"""Stack single-band Sentinel-2 files (10, 20, 60 m, any CRS) onto one 10 m grid.

Sentinel-2 products and datasets such as OSCD ship one file per band on the band's native
grid. The model needs all 11 bands on one grid; this resamples each band with
:func:`rasterio.warp.reproject` (nearest neighbour by default, as Earth Engine and the original
project did) onto the grid of a reference band, or onto a UTM grid of the requested resolution
when the files are in a geographic CRS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ..errors import InputError
from ..sentinel2 import MODEL_BANDS
from ..util import atomic_write
from .grid import target_grid


def stack_bands(
    band_paths: Mapping[str, str | Path],
    bands: tuple[str, ...] = MODEL_BANDS,
    reference: str = "B2",
    resolution: float = 10.0,
    resampling: Resampling = Resampling.nearest,
    substitute: Mapping[str, str] | None = None,
):
    """Resample single-band files onto one grid and stack them.

    Args:
        band_paths: band name (``"B2"``...) -> file path.
        bands: the bands to stack, in order.
        reference: the band whose footprint (and grid, if projected at ``resolution``)
            defines the output (:func:`~urbanseg_core.io.grid.target_grid`).
        resolution: output pixel size in metres.
        resampling: rasterio resampling method.
        substitute: band -> band to use in its place when missing (e.g. ``{"B8": "B8A"}``).

    Returns:
        ``(data, crs, transform)``: ``(len(bands), H, W)`` array of the files' dtype (DN),
        0 where no source pixel falls.

    Raises:
        InputError: a band file is missing.
    """
    substitute = dict(substitute or {})
    grid = target_grid(band_paths[reference], resolution)
    crs, transform, height, width = grid.crs, grid.transform, grid.height, grid.width
    dtype = None
    out = None
    for i, band in enumerate(bands):
        name = band if band in band_paths else substitute.get(band)
        if name not in band_paths:
            raise InputError(f"No file for band {band}; have {sorted(band_paths)}.")
        with rasterio.open(band_paths[name]) as src:
            if out is None:
                dtype = src.dtypes[0]
                out = np.zeros((len(bands), height, width), dtype=dtype)
            reproject(
                source=rasterio.band(src, 1), destination=out[i],
                dst_transform=transform, dst_crs=crs, resampling=resampling,
                src_nodata=src.nodata if src.nodata is not None else 0, dst_nodata=0,
            )
    return out, crs, transform


def write_stack(path: str | Path, data: np.ndarray, crs, transform,
                bands: tuple[str, ...] = MODEL_BANDS, tags: Mapping[str, str] | None = None) -> Path:
    """Write a ``(C, H, W)`` band stack as a deflate GeoTIFF with band descriptions.

    DN 0 is declared nodata (the Sentinel-2 fill value). Written under a temporary name and
    renamed when complete (:func:`~urbanseg_core.util.atomic_write`).
    """
    count, height, width = data.shape
    profile = dict(driver="GTiff", height=height, width=width, count=count, dtype=data.dtype,
                   crs=crs, transform=transform, nodata=0, compress="deflate", predictor=2,
                   tiled=True, blockxsize=256, blockysize=256, interleave="pixel")
    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for i, b in enumerate(bands, start=1):
                dst.set_band_description(i, b)
            if tags:
                dst.update_tags(**tags)

    return atomic_write(path, write)
