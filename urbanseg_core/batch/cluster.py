"""The dask side of a batch: the local cluster (threads of this process, sharing one model),
a multi-process local cluster, connecting to a scheduler, and the cluster-wide semaphore that
rate-limits Earth Engine requests."""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
import warnings
from contextlib import contextmanager
from typing import Iterator

from ..errors import BatchError
from ..lazy import lazy_import
from .sources import GeeSpec
from .worker import TileJob

#: How long to try to reach a scheduler given by address.
SCHEDULER_TIMEOUT = "30s"
#: Name prefix of the cluster-wide semaphore that rate-limits Earth Engine fetches.
GEE_SEMAPHORE = "urbanseg-gee-fetch"


def connect_client(workers: int | None, scheduler: str | None):
    """A client for the run: to ``scheduler`` if given, else to a new :func:`thread_cluster`.

    Returns:
        ``(client, cluster, threads)``: ``cluster`` is the local cluster to close after the
        run (``None`` for a scheduler), ``threads`` the engine threads per task: 1 on the
        local cluster (one per worker thread) and ``None`` on a scheduler (its workers'
        settings are kept).

    Raises:
        BatchError: the scheduler cannot be reached, or ``workers`` < 1.
    """
    Client = lazy_import("distributed").Client
    if scheduler:
        try:
            return Client(scheduler, timeout=SCHEDULER_TIMEOUT), None, None
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(
                f"Cannot reach the dask scheduler at {scheduler} ({exc}). Check the address "
                "(tcp://HOST:8786) and that the scheduler is running."
            ) from exc
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise BatchError(f"The number of local workers must be at least 1, not {workers}.")
    cluster = thread_cluster(n)
    return Client(cluster), cluster, 1


def thread_cluster(n_threads: int):
    """A ``LocalCluster`` inside this process: one worker running ``n_threads`` tiles at a
    time, no dashboard; what ``urbanseg batch --workers N`` starts.

    It starts in a fraction of a second, where worker processes each import dask, rasterio
    and ONNX Runtime and load the model (2-5 s on this project's 2-core machine), and the
    threads share one model (:func:`~.worker.worker_model`). They run in parallel because
    ONNX Runtime, PyTorch, GDAL and NumPy's array loops release the GIL; each runs its
    tile's model with one engine thread. ``benchmarks/bench_batch.py`` measures both kinds.
    """
    LocalCluster = lazy_import("distributed").LocalCluster
    with _any_http_port():
        return LocalCluster(n_workers=1, threads_per_worker=n_threads, processes=False,
                            dashboard_address=None, silence_logs=logging.CRITICAL)


@contextmanager
def _any_http_port() -> Iterator[None]:
    """Silence dask's warning that the scheduler's HTTP port (8787) is taken: it takes a free
    one, which is all a run needs (no dashboard is served)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Port .* is already in use")
        yield


def local_cluster(n_workers: int):
    """A ``LocalCluster`` of ``n_workers`` processes with 1 thread each, no dashboard: a
    stand-in for a multi-machine cluster (each process loads the model once).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting it fixes
    glibc's mmap threshold at 128 KiB, so every activation tensor is a fresh ``mmap`` with page
    faults. On this project's shared 2-CPU machine the 15 tiles of the sample scene (bundled
    model, 1 thread) took a median of 7.5 s over 10 runs in such a worker and 3.7 s
    without it, as in a plain process. This cluster is started without it; the other nanny
    variables (``OMP_NUM_THREADS=1`` ...) are kept.
    """
    dask = lazy_import("dask")
    LocalCluster = lazy_import("distributed").LocalCluster
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), _any_http_port():
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.CRITICAL)


def with_semaphore(client, jobs: list[TileJob], leases: int) -> list[TileJob]:
    """Give Earth Engine jobs a cluster-wide semaphore (one per run) for their fetches."""
    if not any(isinstance(j.source, GeeSpec) and j.source.semaphore is None for j in jobs):
        return jobs
    Semaphore = lazy_import("distributed").Semaphore
    sem = Semaphore(max_leases=max(1, leases), name=f"{GEE_SEMAPHORE}-{uuid.uuid4().hex[:8]}",
                    scheduler_rpc=client.scheduler, loop=client.loop)
    out = []
    for j in jobs:
        if isinstance(j.source, GeeSpec) and j.source.semaphore is None:
            j = dataclasses.replace(j, source=dataclasses.replace(j.source, semaphore=sem))
        out.append(j)
    return out
