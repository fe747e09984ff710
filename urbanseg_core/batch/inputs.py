"""Batch inputs: a raster file or an AOI fetched from Earth Engine, each with its grid and a
fingerprint that ties finished tiles to the exact input they were made from.

A file's fingerprint is the sha256 of its bytes plus the reading options (band order, DN
offset); an AOI's is its geometry, the composite options, the resolution and the fetch
function's name. Tiles whose sidecar holds another fingerprint are recomputed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..io.grid import Grid, target_grid
from ..io.regrid import INPUT_RESAMPLING, regrid_reason
from ..util import json_digest, safe_name, sha256_file
from .sources import (FileSpec, GeeSpec, ensure_connected, grid_from_aoi, grid_from_file,
                      read_aoi, write_warped_vrt)


@dataclass
class BatchInput:
    """One input of a batch: its grid, where its pixels come from and a fingerprint.

    Attributes:
        name: label, used for the output folder and the statistics table.
        grid: the pixel grid to tile.
        source: :class:`~.sources.FileSpec` or :class:`~.sources.GeeSpec`.
        fingerprint: hex sha256 identifying the input's content and reading options; tiles
            of another fingerprint are never reused.
        description: JSON-ready facts for the run manifest.
        warp: the file must be read through a warped VRT that :func:`prepare_input` writes
            into the output folder (the workers must be able to read it).
    """

    name: str
    grid: Grid
    source: FileSpec | GeeSpec
    fingerprint: str
    description: dict[str, Any] = field(default_factory=dict)
    warp: bool = False


def file_input(path: str | Path, band_order: Sequence[str] | None = None,
               dn_offset: float = 0.0, name: str | None = None,
               resolution: float = 10.0) -> BatchInput:
    """A raster file as a batch input (reads its header and hashes its bytes once).

    Args:
        path: GeoTIFF/COG/VRT readable by every worker.
        band_order, dn_offset: as for :class:`~urbanseg_core.io.scene.BandFile`.
        name: label (default: the file's stem).
        resolution: the model's pixel size, metres (card ``pixel_size_m``).

    A file in a geographic CRS or with pixels far from ``resolution`` (see
    :func:`urbanseg_core.io.regrid.regrid_reason`) is tiled on a north-up UTM grid of
    ``resolution`` metres (:func:`urbanseg_core.io.grid.target_grid`) and read through a warped
    VRT (nearest neighbour, as :func:`urbanseg_core.io.regrid.to_model_grid`); the mosaic is on
    that grid.

    Raises:
        InputError: the file cannot be used.
        BandOrderError: the model's bands cannot be found in the file.
    """
    path = Path(path).resolve()
    spec = FileSpec(str(path), tuple(band_order) if band_order else None, float(dn_offset))
    grid = grid_from_file(spec)
    file_sha = sha256_file(path)
    description = {"kind": "file", "path": str(path), "sha256": file_sha,
                   "band_order": spec.band_order, "dn_offset": spec.dn_offset}
    warp = None
    reason = regrid_reason(grid.crs, grid.transform, resolution)
    if reason:
        grid = target_grid(path, resolution)
        warp = {"crs": grid.crs.to_string(), "transform": list(grid.transform)[:6],
                "shape": [grid.height, grid.width], "resampling": INPUT_RESAMPLING.name}
        description["warped"] = dict(warp, reason=reason)
    fingerprint = json_digest({"sha256": file_sha, "band_order": spec.band_order,
                           "dn_offset": spec.dn_offset, "warp": warp})
    return BatchInput(safe_name(name or path.stem, default="input"), grid, spec, fingerprint,
                      description,
                      warp=warp is not None)


def prepare_input(inp: BatchInput, folder: Path) -> BatchInput:
    """Make an input readable by the workers before its tiles are planned.

    A file that must be warped (:attr:`BatchInput.warp`) gets a GDAL warped VRT in ``folder``
    (:func:`~.sources.write_warped_vrt`); its tiles then read the file through it. Other
    inputs are returned as they are.
    """
    if not inp.warp or not isinstance(inp.source, FileSpec):
        return inp
    vrt = write_warped_vrt(Path(inp.source.path), inp.grid, folder / "input_warped.vrt")
    return dataclasses.replace(inp, source=dataclasses.replace(inp.source, path=str(vrt)),
                               warp=False)


def aoi_input(aoi_path: str | Path, fetch: Callable | None = None,
              options: dict[str, Any] | None = None, resolution: float = 10.0,
              name: str | None = None) -> BatchInput:
    """An AOI whose composite each task fetches from Earth Engine (or ``fetch``).

    Args:
        aoi_path: GeoJSON polygon(s) in EPSG:4326.
        fetch: ``fetch(bounds, crs, resolution, aoi=..., **options) -> Scene``; ``None`` =
            :func:`~.sources.gee_fetch` (Earth Engine). Inject a fake to run offline.
        options: more keyword arguments for ``fetch`` (``start``, ``end``,
            ``cloud_threshold``, ``reducer``).
        resolution: pixel size in metres of the UTM grid.
        name: label (default: the file's stem).

    Raises:
        InputError: the AOI cannot be read or is not a valid polygon.
        EarthEngineError: ``fetch`` is the default and Earth Engine is not connected here.
    """
    aoi = read_aoi(aoi_path)
    grid = grid_from_aoi(aoi, resolution)
    if fetch is None:
        ensure_connected()  # fail before any worker starts when this machine cannot connect
    options = dict(options or {})
    options["aoi"] = aoi.to_geojson()
    spec = GeeSpec(fetch=fetch, options=options, resolution=resolution)
    fetch_name = f"{fetch.__module__}.{fetch.__qualname__}" if fetch else "urbanseg_core.gee"
    fingerprint = json_digest({"aoi": aoi.key,
                               "options": {k: v for k, v in options.items() if k != "aoi"},
                           "resolution": resolution, "fetch": fetch_name})
    return BatchInput(safe_name(name or Path(aoi_path).stem, default="input"), grid, spec,
                      fingerprint,
                      {"kind": "earth-engine", "aoi": str(aoi_path),
                       "aoi_area_km2": round(aoi.area_km2, 3),
                       "options": {k: v for k, v in options.items() if k != "aoi"},
                       "resolution_m": resolution, "fetch": fetch_name})
