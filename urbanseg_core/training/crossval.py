"""Leave-one-city-out cross-validation: how a training recipe does on cities it never saw.

For each labelled city in a training config, the recipe is trained without that city's
sources and scored on it; the per-city, per-class Dice table and its mean over the left-out
cities are what recipes are chosen on (``../shared/data/README.md``: a model chosen on one
city's test block is known to fall apart elsewhere). :func:`score_model` scores an existing
model on every city the same way, for baselines such as the bundled model.

What a left-out city is scored on (:func:`city_images`):

- ``islamabad``: the source's held-out block (both its validation and test parts), so a
  model trained on the rest of the scene can be compared on the same pixels;
- ``bercy``: both dates, every labelled pixel;
- a ``city`` folder: every labelled image (both dates).

Scores pool the confusion matrices of a city's images. A class the city's labels do not
contain (no residential label in Montpellier, no "other" in West San Jose) has no Dice
(null), and the macro built-up Dice is then the mean over the built-up classes it has.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import InputError
from ..model.card import card_and_weights
from ..model.loading import LoadedModel, load_model
from ..evaluation.metrics import confusion_matrix, json_safe, scores_from_confusion
from ..inference.pipeline import segment_scene
from .config import HoldoutBlock, SourceConfig, TrainConfig
from .datasets import LabelledImage, holdout_rect, load_bercy, load_city, load_islamabad
from .loop import train

Log = Callable[[str], None]
#: Figures in the table, in column order.
COLUMNS = ("other", "non-residential", "residential", "macro_builtup", "binary_builtup",
           "weighted")


def source_city(src: SourceConfig) -> str | None:
    """The city a source belongs to (``None``: not a city, e.g. EuroSAT patches)."""
    if src.city:
        return src.city
    if src.type in ("islamabad", "bercy"):
        return src.type
    if src.type == "city" and src.path:
        return Path(src.path).name
    return None


def config_cities(cfg: TrainConfig) -> list[str]:
    """The cities of a config's sources, in config order, each once."""
    out: list[str] = []
    for src in cfg.sources:
        city = source_city(src)
        if city and city not in out:
            out.append(city)
    return out


def parent_cities(cfg: TrainConfig) -> list[str]:
    """The cities the ``init_from`` model was trained on (from its card's training config):
    a fold that starts from it cannot leave them out. Empty without ``init_from`` or when the
    card does not say."""
    if cfg.init_from is None:
        return []
    card, _ = card_and_weights(cfg.resolve(cfg.init_from))
    sources = ((card.training or {}).get("config") or {}).get("sources") or []
    cities = []
    for raw in sources:
        try:
            city = source_city(SourceConfig.model_validate(raw))
        except ValueError:
            continue
        if city and city not in cities:
            cities.append(city)
    return cities


def without_city(cfg: TrainConfig, city: str, output_dir: Path) -> TrainConfig:
    """A copy of ``cfg`` with ``city``'s sources removed, writing to ``output_dir``."""
    sources = [s for s in cfg.sources if source_city(s) != city]
    return cfg.model_copy(update={"sources": sources, "output_dir": str(output_dir),
                                  "validate_bercy": False})


def city_images(cfg: TrainConfig, city: str) -> list[LabelledImage]:
    """The labelled images a city is scored on (see the module docstring).

    Raises:
        InputError: the city's files are missing.
    """
    src = next(s for s in cfg.sources if source_city(s) == city)
    root = cfg.data_root_path
    if src.type == "islamabad":
        block = src.holdout or HoldoutBlock()
        isb = load_islamabad(root)
        r0, r1, c0, c1 = holdout_rect(block, isb.label.shape, buffer=False)
        return [LabelledImage("islamabad held-out block", isb.scene(slice(r0, r1),
                              slice(c0, c1)), isb.label[r0:r1, c0:c1])]
    if src.type == "bercy":
        return [LabelledImage(f"bercy:{d}", scene, ref) for d, scene, ref in load_bercy(root)]
    return load_city(cfg.resolve_data(src.path))


def city_scores(loaded: LoadedModel, images: Iterable[LabelledImage]) -> dict:
    """Scores of a model on a city's images, from their pooled confusion matrix.

    Returns:
        :func:`~urbanseg_core.metrics.scores_from_confusion`'s dict plus ``table``: Dice of
        each class (``None`` for a class without reference pixels), ``macro_builtup`` (mean
        of the built-up classes that have reference pixels), ``binary_builtup`` and
        ``weighted``.
    """
    cm = np.zeros((3, 3), dtype="int64")
    for item in images:
        classes = segment_scene(item.scene, loaded, batch_size=4).classes
        cm += confusion_matrix(classes, item.label)
    scores = scores_from_confusion(cm, loaded.card.class_names)
    support = cm.sum(axis=1)
    dice = {name: (c["dice"] if support[i] else None)
            for i, (name, c) in enumerate(scores["per_class"].items())}
    built = [d for d in (dice["non-residential"], dice["residential"]) if d is not None]
    scores["table"] = {**dice, "macro_builtup": float(np.mean(built)) if built else None,
                       "binary_builtup": scores["dice_binary_builtup"],
                       "weighted": scores["dice_weighted"]}
    return json_safe(scores)


def score_model(loaded: LoadedModel, cfg: TrainConfig, log: Log = print) -> dict:
    """Score one model on every city of ``cfg`` (a baseline row of the protocol)."""
    out = {}
    for city in config_cities(cfg):
        out[city] = city_scores(loaded, city_images(cfg, city))
        log(f"{city}: {format_row(out[city]['table'])}")
    return {"model": loaded.card.name, "model_sha256": loaded.sha256, "cities": out,
            "mean": mean_row(out)}


def crossval(cfg: TrainConfig, output_dir: Path, cities: list[str] | None = None,
             log: Log = print, progress: bool = False) -> dict:
    """Train ``cfg`` once per city without it and score each model on its left-out city.

    Args:
        cfg: a training config whose sources cover several cities.
        output_dir: one sub-folder per left-out city (weights, card, log) and
            ``crossval.json`` / ``crossval.md`` (the table) are written here.
        cities: a subset of :func:`config_cities` to leave out (default: all).

    Returns:
        ``{"config", "cities": {city: scores}, "mean": {...}, "minutes"}``.

        Cities the ``init_from`` model was trained on (:func:`parent_cities`) have no fold.

    Raises:
        InputError: an unknown city, a city the ``init_from`` model was trained on, or the
            config has fewer than two cities.
    """
    known = config_cities(cfg)
    seen = parent_cities(cfg)
    asked_seen = [c for c in cities or [] if c in seen]
    if asked_seen:
        raise InputError(f"{', '.join(asked_seen)} cannot be left out: the model this config "
                         f"starts from (init_from) was trained on it.")
    cities = cities or [c for c in known if c not in seen]
    unknown = [c for c in cities if c not in known]
    if unknown or len(known) < 2 or not cities:
        raise InputError(f"Cross-validation needs at least two cities in the config and "
                         f"cities among {', '.join(known) or 'none'}; got "
                         f"{', '.join(unknown) or 'only ' + str(len(known))}.")
    if seen:
        log(f"not left out (the init_from model was trained on them): {', '.join(seen)}")
    output_dir.mkdir(parents=True, exist_ok=True)
    start, results = time.perf_counter(), {}
    for city in cities:
        log(f"--- leaving out {city}")
        fold = without_city(cfg, city, output_dir / city)
        card_path, _ = train(fold, log=log, progress=progress)
        loaded = load_model(card_path)
        results[city] = city_scores(loaded, city_images(cfg, city))
        log(f"{city} (left out): {format_row(results[city]['table'])}")
        write_results(output_dir, cfg, results, start)
    return write_results(output_dir, cfg, results, start)


def mean_row(results: dict) -> dict:
    """Mean of each column over cities (cities without a value for it are skipped)."""
    out = {}
    for col in COLUMNS:
        vals = [r["table"][col] for r in results.values() if r["table"].get(col) is not None]
        out[col] = float(np.mean(vals)) if vals else None
    return out


def format_row(row: dict) -> str:
    """One table row as text: Dice per class, macro and binary built-up, weighted."""
    def f(v):
        return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
    return " | ".join(f(row.get(c)) for c in COLUMNS)


def markdown_table(results: dict, mean: dict) -> str:
    """The per-city table (and its mean) in Markdown."""
    head = ("| left-out city | Dice other | Dice non-res. | Dice res. | macro built-up | "
            "binary built-up | weighted |\n|---|---|---|---|---|---|---|")
    rows = [f"| {city} | {format_row(r['table'])} |" for city, r in results.items()]
    rows.append(f"| **mean** | {format_row(mean)} |")
    return "\n".join([head, *rows])


def write_results(output_dir: Path, cfg: TrainConfig, results: dict, start: float) -> dict:
    """Write ``crossval.json`` and ``crossval.md`` and return the JSON payload."""
    payload = json_safe({"config": cfg.model_dump(exclude={"config_dir"}), "cities": results,
                         "mean": mean_row(results),
                         "minutes": round((time.perf_counter() - start) / 60, 1)})
    (output_dir / "crossval.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    (output_dir / "crossval.md").write_text(markdown_table(results, payload["mean"]) + "\n",
                                            encoding="utf-8")
    return payload
