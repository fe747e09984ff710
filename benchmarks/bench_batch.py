"""Batch throughput on dask.distributed with 1 and 2 workers, on the same input, in one run.

Run from the repository root::

    python benchmarks/bench_batch.py                  # table
    python benchmarks/bench_batch.py --json           # the last line is one JSON object
    python benchmarks/bench_batch.py --input big.tif --workers 1,2,4 --tile-km 5

What it measures (same input, model and machine):

* ``single_process``: the ``urbanseg predict`` path (:func:`urbanseg_core.inference.pipeline.segment_file`)
  in this process with 1 torch thread: the work one batch worker does, without dask (fastest
  of ``--repeat`` runs).
* per worker count N, the cluster ``urbanseg batch --workers N`` starts
  (:func:`urbanseg_core.batch.local_cluster`: N processes x 1 thread):

  - ``startup_s``: cluster start plus warm-up (each worker imports torch and loads the model
    once, as the first tile of a run would);
  - ``compute_s`` and ``km2_per_s``: from the first task submitted to the last tile written
    (tile GeoTIFFs and sidecars included), area of all tiles / compute time; the fastest of
    ``--repeat`` runs (all are listed in ``compute_s_all``);
  - ``total_s``: the whole :func:`urbanseg_core.batch.run_batch` call after warm-up
    (planning, compute, COG mosaic, statistics table, manifest);
  - ``speedup_vs_1``: ``km2_per_s`` relative to 1 worker;
  - ``agreement_vs_single``: share of mosaic pixels equal to the single-process class map.

The default input is the bundled sample scene (78.6 km², 1024 x 768 px) with 1.92 km batch
tiles (15 tasks), so that 2 workers have work to share; the default model is
``$URBANSEG_MODEL`` or the bundled one. On a machine shared with other jobs, the numbers
include their load: the load average at the start is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from urbanseg_core.batch import file_input, local_cluster, run_batch  # noqa: E402
from urbanseg_core.batch.worker import worker_model  # noqa: E402
from urbanseg_core.evaluation.areas import areas_of  # noqa: E402
from urbanseg_core.inference.pipeline import segment_file  # noqa: E402
from urbanseg_core.io.sample import SAMPLE_SCENE  # noqa: E402
from urbanseg_core.model.loading import default_model_path, load_model  # noqa: E402


def _warm(path: str, sha256: str) -> bool:
    """Runs on each worker: set 1 torch thread and load the model into the worker cache."""
    torch.set_num_threads(1)
    worker_model(path, sha256)
    return True


def bench_workers(n: int, inp, model: Path, sha256: str, tile_km: float,
                  reference: np.ndarray, repeat: int) -> dict:
    """One cluster of ``n`` workers: start-up, then ``repeat`` full batches into fresh folders."""
    from distributed import Client

    t0 = time.perf_counter()
    cluster = local_cluster(n)  # what `urbanseg batch --workers n` starts
    client = Client(cluster)
    runs = []
    try:
        client.run(_warm, str(model), sha256)
        startup = time.perf_counter() - t0
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="urbanseg-bench-batch-") as out:
                t1 = time.perf_counter()
                result = run_batch([inp], out, model=model, tile_km=tile_km, client=client,
                                   torch_threads=1, progress=False)
                total = time.perf_counter() - t1
                with rasterio.open(next(iter(result.mosaics.values()))) as src:
                    agreement = float((src.read(1) == reference).mean())
            runs.append((result.compute_seconds, total, agreement))
    finally:
        client.close()
        cluster.close()
    compute, total, agreement = min(runs)
    return {
        "workers": n, "tiles": result.tiles, "startup_s": round(startup, 2),
        "compute_s": round(compute, 2), "compute_s_all": [round(r[0], 2) for r in runs],
        "total_s": round(total, 2), "km2": round(result.computed_km2, 3),
        "km2_per_s": round(result.computed_km2 / compute, 3),
        "agreement_vs_single": round(min(r[2] for r in runs), 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_SCENE, help="GeoTIFF to segment")
    parser.add_argument("--model", type=Path, default=None, help="model card (.json)")
    parser.add_argument("--tile-km", type=float, default=2.0, help="batch tile side, km")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per configuration; the fastest is reported (others' load "
                             "on a shared machine only ever slows a run down)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    model = Path(args.model or default_model_path()).resolve()
    load1 = os.getloadavg()[0]
    loaded = load_model(model)
    inp = file_input(args.input)

    torch.set_num_threads(1)
    singles = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        seg = segment_file(args.input, loaded)
        singles.append(time.perf_counter() - t0)
    single_s = min(singles)
    stats = areas_of(seg)
    km2 = stats.valid_km2 + stats.nodata_km2
    single = {"seconds": round(single_s, 2), "seconds_all": [round(x, 2) for x in singles],
              "km2": round(km2, 3), "km2_per_s": round(km2 / single_s, 3), "torch_threads": 1}

    runs = [bench_workers(int(n), inp, model, loaded.sha256, args.tile_km, seg.classes,
                          args.repeat)
            for n in args.workers.split(",")]
    base = next((r["km2_per_s"] for r in runs if r["workers"] == 1), None)
    for r in runs:
        r["speedup_vs_1"] = round(r["km2_per_s"] / base, 3) if base else None

    report = {
        "input": str(args.input), "shape_px": list(seg.classes.shape),
        "model": loaded.card.name, "model_base_width": loaded.card.architecture.base_width,
        "tile_km": args.tile_km, "repeat": args.repeat, "cpu_count": os.cpu_count(),
        "loadavg_1min_at_start": load1, "loadavg_1min_at_end": os.getloadavg()[0],
        "platform": platform.platform(terse=True), "torch": torch.__version__,
        "single_process": single, "batch": runs,
    }
    print(f"input {Path(args.input).name} {seg.classes.shape[0]} x {seg.classes.shape[1]} px "
          f"({km2:.1f} km²), model {loaded.card.name}, {os.cpu_count()} CPUs, "
          f"load {load1:.2f} at start")
    print(f"single process (1 thread): {single['km2_per_s']:.3f} km²/s (best of "
          f"{single['seconds_all']} s)")
    print(f"{'workers':>8}{'tiles':>7}{'startup s':>11}{'compute s':>11}{'total s':>9}"
          f"{'km²/s':>9}{'speedup':>9}{'agree':>9}")
    for r in runs:
        print(f"{r['workers']:>8}{r['tiles']:>7}{r['startup_s']:>11.2f}{r['compute_s']:>11.2f}"
              f"{r['total_s']:>9.2f}{r['km2_per_s']:>9.3f}{r['speedup_vs_1'] or 0:>9.2f}"
              f"{100 * r['agreement_vs_single']:>8.2f}%   (compute s of each run: "
              f"{r['compute_s_all']})")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
