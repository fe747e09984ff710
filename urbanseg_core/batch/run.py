"""Run a batch on dask.distributed: plan, skip finished tiles, one task per tile, assemble.

::

    inputs (files, warped VRT if needed | AOI + Earth Engine: inputs.py) -> grid per input
      -> batch tiles (plan.py)
      -> verified finished tiles are skipped (store.py sidecars)
      -> one dask task per remaining tile (worker.run_tile: model cached per worker)
         on a LocalCluster (threads of this process, cluster.py) or any scheduler address;
         the model engine gets the cluster's threads shared out over the tiles
         (engine_threads); a single remaining tile runs here, without a cluster
      -> progress bar over the tiles as they complete
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from ..errors import BatchError, UrbansegError
from ..evaluation.manifest import build_manifest, manifest_bytes, model_record
from ..inference.predict import default_overlap, scene_tile_size
from ..io.grid import pixel_size_m
from ..lazy import lazy_import
from ..model.card import ModelCard
from ..model.loading import LoadedModel, default_model_path, load_model
from .cluster import connect_client, with_semaphore
from .inputs import BatchInput, prepare_input
from .mosaic import stats_rows, total_row, write_mosaic, write_stats_csv
from .plan import BatchTile, plan_batch
from .sources import input_haze
from .store import FORMAT, atomic_write, clean_stale_tmp, remove_other_tiles, verify_tile
from .worker import TileJob, run_tile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs (the keyword arguments of :func:`run_batch`).

    Attributes:
        tile_km: batch tile side in km (rounded to whole model-tile strides, see
            :func:`~.plan.plan_batch`).
        workers: LocalCluster worker processes (1 thread each) when neither ``scheduler``
            nor a client is given (default: the CPU count).
        scheduler: address of a running scheduler, e.g. ``tcp://HOST:8786``.
        gee_concurrency: at most this many Earth Engine fetches at once, cluster-wide.
        batch_size: model tiles per forward pass on the workers (default: as ``urbanseg
            predict``, about 0.5 M pixels).
        retries: times a failing task is retried before the tile is reported failed.
        progress: show a tqdm progress bar on stderr.
        threads: the model engine's intra-op threads per worker; default 1 on the
            LocalCluster made here (one thread per worker), else ``$OMP_NUM_THREADS`` of the
            workers (dask sets 1), or one per core.
    """

    tile_km: float = 5.0
    workers: int | None = None
    scheduler: str | None = None
    gee_concurrency: int = 4
    batch_size: int | None = None
    retries: int = 1
    progress: bool = True
    threads: int | None = None


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
        tile_km: input name -> side of its batch tiles, km (the requested ``tile_km``
            rounded to whole model-tile strides, at least one; a raster smaller than that is
            one tile).
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
    tile_km: dict[str, float] = field(default_factory=dict)


@dataclass
class InputPlan:
    """One input's part of a run: its tiles, where they go, and which are already done.

    Attributes:
        inp: the input (prepared: a warped VRT when it must be warped).
        name: unique label (output folder, statistics).
        tiles: its batch tiles.
        folder: ``OUTDIR/<name>/tiles``.
        layout: model tile size and batch tile length (for the manifest).
        records: tile name -> sidecar record of finished tiles.
        haze: the whole input's haze for cards that remove it (:func:`~.sources.input_haze`).
    """

    inp: BatchInput
    name: str
    tiles: list[BatchTile]
    folder: Path
    layout: dict[str, int]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    haze: tuple[float, ...] | None = None


@dataclass
class Outcome:
    """What computing the pending tiles gave: failures and timings."""

    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    km2: float = 0.0


def _plan_inputs(inputs: Sequence[BatchInput], outdir: Path, card: ModelCard,
                 tile_km: float) -> list[InputPlan]:
    """Tile each input along the model's tile plan and clear stale files from its folder."""
    plans = []
    for inp, name in zip(inputs, _unique_names([inp.name for inp in inputs])):
        # the model tile size `predict` would use on the whole raster, so that batch tiles
        # cut along its tile plan and the mosaic equals a single-process prediction
        model_tile = scene_tile_size(card, inp.grid.height, inp.grid.width)
        tiles, strides = plan_batch(inp.grid, tile_km, model_tile, default_overlap(card))
        layout = {"model_tile_size": model_tile, "batch_tile_strides": strides,
                  "batch_tile_px": strides * (model_tile - default_overlap(card))}
        folder = outdir / name / "tiles"
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_tmp(folder)
        remove_other_tiles(folder, {t.name for t in tiles})
        inp = prepare_input(inp, outdir / name)
        plans.append(InputPlan(inp, name, tiles, folder, layout,
                               haze=input_haze(inp.source, card.normalisation)))
    return plans


def _tile_identity(plan: InputPlan, tile: BatchTile, model_sha: str, overlap: int) -> dict:
    """The sidecar values that tie a finished tile to this run (see :mod:`.store`)."""
    grid = plan.inp.grid
    return {
        "format": FORMAT, "tile": tile.name, "model_sha256": model_sha,
        "input": plan.inp.fingerprint, "crs": grid.crs.to_string() if grid.crs else None,
        "bounds": [round(b, 6) for b in tile.bounds(grid)],
        "window": [tile.row, tile.col, tile.height, tile.width],
        "read_window": [tile.read_row, tile.read_col, tile.read_height, tile.read_width],
        "model_tile_size": plan.layout["model_tile_size"], "model_overlap": overlap,
    }


def _jobs(plan: InputPlan, model_path: str, loaded: LoadedModel,
          settings: BatchSettings) -> list[TileJob]:
    """The jobs of an input's unfinished tiles; finished ones go to ``plan.records``."""
    jobs = []
    for tile in plan.tiles:
        identity = _tile_identity(plan, tile, loaded.sha256, default_overlap(loaded.card))
        tif = plan.folder / f"{tile.name}.tif"
        record = verify_tile(tif, tif.with_suffix(".json"), identity)
        if record is not None:
            plan.records[tile.name] = record
        else:
            jobs.append(TileJob(tile, plan.inp.grid, plan.inp.source, model_path, identity,
                                str(tif), settings.batch_size, settings.threads, plan.haze))
    return jobs


def run_batch(inputs: Sequence[BatchInput], outdir: str | Path,
              model: str | Path | None = None, client=None,
              on_tile_done: Callable[[dict[str, Any]], None] | None = None,
              **settings) -> BatchResult:
    """Segment whole regions tile by tile on dask.distributed (see module docstring).

    Args:
        inputs: from :func:`~.inputs.file_input` / :func:`~.inputs.aoi_input`.
        outdir: output folder (created); layout ``<input>/tiles/<tile>.tif|.json``,
            ``<input>/mosaic.tif``, ``stats.csv``, ``batch.json``.
        model: model card or weights (default: ``$URBANSEG_MODEL`` or the bundled model);
            every worker must be able to read this path.
        client: an existing ``distributed.Client`` (not closed here).
        on_tile_done: called on the client with each new sidecar record (tests, UIs).
        **settings: the fields of :class:`BatchSettings` (``tile_km``, ``workers``,
            ``scheduler``, ``gee_concurrency``, ``batch_size``, ``retries``, ``progress``,
            ``threads``).

    Returns:
        A :class:`BatchResult`.

    Raises:
        BatchError: no input, tiles failed (finished ones are kept: rerun to complete), or
            the scheduler cannot be reached.
        ModelLoadError, InputError: the model or an input cannot be used.
    """
    started = time.perf_counter()
    settings = BatchSettings(**settings)
    if not inputs:
        raise BatchError("A batch needs at least one input (a raster file, a band folder or "
                         "an AOI fetched from Earth Engine).")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model_path = str(Path(model or default_model_path()).resolve())
    loaded = load_model(model_path)
    plans = _plan_inputs(inputs, outdir, loaded.card, settings.tile_km)
    pending = [(plan, job) for plan in plans for job in _jobs(plan, model_path, loaded, settings)]
    n_tiles = sum(len(p.tiles) for p in plans)
    outcome = _compute_pending(client, pending, plans, n_tiles, settings, on_tile_done)
    rows, mosaics = _assemble(outdir, plans, loaded.card)
    stats_csv = _write_stats(outdir, rows, len(plans), loaded.card, outcome.failures)
    seconds = time.perf_counter() - started
    tile_km = {p.name: p.layout["batch_tile_px"] * pixel_size_m(
        p.inp.grid.crs, p.inp.grid.transform, p.inp.grid.bounds) / 1000 for p in plans}
    result = BatchResult(outdir, mosaics, stats_csv, outdir / "batch.json", rows, n_tiles,
                         len(pending), n_tiles - len(pending), seconds, outcome.seconds,
                         outcome.km2, tile_km)
    _write_manifest(result, plans, loaded, settings, outcome.failures)
    if outcome.failures:
        raise BatchError(
            f"{len(outcome.failures)} of {n_tiles} tiles failed; the "
            f"{n_tiles - len(outcome.failures)} finished tiles are kept in {outdir}.",
            f"Rerun the same command to complete the rest. First error: "
            f"{outcome.failures[0]}")
    return result


def _compute_pending(client, pending: list[tuple[InputPlan, TileJob]], plans: list[InputPlan],
                     n_tiles: int, settings: BatchSettings, on_tile_done) -> Outcome:
    """Run the pending jobs on ``client`` (or a cluster made here, closed afterwards); a
    single pending tile without a client or scheduler runs in this process
    (:func:`_compute_here`)."""
    if not pending:
        return Outcome()
    if client is None and settings.scheduler is None and len(pending) == 1:
        return _compute_here(*pending[0], n_tiles, settings, on_tile_done)
    own_client = client is None
    cluster = None
    jobs = [job for _, job in pending]
    if own_client:
        client, cluster, local_threads = connect_client(settings.workers, settings.scheduler)
        if settings.threads is None and local_threads:
            threads = engine_threads(local_threads, len(jobs))
            jobs = [dataclasses.replace(j, threads=threads) for j in jobs]
    try:
        jobs = with_semaphore(client, jobs, settings.gee_concurrency)
        start = time.perf_counter()
        outcome = _compute(client, [(p, j) for (p, _), j in zip(pending, jobs)], n_tiles,
                           settings, on_tile_done)
        outcome.seconds = time.perf_counter() - start
        for plan in plans:  # temporary files of workers killed mid-write
            clean_stale_tmp(plan.folder)
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    return outcome


def engine_threads(cluster_threads: int, tiles: int) -> int:
    """The model engine's threads per tile on a local cluster of ``cluster_threads`` worker
    threads: one each, or the spare ones shared out when there are fewer tiles than threads
    (3 tiles on 8 threads: 2 each), so no core idles while a tile runs."""
    return max(1, cluster_threads // max(tiles, 1))


def _compute_here(plan: InputPlan, job: TileJob, total: int, settings: BatchSettings,
                  on_tile_done) -> Outcome:
    """Compute one tile in this process with every engine thread the run has, retried as
    the cluster would: for one tile a cluster only adds its start-up (importing
    dask.distributed and starting it: 0.6-0.7 s on this project's 2-core machine, where
    the sample's whole prediction takes about 1 s)."""
    job = dataclasses.replace(job, threads=settings.threads or settings.workers)
    outcome = Outcome()
    start = time.perf_counter()
    with _tile_bar(total, 1, settings) as bar:
        for _ in range(settings.retries + 1):
            try:
                _tile_done(outcome, plan, job, run_tile(job), on_tile_done)
                break
            except Exception as exc:  # noqa: BLE001 - reported as the cluster reports it
                message = str(exc) if isinstance(exc, UrbansegError) else \
                    f"{type(exc).__name__}: {exc}"
        else:
            _tile_failed(outcome, plan, job, message)
        bar.update(1)
    outcome.seconds = time.perf_counter() - start
    clean_stale_tmp(plan.folder)
    return outcome


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def _failure_message(fut) -> str:
    """Why a task did not finish: the task's error, a killed worker, or a cancellation."""
    exc = fut.exception() if fut.status == "error" else None
    if isinstance(exc, UrbansegError):
        return str(exc)
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"
    return f"the task was {fut.status} by the scheduler"


def _compute(client, pending: list[tuple[InputPlan, TileJob]], total: int,
             settings: BatchSettings, on_tile_done) -> Outcome:
    """Submit one task per job and collect sidecar records as they complete."""
    as_completed = lazy_import("distributed").as_completed
    token = uuid.uuid4().hex[:8]
    by_key = {}
    for plan, job in pending:
        fut = client.submit(run_tile, job, key=f"urbanseg-tile-{plan.name}-{job.tile.name}-"
                            f"{token}", retries=settings.retries, pure=False)
        by_key[fut.key] = (fut, plan, job)
    outcome = Outcome()
    with _tile_bar(total, len(pending), settings) as bar:
        try:
            for fut in as_completed([f for f, _, _ in by_key.values()]):
                _, plan, job = by_key[fut.key]
                if fut.status == "finished":
                    _tile_done(outcome, plan, job, fut.result(), on_tile_done)
                else:  # "error" (the task raised, or KilledWorker) or "cancelled"
                    _tile_failed(outcome, plan, job, _failure_message(fut))
                bar.update(1)
        except BaseException:
            client.cancel([f for f, _, _ in by_key.values()])  # interrupted: a rerun resumes
            raise
    return outcome


@contextmanager
def _tile_bar(total: int, pending: int, settings: BatchSettings) -> Iterator[tqdm]:
    """The run's progress bar over tiles (the finished ones counted from the start)."""
    bar = tqdm(total=total, initial=total - pending, desc="batch", unit="tile",
               disable=None if settings.progress else True, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _tile_done(outcome: Outcome, plan: InputPlan, job: TileJob, record: dict,
               on_tile_done) -> None:
    plan.records[job.tile.name] = record
    outcome.km2 += record["valid_km2"] + record["nodata_km2"]
    if on_tile_done:
        on_tile_done(record)


def _tile_failed(outcome: Outcome, plan: InputPlan, job: TileJob, message: str) -> None:
    outcome.failures.append(f"tile {job.tile.name} of {plan.name}: {message}")
    log.warning("tile %s of %s failed: %s", job.tile.name, plan.name, message)


def _assemble(outdir: Path, plans: list[InputPlan],
              card: ModelCard) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Mosaic and statistics rows of every input whose tiles are all finished."""
    rows: list[dict[str, Any]] = []
    mosaics: dict[str, Path] = {}
    for plan in plans:
        mosaic = outdir / plan.name / "mosaic.tif"
        if not all(t.name in plan.records for t in plan.tiles):
            mosaic.unlink(missing_ok=True)  # never leave an earlier mosaic beside newer tiles
            continue
        mosaics[plan.name] = write_mosaic(mosaic, plan.inp.grid, plan.tiles,
                                          [plan.folder / f"{t.name}.tif" for t in plan.tiles],
                                          card.class_names, card.class_colours)
        rows += stats_rows(plan.name, plan.tiles, [plan.records[t.name] for t in plan.tiles],
                           plan.inp.grid, card.class_names)
    return rows, mosaics


def _write_stats(outdir: Path, rows: list[dict[str, Any]], n_inputs: int, card: ModelCard,
                 failures: list[str]) -> Path:
    """Write ``stats.csv`` (with an ``ALL`` row for several inputs), or remove a stale one."""
    stats_csv = outdir / "stats.csv"
    if rows and not failures:
        if n_inputs > 1:
            rows.append(total_row(rows, card.class_names))
        write_stats_csv(stats_csv, rows)
    else:
        stats_csv.unlink(missing_ok=True)
    return stats_csv


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    """A statistics row with its numeric fields as numbers (``None`` where empty), for JSON."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("input", "tile"):
            out[key] = value
        else:
            out[key] = float(value) if value not in ("", None) else None
    return out


def _write_manifest(result: BatchResult, plans: list[InputPlan], loaded: LoadedModel,
                    settings: BatchSettings, failures: list[str]) -> Path:
    """Write ``batch.json``: inputs, model, parameters, tiles computed or reused, timings."""
    card = loaded.card
    inputs = [dict(p.inp.description, name=p.name,
                   crs=p.inp.grid.crs.to_string() if p.inp.grid.crs else None,
                   shape_px=[p.inp.grid.height, p.inp.grid.width],
                   bounds=list(p.inp.grid.bounds), tiles=len(p.tiles), **p.layout)
              for p in plans]
    per_s = result.computed_km2 / result.compute_seconds if result.compute_seconds else None
    manifest = build_manifest(
        source={"kind": "batch", "inputs": inputs},
        model=model_record(loaded),
        parameters={"tile_km_requested": settings.tile_km,
                    "margin_px": default_overlap(card) // 2,
                    "model_overlap": default_overlap(card), "workers": settings.workers,
                    "scheduler": settings.scheduler},
        results={"tiles": result.tiles, "computed": result.computed - len(failures),
                 "reused": result.skipped, "failed": failures,
                 "seconds": round(result.seconds, 3),
                 "compute_seconds": round(result.compute_seconds, 3),
                 "computed_km2": round(result.computed_km2, 4),
                 "km2_per_second": round(per_s, 4) if per_s is not None else None,
                 "totals": [_numbers(r) for r in result.rows if r["tile"] == "TOTAL"]},
    )
    data = manifest_bytes(manifest)
    atomic_write(result.manifest, lambda tmp: tmp.write_bytes(data))
    return result.manifest
