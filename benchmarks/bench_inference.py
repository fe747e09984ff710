"""Inference speed and memory on a real scene, side by side with the original procedure.

Run from the repository root (needs ``../shared/data``)::

    python benchmarks/bench_inference.py            # table
    python benchmarks/bench_inference.py --json     # the last line is one JSON object

What it measures, in one run on the same area and machine:

* ``km2_per_s``: the product's predict path (:func:`urbanseg_core.inference.predict.predict_source` over
  a windowed :class:`~urbanseg_core.io.scene.BandFile`, bundled model, card tile size/overlap;
  the engines' runs interleaved ``--repeat`` times, the fastest of each counts).
* ``seed_km2_per_s`` and ``ratio_vs_seed_style``: the original procedure on the same pixels:
  per 300 x 300 window, per-band min-max scaling, ``UNet(15, 3, bilinear=True)`` of base width
  64 in fp32 eager mode, one window at a time, no overlap (random weights: the original
  checkpoint is not available, and speed does not depend on weight values).
* ``fraction_of_gemm_peak``: the bundled model's achieved FLOP/s (FLOPs counted with
  ``torch.utils.flop_counter``) divided by the FLOP/s of a large fp32 ``torch.mm``.
* ``peak_rss_mb``: peak resident memory of a separate process that predicts a 400 km²
  (2000 x 2000 px, 11-band) GeoTIFF from disk.
* ``torch_engine_km2_per_s`` and ``pixel_agreement_engine_vs_torch``: the same path on the
  PyTorch engine, and the share of pixels on which the two engines agree (both fp32).
* ``in_memory_graph_km2_per_s`` and ``pixel_agreement_shipped_vs_in_memory_graph``: the
  same path with the graph exported from the weights in memory at load (how every model was
  run before the graph was shipped beside the weights), against the shipped graph.
* ``pixel_agreement_vs_fp32`` would apply to a lower precision; none is used (bf16 has no
  native support on AVX2-only CPUs and ran slower).
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

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_cold_start import graphless_card  # noqa: E402
from measure import python_code, run_timed  # noqa: E402
from urbanseg_core.inference.features import add_indices, normalise  # noqa: E402
from urbanseg_core.inference.predict import predict_source  # noqa: E402
from urbanseg_core.io.scene import BandFile  # noqa: E402
from urbanseg_core.io.stacking import stack_bands, write_stack  # noqa: E402
from urbanseg_core.model.card import Normalisation  # noqa: E402
from urbanseg_core.model.loading import load_model  # noqa: E402
from urbanseg_core.model.unet import UNet  # noqa: E402
from urbanseg_core.sentinel2 import MODEL_BANDS  # noqa: E402

SHARED = Path(os.environ.get("URBANSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = Path(tempfile.gettempdir()) / "urbanseg-bench"


def islamabad_stack() -> Path:
    """The Islamabad L2A scene stacked to 10 m (B8 <- B8A), cached in the temp folder."""
    out = CACHE / "islamabad_10m.tif"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = SHARED / "islamabad_ghsl"
    paths = {}
    for f in list((folder / "R20m").glob("*.jp2")) + list((folder / "R60m").glob("*.jp2")):
        band = f.stem.split("_")[-2]
        paths[band.replace("B0", "B")] = f
    data, crs, transform = stack_bands(paths, MODEL_BANDS, reference="B2",
                                       substitute={"B8": "B8A"})
    write_stack(out, data, crs, transform, MODEL_BANDS)
    return out


def crop_file(src_path: Path, size: int, name: str) -> Path:
    """Write the central ``size`` x ``size`` px of a stack to its own GeoTIFF."""
    import rasterio
    from rasterio.windows import Window

    out = CACHE / f"{name}_{size}.tif"
    if out.exists():
        return out
    with rasterio.open(src_path) as src:
        r0, c0 = (src.height - size) // 2, (src.width - size) // 2
        win = Window(c0, r0, size, size)
        data = src.read(window=win)
        write_stack(out, data, src.crs, src.window_transform(win), MODEL_BANDS)
    return out


def seed_style(path: Path, dn_offset: float) -> tuple[float, int]:
    """The original procedure; returns (seconds, pixels)."""
    torch.manual_seed(0)
    net = UNet(15, 3, base_width=64, bilinear=True, align_corners=True).eval()
    bf = BandFile(path, dn_offset=dn_offset)
    h, w = bf.shape
    spec = Normalisation(method="minmax_window", window=300)
    start = time.perf_counter()
    for r in range(0, h - 299, 300):
        for c in range(0, w - 299, 300):
            refl, valid = bf.read(r, c, 300, 300)
            x = normalise(add_indices(refl[None]), valid[None], spec)
            with torch.no_grad():
                net(torch.from_numpy(x)).argmax(1)
    seconds = time.perf_counter() - start
    return seconds, (h // 300) * (w // 300) * 300 * 300


def gemm_peak(n: int = 2048, reps: int = 5) -> float:
    """Best FLOP/s of an ``n`` x ``n`` fp32 matrix product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def model_flops(model: torch.nn.Module, tile: int) -> int:
    """FLOPs of one forward pass on a ``(1, 15, tile, tile)`` input."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 15, tile, tile))
    return counter.get_total_flops()


def peak_rss_child(path: Path, dn_offset: float) -> float:
    """Peak RSS (MiB) of a fresh process predicting ``path`` from disk (see :mod:`measure`)."""
    code = (
        "from urbanseg_core.io.scene import BandFile\n"
        "from urbanseg_core.model.loading import load_model\n"
        "from urbanseg_core.inference.predict import predict_source\n"
        "predict_source(BandFile(%r, dn_offset=%r), load_model())\n"
    ) % (str(path), dn_offset)
    return run_timed(python_code(code))["peak_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved timed runs per engine; the fastest counts")
    parser.add_argument("--size", type=int, default=1200,
                        help="side in px of the central crop both procedures run on")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"Real data not found at {SHARED}; this benchmark needs ../shared/data.")

    dn_offset = -1000.0  # Islamabad L2A, processing baseline 05.00
    stack = islamabad_stack()
    crop = crop_file(stack, args.size, "islamabad")
    big = crop_file(stack, 2000, "islamabad")
    loaded = load_model()  # default engine: the shipped graph on ONNX Runtime
    torch_loaded = load_model(engine="torch")
    graphless = Path(tempfile.mkdtemp(prefix="urbanseg-bench-card-"))
    in_memory = load_model(graphless_card(graphless))  # the graph exported at load
    card = loaded.card
    km2 = args.size * args.size * 1e-4

    bf = BandFile(crop, dn_offset=dn_offset)
    engines = {"default": loaded, "torch": torch_loaded, "in_memory": in_memory}
    timings = {name: float("inf") for name in engines}
    maps = {name: predict_source(bf, lm) for name, lm in engines.items()}  # warm-up
    for _ in range(args.repeat):  # interleaved: each engine sees the same load
        for name, lm in engines.items():
            start = time.perf_counter()
            maps[name] = predict_source(bf, lm)
            timings[name] = min(timings[name], time.perf_counter() - start)
    ours_s = timings["default"]

    seed_s, seed_px = seed_style(crop, dn_offset)
    seed_km2_per_s = seed_px * 1e-4 / seed_s

    from urbanseg_core.inference.predict import choose_tile_size
    from urbanseg_core.inference.tiling import plan_tiles

    tile = choose_tile_size(args.size, args.size, card.tile_size, card.overlap)
    tiles = plan_tiles(args.size, args.size, tile, card.overlap)
    flops = model_flops(loaded.model, tile) * len(tiles)
    peak = gemm_peak()
    rss = peak_rss_child(big, dn_offset)

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
                   f"{torch.backends.cpu.get_cpu_capability()}",
        "scene": f"Islamabad L2A T43SCT 2018-12-27, central {args.size} x {args.size} px "
                 f"({km2:.0f} km²)",
        "model": f"{card.name} (base width {card.architecture.base_width}, "
                 f"{len(tiles)} tiles of {tile} px, overlap {card.overlap})",
        "engine": loaded.engine,
        "seconds": round(ours_s, 3),
        "km2_per_s": round(km2 / ours_s, 3),
        "torch_engine_km2_per_s": round(km2 / timings["torch"], 3),
        "pixel_agreement_engine_vs_torch": round(float((maps["default"] == maps["torch"]).mean()), 6),
        "in_memory_graph_km2_per_s": round(km2 / timings["in_memory"], 3),
        "pixel_agreement_shipped_vs_in_memory_graph": round(float(
            (maps["default"] == maps["in_memory"]).mean()), 6),
        "seed_seconds": round(seed_s, 3),
        "seed_km2_per_s": round(seed_km2_per_s, 4),
        "ratio_vs_seed_style": round(km2 / ours_s / seed_km2_per_s, 2),
        "model_gflop_per_s": round(flops / ours_s / 1e9, 2),
        "gemm_peak_gflop_per_s": round(peak / 1e9, 2),
        "fraction_of_gemm_peak": round(flops / ours_s / peak, 3),
        "peak_rss_mb": round(rss, 1),
        "peak_rss_area_km2": 400,
        "precision": "fp32",
    }
    report(result, args.json)


def report(result: dict, as_json: bool) -> None:
    """Print one ``key: value`` line per figure; with ``as_json`` the JSON object comes last."""
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")
    if as_json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
