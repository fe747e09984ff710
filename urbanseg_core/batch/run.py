"""Run a batch on dask.distributed: plan, skip finished tiles, one task per tile, assemble.

::

    inputs (files, warped VRT if needed | AOI + Earth Engine: inputs.py) -> grid per input
      -> batch tiles (plan.py)
      -> verified finished tiles are skipped (store.py sidecars)
      -> one dask task per remaining tile (worker.run_tile: model cached per worker)
         on a LocalCluster (n processes x 1 thread) or any scheduler address (cluster.py)
      -> progress bar over distributed.as_completed
      -> per input: COG mosaic; for all: statistics CSV and a run manifest (mosaic.py)

A run is resumable: tiles are written atomically with a sidecar, so rerunning the same command
after a crash, an interruption or a killed worker only computes what is missing or damaged,
and yields the same files. The scheduler itself re-runs the tasks of a worker that dies
during a run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UrbansegError
from ..model.loading import default_model_path, load_model
from ..inference.predict import scene_tile_size
from .cluster import BatchError, connect_client, with_semaphore
from .inputs import BatchInput, prepare_input
from .mosaic import stats_rows, total_row, write_mosaic, write_stats_csv
from .plan import BatchTile, plan_batch
from .store import FORMAT, atomic_write, clean_stale_tmp, remove_other_tiles, verify_tile
from .worker import TileJob, run_tile

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch produced.

    Attributes:
        outdir: the output folder.
        mosaics: input name -> mosaic COG path.
        stats_csv: the statistics table.
        manifest: the run manifest (``batch.json``).
        rows: the statistics rows (as written to the CSV).
        tiles: number of tiles planned; computed, skipped: of which computed now / reused.
        seconds: wall time of the whole run; compute_seconds: from the first task submitted
            to the last result (0 when nothing was computed).
        computed_km2: area of the tiles computed now, km².
    """

    outdir: Path
    mosaics: dict[str, Path]
    stats_csv: Path
    manifest: Path
    rows: list[dict[str, Any]]
    tiles: int
    computed: int
    skipped: int
    seconds: float
    compute_seconds: float
    computed_km2: float


def _plan_jobs(inp: BatchInput, tiles: list[BatchTile], folder: Path, model_path: str,
               model_sha: str, tile_size: int, overlap: int, batch_size: int,
               torch_threads: int | None):
    """Split an input's tiles into reusable sidecar records and jobs to run."""
    grid = inp.grid
    done: dict[str, dict[str, Any]] = {}
    jobs: list[TileJob] = []
    for tile in tiles:
        identity = {
            "format": FORMAT, "tile": tile.name, "model_sha256": model_sha,
            "input": inp.fingerprint, "crs": grid.crs.to_string() if grid.crs else None,
            "bounds": [round(b, 6) for b in tile.bounds(grid)],
            "window": [tile.row, tile.col, tile.height, tile.width],
            "read_window": [tile.read_row, tile.read_col, tile.read_height, tile.read_width],
            "model_tile_size": tile_size, "model_overlap": overlap,
        }
        tif = folder / f"{tile.name}.tif"
        record = verify_tile(tif, tif.with_suffix(".json"), identity)
        if record is not None:
            done[tile.name] = record
        else:
            jobs.append(TileJob(tile, grid, inp.source, model_path, identity, str(tif),
                                batch_size, torch_threads))
    return done, jobs


def run_batch(
    inputs: Sequence[BatchInput],
    outdir: str | Path,
    model: str | Path | None = None,
    tile_km: float = 5.0,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    gee_concurrency: int = 4,
    batch_size: int = 4,
    retries: int = 1,
    progress: bool = True,
    on_tile_done: Callable[[dict[str, Any]], None] | None = None,
    torch_threads: int | None = None,
) -> BatchResult:
    """Segment whole regions tile by tile on dask.distributed (see module docstring).

    Args:
        inputs: from :func:`~.inputs.file_input` / :func:`~.inputs.aoi_input`.
        outdir: output folder (created); layout ``<input>/tiles/<tile>.tif|.json``,
            ``<input>/mosaic.tif``, ``stats.csv``, ``batch.json``.
        model: model card or weights (default: ``$URBANSEG_MODEL`` or the bundled model);
            every worker must be able to read this path.
        tile_km: batch tile side in km (rounded to whole model-tile strides, see
            :func:`~.plan.plan_batch`).
        workers: LocalCluster worker processes (1 thread each) when neither ``scheduler``
            nor ``client`` is given (default: the CPU count).
        scheduler: address of a running scheduler, e.g. ``tcp://HOST:8786``.
        client: an existing ``distributed.Client`` (not closed here).
        gee_concurrency: at most this many Earth Engine fetches at once, cluster-wide.
        batch_size: model tiles per forward pass on the workers.
        retries: times a failing task is retried before the tile is reported failed.
        progress: show a tqdm progress bar on stderr.
        on_tile_done: called on the client with each new sidecar record (tests, UIs).
        torch_threads: torch intra-op threads per task; default 1 on the LocalCluster made
            here (one thread per worker), unchanged on a given ``client`` or ``scheduler``.

    Returns:
        A :class:`BatchResult`.

    Raises:
        BatchError: tiles failed (finished ones are kept: rerun to complete) or the scheduler
            cannot be reached.
        ModelLoadError, InputError: the model or an input cannot be used.
    """
    started = time.perf_counter()
    if not inputs:
        raise BatchError("Give at least one input: files, --sample, or --aoi with --gee.")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model_path = str(Path(model or default_model_path()).resolve())
    loaded = load_model(model_path)
    card = loaded.card
    names = _unique_names([inp.name for inp in inputs])

    plans: list[tuple[BatchInput, str, list[BatchTile], Path]] = []
    layouts: list[dict[str, int]] = []
    for inp, name in zip(inputs, names):
        # the model tile size `urbanseg predict` would use on the whole raster, so that batch
        # tiles cut along its tile plan and the mosaic equals a single-process prediction
        model_tile = scene_tile_size(card, inp.grid.height, inp.grid.width)
        tiles, strides = plan_batch(inp.grid, tile_km, model_tile, card.overlap)
        layouts.append({"model_tile_size": model_tile, "batch_tile_strides": strides,
                        "batch_tile_px": strides * (model_tile - card.overlap)})
        folder = outdir / name / "tiles"
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_tmp(folder)
        remove_other_tiles(folder, {t.name for t in tiles})
        plans.append((prepare_input(inp, outdir / name), name, tiles, folder))

    own_client = client is None
    cluster = None
    records: dict[str, dict[str, dict[str, Any]]] = {}
    pending: list[TileJob] = []
    pending_names: list[str] = []

    for (inp, name, tiles, folder), layout in zip(plans, layouts):
        done, jobs = _plan_jobs(inp, tiles, folder, model_path, loaded.sha256,
                                layout["model_tile_size"], card.overlap, batch_size,
                                torch_threads)
        records[name] = done
        pending += jobs
        pending_names += [name] * len(jobs)
    n_tiles = sum(len(p[2]) for p in plans)
    skipped = n_tiles - len(pending)
    failures: list[str] = []
    compute_seconds = 0.0
    computed_km2 = 0.0
    if pending:
        if own_client:
            client, cluster, local_threads = connect_client(workers, scheduler)
            if torch_threads is None and local_threads:
                pending = [dataclasses.replace(j, torch_threads=local_threads) for j in pending]
        try:
            pending = with_semaphore(client, pending, gee_concurrency)
            compute_start = time.perf_counter()
            computed_km2, failures = _compute(client, pending, pending_names, records, n_tiles,
                                              skipped, retries, progress, on_tile_done)
            compute_seconds = time.perf_counter() - compute_start
            for _, _, _, folder in plans:  # temporary files of workers killed mid-write
                clean_stale_tmp(folder)
        finally:
            if own_client:
                client.close()
                if cluster is not None:
                    cluster.close()

    rows: list[dict[str, Any]] = []
    mosaics: dict[str, Path] = {}
    for inp, name, tiles, folder in plans:
        recs = records[name]
        if all(t.name in recs for t in tiles):
            mosaics[name] = write_mosaic(outdir / name / "mosaic.tif", inp.grid, tiles,
                                         [folder / f"{t.name}.tif" for t in tiles],
                                         card.class_names, card.class_colours)
            rows += stats_rows(name, tiles, [recs[t.name] for t in tiles], inp.grid,
                               card.class_names)
        else:  # incomplete: never leave a mosaic of an earlier run beside newer tiles
            (outdir / name / "mosaic.tif").unlink(missing_ok=True)
    stats_csv = outdir / "stats.csv"
    if rows and not failures:
        if len(plans) > 1:
            rows.append(total_row(rows, card.class_names))
        write_stats_csv(stats_csv, rows)
    else:
        stats_csv.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    manifest = _write_manifest(outdir, plans, names, layouts, loaded, tile_km, workers, scheduler,
                               n_tiles, len(pending), skipped, failures, seconds,
                               compute_seconds, computed_km2, rows)
    if failures:
        raise BatchError(
            f"{len(failures)} of {n_tiles} tiles failed; the {n_tiles - len(failures)} finished "
            f"tiles are kept in {outdir}. Rerun the same command to complete the rest. "
            f"First error: {failures[0]}"
        )
    return BatchResult(outdir, mosaics, stats_csv, manifest, rows, n_tiles, len(pending),
                       skipped, seconds, compute_seconds, computed_km2)


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def _compute(client, jobs: list[TileJob], names: list[str], records, total: int, skipped: int,
             retries: int, progress: bool, on_tile_done) -> tuple[float, list[str]]:
    """Submit one task per job and collect sidecar records as they complete."""
    from distributed import as_completed
    from tqdm import tqdm

    token = uuid.uuid4().hex[:8]
    futures = []
    by_key = {}
    for job, name in zip(jobs, names):
        fut = client.submit(run_tile, job, key=f"urbanseg-tile-{name}-{job.tile.name}-{token}",
                            retries=retries, pure=False)
        futures.append(fut)
        by_key[fut.key] = (name, job)
    failures: list[str] = []
    km2 = 0.0
    bar = tqdm(total=total, initial=skipped, desc="batch", unit="tile",
               disable=None if progress else True, leave=False)
    try:
        for fut in as_completed(futures):
            name, job = by_key[fut.key]
            if fut.status == "finished":
                record = fut.result()
                records[name][job.tile.name] = record
                km2 += record["valid_km2"] + record["nodata_km2"]
                if on_tile_done:
                    on_tile_done(record)
            else:  # "error" (the task raised, or KilledWorker) or "cancelled"
                exc = fut.exception() if fut.status == "error" else None
                if isinstance(exc, UrbansegError):
                    msg = str(exc)
                elif exc is not None:
                    msg = f"{type(exc).__name__}: {exc}"
                else:
                    msg = f"the task was {fut.status} by the scheduler"
                failures.append(f"tile {job.tile.name} of {name}: {msg}")
                log.warning("tile %s of %s failed: %s", job.tile.name, name, msg)
            bar.update(1)
    except BaseException:
        client.cancel(futures)  # interrupted: drop queued tiles; a rerun resumes
        raise
    finally:
        bar.close()
    return km2, failures


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    """A statistics row with its numeric fields as numbers (``None`` where empty), for JSON."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("input", "tile"):
            out[key] = value
        else:
            out[key] = float(value) if value not in ("", None) else None
    return out


def _write_manifest(outdir: Path, plans, names, layouts, loaded, tile_km, workers, scheduler,
                    n_tiles, computed, skipped, failures, seconds, compute_seconds,
                    computed_km2, rows) -> Path:
    from ..evaluation.manifest import build_manifest, manifest_bytes

    card = loaded.card
    manifest = build_manifest(
        source={"kind": "batch", "inputs": [
            dict(inp.description, name=name, crs=inp.grid.crs.to_string() if inp.grid.crs else None,
                 shape_px=[inp.grid.height, inp.grid.width], bounds=list(inp.grid.bounds),
                 tiles=len(tiles), **layout)
            for (inp, _, tiles, _), name, layout in zip(plans, names, layouts)]},
        model={"name": card.name, "version": card.version, "sha256": loaded.sha256,
               "weights": str(loaded.path)},
        parameters={"tile_km_requested": tile_km, "margin_px": card.overlap // 2,
                    "model_overlap": card.overlap, "workers": workers, "scheduler": scheduler},
        results={"tiles": n_tiles, "computed": computed - len(failures), "reused": skipped,
                 "failed": failures, "seconds": round(seconds, 3),
                 "compute_seconds": round(compute_seconds, 3),
                 "computed_km2": round(computed_km2, 4),
                 "km2_per_second": round(computed_km2 / compute_seconds, 4) if compute_seconds else None,
                 "totals": [_numbers(r) for r in rows if r["tile"] == "TOTAL"]},
    )
    path = outdir / "batch.json"
    data = manifest_bytes(manifest)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path
