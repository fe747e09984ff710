"""Adaptation on the five labelled cities: macro built-up Dice before and after, on a part of
the city the adaptation never saw, at the same date and at the other date.

Run from the repository root (needs ``../shared/data``)::

    python benchmarks/bench_adapt.py                       # every city, both folds, 5 min each
    python benchmarks/bench_adapt.py --cities bercy --folds 1 --minutes 2
    python benchmarks/bench_adapt.py --json results.json   # also write every figure
    python benchmarks/bench_adapt.py --memory              # peak memory: adapt vs predict

For each city, the labelled pixels of the first date are cut in two across the longer side of
their extent, at the median of the built-up labelled pixels, with a 64 px gap (no pixel of it
used) (:func:`parts`). Fold 1 adapts on one half and tests on the other; fold 2 the other way
round. The adaptation gets only its part of the image (a window of the scene; it
holds its own validation block back inside it, :mod:`urbanseg_core.training.adapt.split`);
both models then predict the test part (with 32 px of context from the gap) at the same date
and, where the city has one, at the other date, and are scored on its reference.

* Islamabad (Level-2A, GHSL labels; DN offset -1000; one date): the bundled model's held-out
  block (rows 2440-3660, columns 2440-3660) is the test part and the 2376 columns west of it
  (same rows; the bundled model trained on them) the adaptation part: "west -> east". Only
  fold 1.
* Paris Bercy (Urban Atlas; 2016-11-30 -> 2017-08-29), Hong Kong (LCZ; 2016 -> 2018), West San
  Jose (zoning; 2015 -> 2018), Montpellier (non-residential buildings; 2015 -> 2017).

``--memory`` writes the Islamabad adaptation part (1220 x 2376 px, 290 km²) as an 11-band
GeoTIFF with its GHSL reference (index codes) to the temp folder, then runs ``urbanseg
predict`` and ``urbanseg adapt --minutes 1`` on it, each in a fresh process, and reports
their peak resident memory (``ru_maxrss`` of each child, from ``os.wait4``).

Score: macro built-up Dice over the built-up classes the city's reference has
(:func:`urbanseg_core.evaluation.metrics.macro_builtup_present`; Montpellier labels no
residential, so its figure is the non-residential Dice), from the confusion matrix pooled over
the test part. ``--threads 1`` (default 2) lets it run beside other work; the adaptation's
time budget is wall-clock, so a loaded machine makes fewer steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from urbanseg_core.evaluation.metrics import (  # noqa: E402
    confusion_matrix, macro_builtup_present, json_safe)
from urbanseg_core.inference.predict import predict_scene  # noqa: E402
from urbanseg_core.model.loading import build_model, load_model  # noqa: E402
from urbanseg_core.sentinel2 import MODEL_BANDS, NODATA  # noqa: E402
from urbanseg_core.training.adapt.inputs import pair_from_arrays  # noqa: E402
from urbanseg_core.training.adapt.loop import AdaptSettings, adapt, scene_haze  # noqa: E402
from urbanseg_core.training.adapt.split import Block, plan_split  # noqa: E402
from urbanseg_core.training.datasets import load_bercy, load_city, load_islamabad  # noqa: E402
from urbanseg_core.training.evaluation import in_memory_model  # noqa: E402

SHARED = Path(os.environ.get("URBANSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = Path(tempfile.gettempdir()) / "urbanseg-bench"
CITIES = ("islamabad", "bercy", "hongkong", "cupertino", "montpellier")
FOLDERS = {"hongkong": "hongkong_lcz", "cupertino": "cupertino_zoning",
           "montpellier": "montpellier_buildings"}
GAP = 64
CONTEXT = 32


def load(city: str) -> list[tuple[str, object, np.ndarray]]:
    """``[(date label, Scene, label), ...]``, first date first, on one grid."""
    if city == "islamabad":
        isb = load_islamabad(SHARED, rows=slice(2440, 3660))
        return [("2018-12-27", isb.scene(slice(0, 1220), slice(0, 3660)), isb.label)]
    if city == "bercy":
        return [(d, scene, ref) for d, scene, ref in load_bercy(SHARED)]
    return [(item.name, item.scene, item.label) for item in load_city(SHARED / FOLDERS[city])]


def parts(city: str, label: np.ndarray) -> tuple[Block, Block]:
    """``(fold 1's adaptation part, fold 1's test part)`` of a city's first date: the two
    halves of :func:`~urbanseg_core.training.adapt.split.plan_split` with ``fraction`` 0.5
    (cut across the longer side of the labelled extent at the median of the built-up
    pixels, the test half the one leaving both halves closer to the city's class mix), with
    a gap of :data:`GAP` px between them. Islamabad: west -> east (module docstring)."""
    H, W = label.shape
    if city == "islamabad":
        return Block(0, H, 0, 2376), Block(0, H, 2440, W)
    split = plan_split(label, 0.5, GAP // 2)
    lo, hi = (split.val.r0, split.val.r1) if split.axis == 0 else (split.val.c0, split.val.c1)
    end = label.shape[split.axis]
    cut = hi if lo == 0 else lo
    before, after = (0, cut - GAP // 2), (cut + GAP // 2, end)
    test, rest = (before, after) if lo == 0 else (after, before)
    if split.axis == 0:
        return Block(*rest, 0, W), Block(*test, 0, W)
    return Block(0, H, *rest), Block(0, H, *test)


def test_scores(loaded, scene, label, block: Block, haze) -> dict:
    """Macro built-up Dice (present classes) and binary built-up Dice on ``block``."""
    win = block.grown(CONTEXT, scene.shape)
    classes = predict_scene(scene.window(win.rows, win.cols), loaded, batch_size=4, haze=haze)
    r, c = block.r0 - win.r0, block.c0 - win.c0
    pred = classes[r:r + block.r1 - block.r0, c:c + block.c1 - block.c0]
    cm = confusion_matrix(pred, label[block.rows, block.cols])
    b_tp, b_fp, b_fn = cm[1:, 1:].sum(), cm[0, 1:].sum(), cm[1:, 0].sum()
    binary = 2 * b_tp / (2 * b_tp + b_fp + b_fn) if (2 * b_tp + b_fp + b_fn) else float("nan")
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    dice = {name: (float(2 * tp[c] / (support[c] + predicted[c])) if support[c] else None)
            for c, name in enumerate(("other", "non-residential", "residential"))}
    return {"macro": macro_builtup_present(cm), "binary": float(binary), "dice": dice,
            "px": int(cm.sum())}


def run_fold(city: str, images, fold: int, parent, settings: AdaptSettings) -> dict:
    """Adapt on one part of the first date, score both models on the other part."""
    (date, scene, label), others = images[0], images[1:]
    first, second = parts(city, label)
    train_block, test_block = (first, second) if fold == 1 else (second, first)
    part = scene.window(train_block.rows, train_block.cols)
    pair = pair_from_arrays(part, label[train_block.rows, train_block.cols].copy(),
                            f"{city} {date} fold {fold}")
    t = time.perf_counter()
    result = adapt([pair], parent, settings, log=lambda m: print(f"  {m}", flush=True))
    row = {"city": city, "fold": fold, "adapt_px": int((pair.label != NODATA).sum()),
           "minutes": result.minutes, "wall_minutes": round((time.perf_counter() - t) / 60, 2),
           "steps": result.steps, "best_step": result.best_step,
           "val_before": result.score_before, "val_after": result.score_after,
           "accepted": result.accepted, "gain_low": result.gain_low,
           "train_block": train_block.as_tuple(),
           "test_block": test_block.as_tuple()}
    adapted = in_memory_model(_eval_model(parent, result.state), parent.card)
    for key, (d, sc, lab) in [("same_date", (date, scene, label))] + [
            ("other_date", o) for o in others]:
        haze = scene_haze(sc, parent)
        row[key] = {"date": d,
                    "before": test_scores(parent, sc, lab, test_block, haze),
                    "after": test_scores(adapted if result.accepted else parent, sc, lab,
                                         test_block, haze)}
    return row


def _eval_model(parent, state):
    model = build_model(parent.card.architecture)
    model.load_state_dict(state)
    return model.eval()


def fmt(row: dict, key: str) -> str:
    if key not in row:
        return "-"
    b, a = row[key]["before"]["macro"], row[key]["after"]["macro"]
    return f"{b:.3f} -> {a:.3f} ({a - b:+.3f})"


def memory_inputs() -> tuple[Path, Path]:
    """The Islamabad adaptation part as a DN GeoTIFF (offset -1000) and its reference."""
    CACHE.mkdir(parents=True, exist_ok=True)
    image, reference = CACHE / "adapt_islamabad_west.tif", CACHE / "adapt_islamabad_ref.tif"
    if image.exists() and reference.exists():
        return image, reference
    isb = load_islamabad(SHARED, rows=slice(2440, 3660), cols=slice(0, 2376))
    profile = {"driver": "GTiff", "height": isb.label.shape[0], "width": isb.label.shape[1],
               "crs": isb.crs, "transform": isb.transform, "compress": "deflate",
               "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(image, "w", count=11, dtype="uint16", **profile) as dst:
        dst.write(isb.dn)
        for i, band in enumerate(MODEL_BANDS, start=1):
            dst.set_band_description(i, band)
    with rasterio.open(reference, "w", count=1, dtype="uint8", nodata=255, **profile) as dst:
        dst.write(isb.label[None])
    return image, reference


def peak_mb(args: list[str]) -> tuple[float, float]:
    """``(peak resident MB, seconds)`` of ``python -m urbanseg_core.cli ARGS`` in a fresh
    process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "urbanseg_core.cli", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2):  # 2: adapted model refused, memory still measured
        raise SystemExit(f"urbanseg {args[0]} failed with exit code {proc.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def memory(minutes: float, threads: int) -> dict:
    """Peak memory of predict and adapt on the same 290 km² (see the module docstring)."""
    image, reference = memory_inputs()
    out = {}
    out["predict"] = peak_mb(["predict", str(image), "-o", str(CACHE / "adapt_mask.tif"),
                              "--overwrite", "--dn-offset", "-1000"])
    out["adapt"] = peak_mb(["adapt", str(image), str(reference), "--dn-offset", "-1000",
                            "-o", str(CACHE / "adapt_model.json"), "--overwrite",
                            "--minutes", str(minutes),
                            "--threads", str(threads)])
    for k, (mb, s) in out.items():
        print(f"{k}: peak {mb:,.0f} MB, {s:.0f} s", flush=True)
    return {k: {"peak_rss_mb": round(mb), "seconds": round(s)} for k, (mb, s) in out.items()}


def _value(text: str):
    """A ``--set`` value: JSON (numbers, true, null) or else the plain word."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", default=",".join(CITIES))
    ap.add_argument("--folds", type=int, default=2, choices=(1, 2))
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--model", default=None, help="parent model card (default: bundled)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another adaptation setting, e.g. --set lr=0.0003")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--memory", action="store_true", help="peak memory of adapt vs predict")
    args = ap.parse_args(argv)
    if args.memory:
        result = memory(1.0, args.threads)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    settings = AdaptSettings(minutes=args.minutes, threads=args.threads,
                             max_steps=args.max_steps, **extra)
    parent = load_model(args.model)
    rows = []
    for city in args.cities.split(","):
        images = load(city)
        for fold in ((1,) if city == "islamabad" else range(1, args.folds + 1)):
            print(f"{city} fold {fold}", flush=True)
            rows.append(run_fold(city, images, fold, parent, settings))
            r = rows[-1]
            print(f"{city} fold {fold}: test same date {fmt(r, 'same_date')}; other date "
                  f"{fmt(r, 'other_date')}; val {r['val_before']:.3f} -> {r['val_after']:.3f}"
                  f" ({r['steps']} steps, {r['minutes']} min; "
                  + ("accepted" if r["accepted"] else "refused: the parent is kept")
                  + (f", gain lower bound {r['gain_low']:+.3f}" if r["gain_low"] is not None
                     else "") + ")", flush=True)
            if args.json:
                args.json.write_text(json.dumps(json_safe(
                    {"model": parent.card.name, "model_sha256": parent.sha256,
                     "settings": settings.model_dump(), "rows": rows}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
