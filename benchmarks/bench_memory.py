"""Peak memory of ``urbanseg predict`` on a large 11-band GeoTIFF (default 10000 x 10000 px).

Run from the repository root (needs ``../shared/data``)::

    python benchmarks/bench_memory.py [--size 10000] [--json]

The input is made from the real Islamabad L2A scene (stacked to 10 m by
``bench_inference.py``), repeated to fill ``size`` x ``size`` px and written window by window
(uint16, deflate) to the temp folder, so making it needs little memory either. Then
``urbanseg predict`` runs in a fresh process and its own peak resident memory (see
:mod:`measure`) and wall time are reported. The class map itself takes ``size²`` bytes (100 MB at 10000 px).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_inference import CACHE, islamabad_stack, report  # noqa: E402
from measure import python_module, run_timed  # noqa: E402


def big_input(size: int) -> Path:
    """A ``size`` x ``size`` px GeoTIFF tiled from the Islamabad stack, written in windows."""
    out = CACHE / f"islamabad_repeat_{size}.tif"
    if out.exists():
        return out
    src_path = islamabad_stack()
    with rasterio.open(src_path) as src:
        profile = src.profile | {"height": size, "width": size, "compress": "deflate",
                                 "predictor": 2, "tiled": True, "blockxsize": 512,
                                 "blockysize": 512, "BIGTIFF": "YES",
                                 "transform": from_origin(300000, 3708540 + size * 10, 10, 10)}
        step = 1024
        with rasterio.open(out, "w", **profile) as dst:
            for i, name in enumerate(src.descriptions, start=1):
                dst.set_band_description(i, name)
            for row in range(0, size, step):
                for col in range(0, size, step):
                    h, w = min(step, size - row), min(step, size - col)
                    r0, c0 = row % (src.height - step), col % (src.width - step)
                    dst.write(src.read(window=Window(c0, r0, w, h)), window=Window(col, row, w, h))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = big_input(args.size)
    out = CACHE / f"mask_{args.size}.tif"
    run = run_timed(python_module("urbanseg_core.cli", "predict", str(path), "-o", str(out),
                                  "--overwrite",
                                  "--dn-offset", "-1000", "--max-pixels",
                                  str(args.size * args.size)))
    seconds, rss_mb = run["seconds"], run["peak_mib"]
    result = {"size_px": args.size, "area_km2": args.size * args.size * 1e-4,
              "input_mb": round(path.stat().st_size / 1e6, 1), "seconds": round(seconds, 1),
              "km2_per_s": round(args.size * args.size * 1e-4 / seconds, 2),
              "peak_rss_mb": round(rss_mb, 1)}
    report(result, args.json)


if __name__ == "__main__":
    main()
