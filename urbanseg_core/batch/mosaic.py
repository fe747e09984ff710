"""Assemble finished tiles: a Cloud-Optimized GeoTIFF mosaic and the statistics table.

The mosaic is written tile by tile into a tiled GeoTIFF (windowed writes: memory stays at one
tile; fast deflate level 1, as it is temporary) and then copied to a COG with nearest-neighbour
overviews by GDAL's COG driver (compressing on every core), under a temporary name moved into
place at the end. The statistics table sums the per-tile class
areas recorded in the sidecars (km², geodesic for geographic CRSs), so it needs no pixel reads.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rasterio
import rasterio.shutil

from ..io.grid import Grid
from ..io.outputs import NODATA_VALUE, describe_class_band
from .plan import BatchTile
from .store import atomic_write, tmp_path


def write_mosaic(path: Path, grid: Grid, tiles: Sequence[BatchTile], tile_paths: Sequence[Path],
                 class_names: Sequence[str], colours: Sequence[str]) -> Path:
    """Write the tiles' class maps into one COG covering ``grid``.

    Args:
        path: output ``.tif`` (Cloud-Optimized GeoTIFF, deflate, 512 px blocks, overviews).
        grid: the full grid; tiles' cores partition it.
        tiles, tile_paths: each tile and its finished GeoTIFF.
        class_names, colours: in class-index order (colour table, tags).

    Returns:
        ``path``.
    """
    profile = {
        "driver": "GTiff", "height": grid.height, "width": grid.width, "count": 1,
        "dtype": "uint8", "crs": grid.crs, "transform": grid.transform,
        "nodata": NODATA_VALUE["index"], "compress": "deflate", "zlevel": 1, "tiled": True,
        "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER",
    }
    staging = tmp_path(path.with_suffix(".staging.tif"))
    try:
        with rasterio.open(staging, "w", **profile) as dst:
            for tile, tif in zip(tiles, tile_paths):
                with rasterio.open(tif) as src:
                    dst.write(src.read(1), 1, window=tile.window)
            describe_class_band(dst, class_names, colours, "index", "urbanseg batch")
        atomic_write(path, lambda tmp: rasterio.shutil.copy(
            staging, tmp, driver="COG", compress="DEFLATE", blocksize=512,
            overview_resampling="nearest", bigtiff="IF_SAFER", num_threads="ALL_CPUS"))
    finally:
        staging.unlink(missing_ok=True)
    return path


def stats_rows(input_name: str, tiles: Sequence[BatchTile], records: Sequence[dict[str, Any]],
               grid: Grid, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per-tile rows plus one ``TOTAL`` row for an input.

    Args:
        input_name: the input's label (first column).
        tiles, records: each tile and its sidecar record (``area_km2`` per class,
            ``valid_km2``, ``nodata_km2``).
        grid: the grid (bounds of the total row).
        class_names: class names in index order.

    Returns:
        Rows with ``input, tile, left, bottom, right, top, valid_km2, nodata_km2``, then
        ``<class>_km2`` and ``<class>_share`` (0-1 of the valid area) per class, and
        ``built_up_share`` (all classes but the first).
    """
    rows = []
    totals = np.zeros(len(class_names))
    valid_total = nodata_total = 0.0
    for tile, rec in zip(tiles, records):
        areas = np.array([rec["area_km2"][n] for n in class_names], dtype="float64")
        totals += areas
        valid_total += rec["valid_km2"]
        nodata_total += rec["nodata_km2"]
        rows.append(_row(input_name, tile.name, tile.bounds(grid), areas, rec["valid_km2"],
                         rec["nodata_km2"], class_names))
    rows.append(_row(input_name, "TOTAL", grid.bounds, totals, valid_total, nodata_total,
                     class_names))
    return rows


def total_row(rows: Sequence[dict[str, Any]], class_names: Sequence[str]) -> dict[str, Any]:
    """The ``ALL`` row summing the ``TOTAL`` rows of several inputs (no bounds)."""
    totals = [r for r in rows if r["tile"] == "TOTAL"]
    areas = np.array([sum(float(r[f"{n}_km2"]) for r in totals) for n in class_names])
    valid = sum(float(r["valid_km2"]) for r in totals)
    nodata = sum(float(r["nodata_km2"]) for r in totals)
    return _row("ALL", "TOTAL", (math.nan,) * 4, areas, valid, nodata, class_names)


def _row(input_name: str, tile: str, bounds, areas: np.ndarray, valid: float, nodata: float,
         class_names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"input": input_name, "tile": tile}
    for key, value in zip(("left", "bottom", "right", "top"), bounds):
        row[key] = "" if math.isnan(value) else f"{value:.6f}"
    row["valid_km2"] = f"{valid:.6f}"
    row["nodata_km2"] = f"{nodata:.6f}"
    for name, area in zip(class_names, areas):
        row[f"{name}_km2"] = f"{area:.6f}"
    for name, area in zip(class_names, areas):
        row[f"{name}_share"] = f"{area / valid:.6f}" if valid else ""
    row["built_up_share"] = f"{areas[1:].sum() / valid:.6f}" if valid else ""
    return row


def write_stats_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write the statistics table as CSV (comma-separated, header row), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buf.getvalue()
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
