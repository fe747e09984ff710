"""F1 of "class changed" on the ten OSCD cities with change labels, beside two baselines.

Run from the repository root (needs ``../shared/data``)::

    python benchmarks/bench_change_oscd.py             # per-city table
    python benchmarks/bench_change_oscd.py --json      # the last line is one JSON object
    python benchmarks/bench_change_oscd.py --sweep     # + parameter grid and leave-one-city-out
    python benchmarks/bench_change_oscd.py --model runs/x/model.json --cities pisa,bercy

For each city (``oscd_change/<city>/cm.tif``: 1 no change, 2 change, 0 nodata, on the
``imgs_1`` B02 grid in EPSG:4326):

* ``urbanseg``: :func:`urbanseg_core.change.detect_change` on the two band folders, as
  ``urbanseg change imgs_1 imgs_2`` runs it; "changed" = the final from-to map's classes differ
  (``before != after``). The map (on BEFORE's 10 m UTM grid) is put on the label grid with
  nearest neighbour.
* ``cva_otsu`` (the data README's baseline): on the label grid, the bands B2, B3, B4, B8, B11,
  B12 of both dates (nearest neighbour), their difference standardised per band (mean 0,
  standard deviation 1 over pixels valid at both dates), the magnitude of that change vector
  (Malila 1980) and Otsu's threshold of it (Otsu 1979).
* ``naive``: the model's two arg-max maps differ (no change rule).

F1 = 2 TP / (2 TP + FP + FN) over the label's valid pixels.

``--sweep`` scores every ``min_magnitude`` x ``min_area_m2`` of a grid (the model runs once
per city), prints the mean F1 of each, and chooses both by leave-one-city-out: for each city,
the pair with the best mean F1 on the nine others, scored on the one left out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from urbanseg_core.io.bandfolder import find_band_files  # noqa: E402
from urbanseg_core.change.codes import changed as class_changed  # noqa: E402
from urbanseg_core.change.decide import ChangeParams  # noqa: E402
from urbanseg_core.change.pipeline import decide, prepare  # noqa: E402
from urbanseg_core.change.spectral import CVA_BANDS, otsu_threshold  # noqa: E402
from urbanseg_core.model.loading import load_model  # noqa: E402
from urbanseg_core.sentinel2 import NODATA  # noqa: E402

SHARED = Path(os.environ.get("URBANSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
CITIES = ("aguasclaras", "beihai", "bercy", "bordeaux", "cupertino", "hongkong", "mumbai",
          "nantes", "pisa", "saclay_e")
#: Where the images of the cities whose label folder holds only ``cm.tif`` are.
IMAGE_FOLDERS = {"bercy": "bercy_urban_atlas", "nantes": "oscd_cities/nantes"}
#: The parameter grid of ``--sweep``.
SWEEP_MAGNITUDE = (4.0, 4.5, 5.0, 5.5, 6.0, 7.0)
SWEEP_AREA_M2 = (900.0, 1600.0, 2500.0, 3600.0, 4900.0, 6400.0)


def city_paths(city: str) -> tuple[Path, Path, Path]:
    """``(imgs_1, imgs_2, cm.tif)`` of a city."""
    images = SHARED / IMAGE_FOLDERS.get(city, f"oscd_change/{city}")
    return images / "imgs_1", images / "imgs_2", SHARED / "oscd_change" / city / "cm.tif"


def read_label(path: Path):
    """``(label (H, W) uint8, profile)``: 1 no change, 2 change, 0 nodata."""
    with rasterio.open(path) as src:
        return src.read(1), src.profile


def onto_label_grid(values: np.ndarray, crs, transform, profile, nodata: int) -> np.ndarray:
    """A uint8 map put on the label grid with nearest neighbour (``nodata`` outside)."""
    out = np.full((profile["height"], profile["width"]), nodata, dtype="uint8")
    reproject(values, out, src_transform=transform, src_crs=crs,
              dst_transform=profile["transform"], dst_crs=profile["crs"],
              resampling=Resampling.nearest, src_nodata=nodata, dst_nodata=nodata)
    return out


def f1_score(predicted: np.ndarray, label: np.ndarray) -> dict:
    """F1, precision and recall of ``predicted`` (bool) against a 1/2/0 change label."""
    ok = label > 0
    truth = label[ok] == 2
    pred = predicted[ok]
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    return {"f1": 2 * tp / max(1, 2 * tp + fp + fn), "precision": tp / max(1, tp + fp),
            "recall": tp / max(1, tp + fn), "changed_share": float(pred.mean())}


def cva_otsu_baseline(folder_1: Path, folder_2: Path, profile) -> np.ndarray:
    """The data README's baseline on the label grid: ``(H, W)`` bool "changed".

    Each of B2, B3, B4, B8, B11, B12 of both dates is put on the label grid (nearest
    neighbour); the per-band difference is standardised (mean 0, standard deviation 1 over
    pixels with data at both dates); the magnitude ``sqrt(sum z_b^2)`` of the change vector
    (Malila 1980) above Otsu's threshold (Otsu 1979) of all valid magnitudes is change.
    """
    shape = (profile["height"], profile["width"])
    stacks = []
    for folder in (folder_1, folder_2):
        files = find_band_files(folder)
        data = np.zeros((len(CVA_BANDS), *shape), dtype="float64")
        for i, band in enumerate(CVA_BANDS):
            with rasterio.open(files[band]) as src:
                reproject(rasterio.band(src, 1), data[i], dst_transform=profile["transform"],
                          dst_crs=profile["crs"], resampling=Resampling.nearest,
                          src_nodata=0, dst_nodata=0)
        stacks.append(data / 10000.0)
    valid = (stacks[0] > 0).all(axis=0) & (stacks[1] > 0).all(axis=0)
    diff = stacks[1] - stacks[0]
    z = np.zeros(shape)
    for band in diff:
        v = band[valid]
        z += ((band - v.mean()) / v.std()) ** 2
    magnitude = np.sqrt(z)
    return valid & (magnitude > otsu_threshold(magnitude[valid]))


def score_result(result, label, profile) -> tuple[dict, dict]:
    """F1 of a :class:`~urbanseg_core.change.ChangeResult` and of its naive differencing."""
    codes = onto_label_grid(result.codes, result.crs, result.transform, profile, NODATA)
    before = onto_label_grid(result.before_classes, result.crs, result.transform, profile,
                             NODATA)
    after = onto_label_grid(result.after_classes, result.crs, result.transform, profile,
                            NODATA)
    naive = (before != after) & (before != NODATA) & (after != NODATA)
    return f1_score(class_changed(codes), label), f1_score(naive, label)


def run(cities, model_path, sweep: bool, log) -> dict:
    loaded = load_model(model_path)
    params = ChangeParams()
    rows, grid_scores = {}, {}
    for city in cities:
        start = time.perf_counter()
        folder_1, folder_2, label_path = city_paths(city)
        label, profile = read_label(label_path)
        baseline = f1_score(cva_otsu_baseline(folder_1, folder_2, profile), label)
        dates = prepare(folder_1, folder_2, loaded)
        ours, naive = score_result(decide(dates, params), label, profile)
        rows[city] = {"urbanseg": ours, "cva_otsu": baseline, "naive": naive,
                      "label_change_share": float(np.mean(label[label > 0] == 2)),
                      "seconds": round(time.perf_counter() - start, 1)}
        if sweep:
            grid_scores[city] = {
                (k, a): score_result(decide(dates, replace(params, min_magnitude=k,
                                                           min_area_m2=a)),
                                     label, profile)[0]["f1"]
                for k, a in itertools.product(SWEEP_MAGNITUDE, SWEEP_AREA_M2)}
        log(f"{city}: F1 urbanseg {ours['f1']:.3f}, cva_otsu {baseline['f1']:.3f}, naive "
            f"{naive['f1']:.3f} ({rows[city]['seconds']} s)")
        del dates
    mean = {m: float(np.mean([rows[c][m]["f1"] for c in cities]))
            for m in ("urbanseg", "cva_otsu", "naive")}
    out = {"model": loaded.card.name, "model_sha256": loaded.sha256,
           "params": params.to_dict(), "cities": rows, "mean_f1": mean,
           "beats_baseline_everywhere": all(rows[c]["urbanseg"]["f1"] > rows[c]["cva_otsu"]["f1"]
                                            for c in cities)}
    if sweep:
        out["sweep"] = sweep_summary(grid_scores, cities)
    return out


def sweep_summary(scores: dict, cities) -> dict:
    """Mean F1 of each grid point and the leave-one-city-out choice."""
    keys = list(next(iter(scores.values())))
    mean = {k: float(np.mean([scores[c][k] for c in cities])) for k in keys}
    loco = {}
    for city in cities:
        rest = [c for c in cities if c != city]
        best = max(keys, key=lambda k: np.mean([scores[c][k] for c in rest]))
        loco[city] = {"min_magnitude": best[0], "min_area_m2": best[1],
                      "f1": scores[city][best]}
    return {"grid_mean_f1": {f"{k[0]:g}/{k[1]:g}": round(v, 4) for k, v in mean.items()},
            "per_city": {c: {f"{k[0]:g}/{k[1]:g}": round(v, 4) for k, v in scores[c].items()}
                         for c in cities},
            "leave_one_city_out": loco,
            "leave_one_city_out_mean_f1": float(np.mean([v["f1"] for v in loco.values()]))}


def print_table(out: dict) -> None:
    print(f"Model {out['model']} ({out['model_sha256'][:12]}); parameters "
          f"min_magnitude {out['params']['min_magnitude']:g}, min_area_m2 "
          f"{out['params']['min_area_m2']:g}, tolerance_px {out['params']['tolerance_px']}")
    print("| city | urbanseg change F1 | CVA + Otsu F1 | naive differencing F1 | "
          "urbanseg precision / recall | labelled change |")
    print("|---|---|---|---|---|---|")
    for city, r in out["cities"].items():
        u = r["urbanseg"]
        print(f"| {city} | **{u['f1']:.3f}** | {r['cva_otsu']['f1']:.3f} | "
              f"{r['naive']['f1']:.3f} | {u['precision']:.2f} / {u['recall']:.2f} | "
              f"{100 * r['label_change_share']:.1f} % |")
    m = out["mean_f1"]
    print(f"| **mean** | **{m['urbanseg']:.3f}** | {m['cva_otsu']:.3f} | {m['naive']:.3f} | | |")
    print(f"beats the baseline on every city: {out['beats_baseline_everywhere']}")
    if "sweep" in out:
        s = out["sweep"]
        print("\nmean F1 over the cities, min_magnitude (rows) x min_area_m2 (columns):")
        print("      " + "".join(f"{a:>8g}" for a in SWEEP_AREA_M2))
        for k in SWEEP_MAGNITUDE:
            print(f"{k:>6g}" + "".join(f"{s['grid_mean_f1'][f'{k:g}/{a:g}']:>8.3f}"
                                       for a in SWEEP_AREA_M2))
        print("\nleave one city out (parameters chosen on the other nine):")
        for city, v in s["leave_one_city_out"].items():
            print(f"  {city:<12} min_magnitude {v['min_magnitude']:g}, min_area_m2 "
                  f"{v['min_area_m2']:g}: F1 {v['f1']:.3f}")
        print(f"  mean F1 {s['leave_one_city_out_mean_f1']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--sweep", action="store_true",
                        help="also score a parameter grid and leave-one-city-out choices")
    parser.add_argument("--model", type=Path, default=None, help="model card or weights")
    parser.add_argument("--cities", default=",".join(CITIES), help="comma-separated")
    args = parser.parse_args()
    if not (SHARED / "oscd_change").is_dir():
        sys.exit(f"OSCD change labels not found under {SHARED}; set URBANSEG_SHARED_DATA.")
    cities = [c.strip() for c in args.cities.split(",") if c.strip()]
    out = run(cities, args.model, args.sweep, log=lambda m: print(m, file=sys.stderr))
    print_table(out)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
