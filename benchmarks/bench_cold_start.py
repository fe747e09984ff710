"""Cold start: ``urbanseg predict --sample`` against the import floor, in paired fresh processes.

Run from the repository root::

    python benchmarks/bench_cold_start.py              # table
    python benchmarks/bench_cold_start.py --pairs 8 --json

Each pair runs three fresh processes one after the other, on the same machine state:

* ``floor``: ``python -c "import rasterio, numpy, onnxruntime"``, what any tool that reads a
  GeoTIFF and runs an ONNX graph pays before its first pixel;
* ``predict``: ``python -m urbanseg_core.cli predict --sample -o OUT`` (the ``urbanseg``
  command: the bundled model's shipped ONNX graph run by ONNX Runtime);
* ``predict_no_graph``: the same command with ``--model`` pointing at a copy of the bundled
  card without its graph, as the code loaded every model before graphs were shipped: PyTorch
  imported, the weights read and exported to ONNX in memory at load.

Reported per run: wall time (s) and peak resident memory (MiB, the process's own: see
:mod:`measure`), plus the tool's own time for reading and the model (``in X s`` in its output);
per pair the ratios to the floor; over all pairs min, median and max. The goal of issue 25 is
``predict`` at most 3x the floor and at most 500 MiB. On a machine shared with other jobs,
their load slows every run: paired runs see the same load, and the 1-minute load average at
the start and end is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from measure import python_code, python_module, run_timed, spread  # noqa: E402
from urbanseg_core.model.card import read_card, write_card  # noqa: E402
from urbanseg_core.model.loading import DEFAULT_CARD  # noqa: E402

#: What any tool that reads a GeoTIFF and runs an ONNX graph imports.
FLOOR = "import rasterio, numpy, onnxruntime"
CLI = "urbanseg_core.cli"


def graphless_card(folder: Path) -> Path:
    """A copy of the bundled card and weights without the ONNX graph (the pre-graph load)."""
    card = read_card(DEFAULT_CARD)
    (folder / card.weights).write_bytes((DEFAULT_CARD.parent / card.weights).read_bytes())
    card.onnx = card.onnx_sha256 = None
    path = folder / DEFAULT_CARD.name
    write_card(card, path)
    return path


def tool_seconds(stdout: str) -> float | None:
    """The ``in X s`` that ``urbanseg predict`` reports (reading and the model)."""
    found = re.search(r" in ([0-9.]+) s;", stdout)
    return float(found.group(1)) if found else None


def one_pair(out: Path, graphless: Path) -> dict:
    """The floor, predict and predict without the graph, one after the other."""
    runs = {"floor": run_timed(python_code(FLOOR)),
            "predict": run_timed(python_module(CLI, "predict", "--sample", "-o", str(out),
                                                 "--overwrite")),
            "predict_no_graph": run_timed(python_module(CLI, "predict", "--sample", "-o",
                                                        str(out), "--overwrite", "--model",
                                                        str(graphless)))}
    pair = {name: {"seconds": round(r["seconds"], 3), "peak_mib": round(r["peak_mib"], 1)}
            for name, r in runs.items()}
    for name in ("predict", "predict_no_graph"):
        pair[name]["tool_seconds"] = tool_seconds(runs[name]["stdout"])
        pair[name]["ratio_to_floor"] = round(runs[name]["seconds"] / runs["floor"]["seconds"], 2)
    return pair


def summary(pairs: list[dict]) -> dict:
    """:func:`spread` of each figure over the pairs."""
    out = {}
    for name in pairs[0]:
        for key in pairs[0][name]:
            values = [p[name][key] for p in pairs if p[name][key] is not None]
            if values:
                out[f"{name}.{key}"] = spread(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="paired runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="urbanseg-cold-") as tmp:
        graphless = graphless_card(Path(tmp))
        pairs = [one_pair(Path(tmp) / "mask.tif", graphless) for _ in range(args.pairs)]
    report = {"cpu_count": os.cpu_count(), "loadavg_1min_at_start": load_start,
              "loadavg_1min_at_end": os.getloadavg()[0], "pairs": pairs,
              "summary": summary(pairs)}
    print(f"{'pair':>4}  {'floor s':>8} {'MiB':>5}  {'predict s':>9} {'MiB':>5} {'ratio':>6}  "
          f"{'no graph s':>10} {'MiB':>5} {'ratio':>6}")
    for i, p in enumerate(pairs, 1):
        f, g, n = p["floor"], p["predict"], p["predict_no_graph"]
        print(f"{i:>4}  {f['seconds']:>8.2f} {f['peak_mib']:>5.0f}  {g['seconds']:>9.2f} "
              f"{g['peak_mib']:>5.0f} {g['ratio_to_floor']:>6.2f}  {n['seconds']:>10.2f} "
              f"{n['peak_mib']:>5.0f} {n['ratio_to_floor']:>6.2f}")
    for key, s in report["summary"].items():
        print(f"{key:>32}: {s['min']:g} / {s['median']:g} / {s['max']:g} (min / median / max)")
    print(f"load average {load_start:.2f} at start, {report['loadavg_1min_at_end']:.2f} at end, "
          f"{os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
