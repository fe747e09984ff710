"""One batch task: read a tile (core + margins), predict, keep the core, write it atomically.

Runs inside a dask worker (a process, or a thread of the in-process local cluster). The model
is loaded once per process and cached by ``(path, sha256, threads)``, and so is each input's
opened file, so consecutive tiles on a worker only read pixels, run the network and write the
result. Pixels are read model tile by model tile (see :mod:`.sources`), so memory
stays bounded whatever ``--tile-km`` is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..evaluation.areas import class_areas
from ..inference.predict import predict_source
from ..io.grid import Grid
from ..io.outputs import write_mask
from ..model.loading import LoadedModel, load_model
from ..util import sha256_file
from .plan import BatchTile
from .sources import FileSpec, GeeSpec, open_tile_source
from .store import atomic_write, write_sidecar

_MODELS: dict[tuple[str, str, int | None], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class TileJob:
    """Everything a worker needs for one tile (picklable, sent to the worker).

    Attributes:
        tile: the batch tile.
        grid: the grid it belongs to.
        source: where to read pixels.
        model_path: model card or weights path, readable on the worker.
        identity: the sidecar identity of this tile (see :mod:`.store`).
        tif: output GeoTIFF path; the sidecar is ``tif`` with suffix ``.json``.
        batch_size: model tiles per forward pass (``None``: as ``urbanseg predict``).
        threads: intra-op threads of the model's engine on the worker (``None``: the
            engine's default, ``$OMP_NUM_THREADS`` in dask workers).
        haze: ``(11,)`` haze of the whole input for cards that remove it
            (:func:`~.sources.input_haze`), ``None`` to estimate it from the tile.
    """

    tile: BatchTile
    grid: Grid
    source: FileSpec | GeeSpec
    model_path: str
    identity: dict[str, Any]
    tif: str
    batch_size: int | None = None
    threads: int | None = None
    haze: tuple[float, ...] | None = None


def worker_model(path: str, sha256: str, threads: int | None = None) -> LoadedModel:
    """The model for this worker process, loaded on first use.

    Raises:
        ModelLoadError: the model cannot be loaded, or its weights are not the ones the run
            was planned with (``sha256`` differs).
    """
    key = (path, sha256, threads)
    with _MODELS_LOCK:  # threads of one worker share the model: load it once
        loaded = _MODELS.get(key)
        if loaded is None:
            loaded = load_model(path, threads=threads)
            if loaded.sha256 != sha256:
                raise ModelLoadError(
                    f"The weights at {path} changed since the batch started (sha256 "
                    f"{loaded.sha256[:12]}... instead of {sha256[:12]}...). Give every worker "
                    "the same model file and rerun."
                )
            _MODELS[key] = loaded
    return loaded


def run_tile(job: TileJob) -> dict[str, Any]:
    """Predict one batch tile and write ``<tile>.tif`` and its ``<tile>.json`` sidecar.

    Returns:
        The sidecar record: identity, ``sha256`` of the GeoTIFF, class pixels and km², and
        ``seconds`` of prediction.

    Raises:
        InputError, BandOrderError, EarthEngineError, ModelLoadError: the tile cannot be made
            (plain-language message; the run reports it and a rerun retries the tile).
    """
    loaded = worker_model(job.model_path, job.identity["model_sha256"], job.threads)
    card = loaded.card
    tile, grid = job.tile, job.grid
    start = time.perf_counter()
    source = open_tile_source(job.source, grid, tile)
    classes = predict_source(source, loaded, tile_size=job.identity["model_tile_size"],
                             overlap=job.identity["model_overlap"], batch_size=job.batch_size,
                             haze=None if job.haze is None else np.asarray(job.haze, "float32"))
    r0, c0 = tile.row - tile.read_row, tile.col - tile.read_col
    core = classes[r0:r0 + tile.height, c0:c0 + tile.width]
    seconds = time.perf_counter() - start
    transform = tile.transform(grid)
    tif = Path(job.tif)
    atomic_write(tif, lambda tmp: write_mask(tmp, core, grid.crs, transform,
                                             card.class_names, card.class_colours))
    stats = class_areas(core, grid.crs, transform, card.class_names)
    record = dict(job.identity)
    record.update(
        sha256=sha256_file(tif),
        pixels={c.name: c.pixels for c in stats.classes},
        area_km2={c.name: c.area_km2 for c in stats.classes},
        valid_km2=stats.valid_km2,
        nodata_km2=stats.nodata_km2,
        seconds=round(seconds, 3),
    )
    write_sidecar(tif.with_suffix(".json"), record)
    return record
