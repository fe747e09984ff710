"""``urbanseg batch`` against single-process ``urbanseg predict`` on the same input, paired.

Run from the repository root::

    python benchmarks/bench_batch.py                   # both cases, 3 pairs each
    python benchmarks/bench_batch.py --pairs 5 --json  # the last line is one JSON object
    python benchmarks/bench_batch.py --skip-large      # without ../shared/data

Each pair runs the two commands one after the other in fresh processes, as a user would:

* ``predict``: ``urbanseg predict INPUT -o mask.tif``;
* ``batch``: ``urbanseg batch INPUT -o OUTDIR --workers 2`` (a new output folder each time, so
  every tile is computed; 2 = this project's CPU count).

Cases:

* ``large``: one large GeoTIFF, by default the Islamabad Level-2A scene stacked to 10 m
  (3660 x 3660 px, 1,340 km², from ``../shared/data``, cached in the temp folder by
  ``bench_inference.py``; ``--dn-offset -1000``), with batch's default 5 km tiles (36 tiles
  of one 5.76 km stride of the 768 px model tiles: the smallest batch tiles there are);
* ``tiles_2km``: the bundled sample scene (1024 x 768 px, 78.6 km²) with ``--tile-km 2``;
  the sample is one model tile (768 x 1024 px), so this is one batch tile, which batch
  computes in its own process without starting a cluster: it measures batch's fixed cost
  (the tile's files, the mosaic, the statistics), no longer many small tiles.

Reported per pair: wall time (s) and peak resident memory (MiB) of each command, the ratio
batch / predict, and the share of mosaic pixels equal to predict's mask (the two must agree);
over the pairs min, median and max. The goal of issue 25 is a ratio of at most 1.05 on the
large file and 1.3 on 2 km tiles. Runs on a shared machine see other jobs' load; the 1-minute
load average at the start and end is reported.

``--cluster`` also runs the large file on 2 dask worker processes of 1 thread each (what a
cluster node runs; :func:`urbanseg_core.batch.local_cluster`) and reports each worker's peak
resident memory and the tiles' time: what a worker needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import rasterio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_cold_start import CLI  # noqa: E402
from bench_inference import SHARED, islamabad_stack  # noqa: E402
from measure import python_module, run_timed, spread  # noqa: E402

from urbanseg_core.io.sample import SAMPLE_SCENE  # noqa: E402


def one_pair(input_path: Path, extra: list[str], batch_extra: list[str], folder: Path) -> dict:
    """predict, then batch --workers 2, on ``input_path``; times, memory, agreement."""
    mask, outdir = folder / "mask.tif", folder / "batch"
    shutil.rmtree(outdir, ignore_errors=True)
    predict = run_timed(python_module(CLI, "predict", str(input_path), "-o", str(mask),
                                      "--overwrite", *extra))
    batch = run_timed(python_module(CLI, "batch", str(input_path), "-o", str(outdir),
                                    "--workers", "2", *extra, *batch_extra))
    with rasterio.open(mask) as a, rasterio.open(next(outdir.glob("*/mosaic.tif"))) as b:
        agreement = float((a.read(1) == b.read(1)).mean())
    return {"predict_s": round(predict["seconds"], 2), "predict_mib": round(predict["peak_mib"]),
            "batch_s": round(batch["seconds"], 2), "batch_mib": round(batch["peak_mib"]),
            "ratio": round(batch["seconds"] / predict["seconds"], 3),
            "agreement": round(agreement, 6)}


def run_case(name: str, input_path: Path, extra: list[str], batch_extra: list[str],
             pairs: int) -> dict:
    """``pairs`` pairs of one case, printed as they finish."""
    with tempfile.TemporaryDirectory(prefix=f"urbanseg-bench-{name}-") as tmp:
        rows = []
        for i in range(pairs):
            rows.append(one_pair(input_path, extra, batch_extra, Path(tmp)))
            r = rows[-1]
            print(f"{name:>10} {i + 1:>4} {r['predict_s']:>10.2f} {r['predict_mib']:>6} "
                  f"{r['batch_s']:>8.2f} {r['batch_mib']:>6} {r['ratio']:>6.3f} "
                  f"{100 * r['agreement']:>8.3f}%", flush=True)
    stats = {key: spread(r[key] for r in rows) for key in rows[0]}
    return {"input": str(input_path), "args": extra + batch_extra, "pairs": rows,
            "summary": stats}


def _peak_mib() -> float:
    """Runs on a worker: its peak resident memory so far, MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cluster_workers(large: Path, offset: float) -> dict:
    """The large file on 2 worker processes x 1 thread: peak memory per worker, timings."""
    from distributed import Client

    from urbanseg_core.batch import file_input, local_cluster, run_batch

    with tempfile.TemporaryDirectory(prefix="urbanseg-bench-cluster-") as tmp, \
            local_cluster(2) as cluster, Client(cluster) as client:
        result = run_batch([file_input(large, dn_offset=offset)], tmp, client=client,
                           threads=1, progress=False)
        peaks = client.run(_peak_mib)
    return {"workers": 2, "threads_per_worker": 1, "tiles": result.tiles,
            "compute_s": round(result.compute_seconds, 2),
            "km2_per_s": round(result.computed_km2 / result.compute_seconds, 2),
            "worker_peak_mib": sorted(round(v) for v in peaks.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="paired runs per case")
    parser.add_argument("--large", type=Path, default=None,
                        help="the large GeoTIFF (default: the Islamabad 10 m stack)")
    parser.add_argument("--skip-large", action="store_true", help="only the 2 km tiles case")
    parser.add_argument("--cluster", action="store_true",
                        help="also measure 2 worker processes on the large file")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    print(f"{'case':>10} {'pair':>4} {'predict s':>10} {'MiB':>6} {'batch s':>8} {'MiB':>6} "
          f"{'ratio':>6} {'agree':>9}")
    cases = {"tiles_2km": run_case("tiles_2km", SAMPLE_SCENE, [], ["--tile-km", "2"],
                                   args.pairs)}
    if not args.skip_large:
        if args.large is None and not SHARED.is_dir():
            sys.exit(f"Real data not found at {SHARED}; give --large FILE or --skip-large.")
        large = args.large or islamabad_stack()
        offset = [] if args.large else ["--dn-offset", "-1000"]
        cases["large"] = run_case("large", large, offset, [], args.pairs)
        if args.cluster:
            cases["cluster"] = cluster_workers(large, -1000.0 if offset else 0.0)
            print(f"cluster: {cases['cluster']}")
    for name, case in cases.items():
        if "summary" not in case:
            continue
        s = case["summary"]["ratio"]
        print(f"{name}: batch / predict {s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f} "
              "(min / median / max)")
    print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end, "
          f"{os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps({"cpu_count": os.cpu_count(), "loadavg_1min_at_start": load_start,
                          "loadavg_1min_at_end": os.getloadavg()[0], "cases": cases}))


if __name__ == "__main__":
    main()
