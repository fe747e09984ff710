"""The training loop behind ``urbanseg train``: data, normalisation, AdamW, checkpoint choice
on held-out per-class Dice, final evaluation and the model card.

Checkpoints are chosen on ``selection_metric`` (default: macro built-up Dice) of the
*validation* half of the Islamabad held-out block; the *test* half, the EuroSAT held-out
patches and the Bercy Urban Atlas scene are only scored at the end, for the card. With
``swa_epochs > 0`` no checkpoint is chosen: the final weights are the average of the last
``swa_epochs`` epochs' weights (:func:`_swa_state`).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..errors import InputError
from ..inference.features import add_indices
from ..io.grid import wgs84_bounds
from ..model.network import blended, build_model, export_onnx, read_state_dict
from ..evaluation.metrics import json_safe, scores_from_confusion
from ..model.card import (
    DEFAULT_CLASSES, Architecture, ModelCard, Normalisation, card_and_weights, write_card,
)
from ..util import sha256_file
from ..inference.features import channel_statistics, estimate_haze
from . import evaluation as ev
from .augment import Prepare
from .cities import CITY_DESCRIPTIONS, CITY_NAMES, city_name
from .config import SourceConfig, TrainConfig
from .datasets import (
    IGNORE, EurosatMosaicSource, LabelledImage, MixtureDataset, PoolSource, SceneSource,
    holdout_rect, labelled_source, load_bercy, load_city, load_eurosat, load_islamabad,
    pair_sources, split_eurosat,
)
from .losses import SegLoss

Log = Callable[[str], None]


@dataclass
class TrainData:
    """Sources, their weights, held-out data and provenance for the card."""

    sources: list = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    val: tuple | None = None           # (scene, ref) used for checkpoint choice
    test: tuple | None = None          # (scene, ref) scored at the end only
    eurosat_held: list = field(default_factory=list)
    bercy_test_row0: int | None = None  # Bercy rows >= this are held out (None: not trained on)
    limitations: list[str] = field(default_factory=list)

    def add(self, source, weight: float, provenance: dict) -> None:
        """Add a training source with its draw weight and its provenance for the card."""
        self.sources.append(source)
        self.weights.append(weight)
        self.provenance.append(provenance)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def haze_spec(cfg: TrainConfig) -> Normalisation:
    """The haze part of the card's normalisation for a config (no statistics yet)."""
    return Normalisation(haze=cfg.haze_correction)


def _reflectance_haze(refl: np.ndarray, valid: np.ndarray, spec: Normalisation):
    """A scene's haze (``None`` when the config corrects none), from every 4th pixel."""
    if spec.haze == "none":
        return None
    return estimate_haze(refl[:, ::4, ::4], valid[::4, ::4], spec)


def _area(name: str, grids) -> dict:
    """``area`` (a place name) and ``bounds_wgs84`` (west, south, east, north, degrees: the
    union of the ``(crs, transform, shape)`` grids' extents) for a training-data entry of the
    card, so a run on an area the model learned from can say so
    (:func:`~urbanseg_core.model.card.training_areas`)."""
    boxes = [b for b in (wgs84_bounds(*grid) for grid in grids) if b]
    if not boxes:
        return {"area": name}
    return {"area": name, "bounds_wgs84": [round(min(b[0] for b in boxes), 5),
                                           round(min(b[1] for b in boxes), 5),
                                           round(max(b[2] for b in boxes), 5),
                                           round(max(b[3] for b in boxes), 5)]}


#: The pixels of the Onera OSCD city images (the Model page's training-data table).
OSCD_PIXELS = ("about 10 m (the B2 grid in latitude/longitude; 20 m and 60 m bands "
               "resampled bilinearly)")


def _holdout_words(block: tuple[int, int, int, int], split: int, buffer: int,
                   shape: tuple[int, int], pixel_m: float = 10.0) -> str:
    """How a scene with a held-out block was used, in words and kilometres (the Model page
    shows it): ``block`` is ``(row0, row1, col0, col1)``, columns before ``split`` the test
    block and the others the validation block."""
    def km(px: int) -> str:
        return f"{px * pixel_m / 1000:.1f} km"

    def side(low: bool, high: bool, names: tuple[str, str]) -> list[str]:
        """The edge the block touches on one axis (none when it spans the axis)."""
        return [names[0]] if low and not high else [names[1]] if high and not low else []

    r0, r1, c0, c1 = block
    sides = side(r0 == 0, r1 >= shape[0], ("north", "south")) + side(
        c0 == 0, c1 >= shape[1], ("west", "east"))
    where = ("in its middle" if not sides else f"at its {sides[0]} edge" if len(sides) == 1
             else f"at its {'-'.join(sides[:2])} corner")
    return (f"training on the whole scene except a {km(r1 - r0)} x {km(c1 - c0)} block "
            f"{where}, held out with a {buffer * pixel_m:.0f} m gap; of that block the "
            f"western {km(split - c0)} is the test block, the eastern {km(c1 - split)} the "
            "validation block")


def _add_islamabad(src: SourceConfig, cfg: TrainConfig, data: TrainData, spec, log: Log):
    isb = load_islamabad(cfg.data_root_path)
    H, W = isb.label.shape
    sub = isb.dn[:, ::4, ::4]
    haze = _reflectance_haze((sub.astype("float32") + isb.dn_offset) / 10000,
                             (sub != 0).all(axis=0), spec)
    if src.holdout is None:
        excl, use = None, "training on the whole scene"
    else:
        excl = holdout_rect(src.holdout, (H, W), buffer=True)
        r0, r1, c0, c1 = holdout_rect(src.holdout, (H, W), buffer=False)
        split = min(max(src.holdout.split_col, c0), c1)
        rows = slice(r0, r1)
        data.val = (isb.scene(rows, slice(split, c1)), isb.label[rows, split:c1])
        data.test = (isb.scene(rows, slice(c0, split)), isb.label[rows, c0:split])
        use = _holdout_words((r0, r1, c0, c1), split, src.holdout.buffer, (H, W))
    data.add(SceneSource(isb.dn, isb.label, isb.dn_offset, 10000.0, excl,
                         src.positive_fraction, src.non_residential_fraction, has_b8=False,
                         name="islamabad", haze=haze,
                         ignore_boundary_px=src.ignore_boundary_px), src.weight, {
        "name": "Islamabad/Rawalpindi Sentinel-2 L2A T43SCT 2018-12-27 with GHSL "
                "GHS-BUILT-C R2023A labels (JRC, CC BY 4.0)",
        "use": use, "reflectance": "Level-2A: (DN - 1000) / 10000",
        "pixel_size_m": "10 m (20 m bands and B9 at 60 m resampled, nearest neighbour)",
        **_area(CITY_NAMES["islamabad"], [(isb.crs, isb.transform, (H, W))]),
    })
    data.limitations.append("B8 replaced by B8A for the Islamabad scene (its 10 m B8 "
                            "is absent); B8 is replaced by B8A at random in training.")
    log(f"islamabad: {H} x {W} px, {use}")


def _add_eurosat(src: SourceConfig, cfg: TrainConfig, data: TrainData, spec, log: Log):
    patches = load_eurosat(cfg.data_root_path)
    train, held = split_eurosat(patches, src.holdout_fraction, cfg.seed)
    refl = np.stack([p.reflectance for p in train], axis=1)  # (11, n, 64, 64): one pool
    haze = _reflectance_haze(refl, (refl > 0).all(axis=0), spec)
    data.eurosat_held = held
    data.add(EurosatMosaicSource(train, src.mosaic, src.class_probabilities, haze=haze),
             src.weight, {
        "name": "EuroSAT-MS (Helber et al. 2019, MIT), Sentinel-2 L1C 64 x 64 patches",
        "use": f"{len(train)} patches for training as {src.mosaic} x {src.mosaic} "
               f"mosaics (patch label = pixel label), {len(held)} held out "
               f"(stratified, seed {cfg.seed}) for patch accuracy",
        "reflectance": "Level-1C: DN / 10000",
        "pixel_size_m": "10 m (EuroSAT's 20 m and 60 m bands resampled by its authors)",
    })
    log(f"eurosat: {len(train)} training patches, {len(held)} held out")


def _add_bercy(src: SourceConfig, cfg: TrainConfig, data: TrainData, spec, log: Log):
    pool, row0, grids = [], None, []
    for date, scene, ref in load_bercy(cfg.data_root_path):
        grids.append((scene.crs, scene.transform, scene.shape))
        H, W = scene.shape
        excl = None
        if src.holdout is not None:
            row0 = src.holdout.row0
            if not 0 < row0 < H:
                raise InputError(
                    f"A bercy source needs holdout.row0 inside the scene (1-{H - 1}; the "
                    f"README's trials used 340), not {row0}.")
            excl = (max(row0 - src.holdout.buffer, 0), H, 0, W)
        item = LabelledImage(f"bercy:{date}", scene, ref)
        pool.append(labelled_source(item, excl, src.positive_fraction,
                                    src.non_residential_fraction,
                                    _reflectance_haze(scene.reflectance, scene.valid, spec),
                                    src.ignore_boundary_px))
    data.bercy_test_row0 = row0
    use = ("training on both dates, every labelled pixel" if row0 is None else
           f"training on rows < {row0 - src.holdout.buffer} of the 10 m UTM grid the bands "
           f"are stacked on (both dates); rows >= {row0} held out for testing "
           f"({src.holdout.buffer} buffer rows between)")
    data.add(PoolSource(pool, name="bercy"), src.weight, {
        "name": "Bercy (Paris) Sentinel-2 L1C 2016-11-30 and 2017-08-29 (Onera OSCD) "
                "with Copernicus Urban Atlas land-use labels",
        "use": use, "reflectance": "Level-1C: DN / 10000",
        "pixel_size_m": "10 m (the bands stacked on a 10 m UTM grid, nearest neighbour)",
        **_area(CITY_NAMES["bercy"], grids)})
    log(f"bercy: {use}")


def _add_city(src: SourceConfig, cfg: TrainConfig, data: TrainData, spec, log: Log):
    if not src.path:
        raise InputError("A city source needs path: the folder under data_root "
                         "(e.g. hongkong_lcz).")
    folder = cfg.resolve_data(src.path)
    items = load_city(folder)
    pool = [labelled_source(it, None, src.positive_fraction, src.non_residential_fraction,
                            _reflectance_haze(it.scene.reflectance, it.scene.valid, spec),
                            src.ignore_boundary_px, f"{folder.name}:{it.name}")
            for it in items]
    counts = np.bincount(np.concatenate([it.label[it.label != IGNORE] for it in items]),
                         minlength=3)
    data.add(PoolSource(pool, name=folder.name), src.weight, {
        "name": CITY_DESCRIPTIONS.get(folder.name, f"{folder.name} (labelled images; "
                                      "provenance and licence in the folder's README.md)"),
        "use": f"training on {len(items)} labelled images, every labelled pixel "
               f"(other / non-residential / residential: {counts[0]:,} / {counts[1]:,} / "
               f"{counts[2]:,} px)"
               + (f"; pixels within {src.ignore_boundary_px} px of another label ignored"
                  if src.ignore_boundary_px else ""),
        "reflectance": "Level-1C: DN / 10000",
        "pixel_size_m": OSCD_PIXELS,
        **_area(city_name(folder.name),
                [(it.scene.crs, it.scene.transform, it.scene.shape) for it in items])})
    log(f"{folder.name}: {len(items)} images, labelled px {counts.tolist()}")


def _add_pairs(src: SourceConfig, cfg: TrainConfig, data: TrainData, spec, log: Log):
    folder = cfg.resolve(src.path)
    pool = pair_sources(folder, src.codes, src.dn_offset, src.positive_fraction,
                        src.non_residential_fraction, src.max_pixels)
    data.add(PoolSource(pool, name=f"pairs:{folder}"), src.weight,
             {"name": f"image/mask pairs in {folder}",
              "use": f"training, {len(pool)} pairs, codes {src.codes}"})
    log(f"pairs: {len(pool)} pairs from {folder}")


#: One loader per source type (see :class:`~.config.SourceConfig`).
SOURCE_BUILDERS: dict[str, Callable] = {
    "islamabad": _add_islamabad, "eurosat": _add_eurosat, "bercy": _add_bercy,
    "city": _add_city, "pairs": _add_pairs,
}


def build_data(cfg: TrainConfig, log: Log = print) -> TrainData:
    """Load every source in the config (see :class:`~.config.SourceConfig`).

    Raises:
        InputError: a source's files are missing or its settings do not fit the data.
    """
    data = TrainData()
    spec = haze_spec(cfg)
    for src in cfg.sources:
        SOURCE_BUILDERS[src.type](src, cfg, data, spec, log)
    return data


def compute_normalisation(data: TrainData, cfg: TrainConfig) -> Normalisation:
    """Per-channel mean/std of the 15 channels over ``stats_samples`` unaugmented crops."""
    rng = np.random.default_rng([cfg.seed, 999])
    w = np.asarray(data.weights, dtype="float64")
    feats, valids = [], []
    for _ in range(cfg.stats_samples):
        src = data.sources[rng.choice(len(data.sources), p=w / w.sum())]
        s = src.sample(rng, cfg.crop_size)
        feats.append(add_indices(s.reflectance)[:, ::2, ::2])
        valids.append(s.valid[::2, ::2])
    mean, std = channel_statistics(np.stack(feats), np.stack(valids))
    return haze_spec(cfg).model_copy(update=dict(
        method="standardize", mean=[round(m, 6) for m in mean],
        std=[round(max(s, 1e-4), 6) for s in std]))


def _fmt(m: dict) -> str:
    pc = m["per_class"]
    return (f"dice_w {m['dice_weighted']:.3f} macro {m['dice_macro_builtup']:.3f} "
            f"bin {m['dice_binary_builtup']:.3f} nonres {pc['non-residential']['dice']:.3f} "
            f"res {pc['residential']['dice']:.3f}")


def _val_summary(m: dict) -> dict:
    """The validation figures kept in the training history."""
    out = {k: m[k] for k in ("dice_weighted", "dice_macro_builtup", "dice_binary_builtup")}
    out["per_class_dice"] = {k: v["dice"] for k, v in m["per_class"].items()}
    return out


def _score(m: dict | None, metric: str) -> float:
    if m is None:
        return -math.inf
    v = m[metric]
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@dataclass
class Run:
    """The moving parts of one training run (see :func:`train`)."""

    cfg: TrainConfig
    data: TrainData
    card: ModelCard
    model: torch.nn.Module
    dataset: MixtureDataset
    loader: DataLoader
    loss_fn: SegLoss
    opt: torch.optim.Optimizer
    sched: object
    out_dir: Path
    start: float
    parent: Parent | None = None   # init_from's model
    history: list[dict] = field(default_factory=list)


@dataclass
class Parent:
    """The model a config fine-tunes from (``init_from``): its card, weights and digest."""

    card: ModelCard
    state: dict
    sha256: str


def load_parent(cfg: TrainConfig) -> Parent | None:
    """The ``init_from`` model of a config, its weights checked (``None`` without one).

    Raises:
        InputError: the weights' SHA-256 is not ``init_sha256``, or the parent corrects
            haze differently from the config (``haze_correction``).
        ModelLoadError: the card or weights cannot be read.
    """
    if cfg.init_from is None:
        return None
    card, weights = card_and_weights(cfg.resolve(cfg.init_from))
    digest = sha256_file(weights)
    if cfg.init_sha256 and digest != cfg.init_sha256:
        raise InputError(f"{weights} is not the model this config fine-tunes from (SHA-256 "
                         f"{digest[:12]}..., expected {cfg.init_sha256[:12]}...): train it "
                         "first with its own config.")
    if card.normalisation.haze != cfg.haze_correction:
        raise InputError(f"The config's haze_correction ({cfg.haze_correction}) differs from "
                         f"the model it fine-tunes from ({card.normalisation.haze}).")
    return Parent(card, read_state_dict(weights), digest)


def _new_card(cfg: TrainConfig, data: TrainData, norm: Normalisation,
              parent: Parent | None = None) -> ModelCard:
    arch = (parent.card.architecture if parent is not None else
            Architecture(base_width=cfg.model.base_width, bilinear=cfg.model.bilinear,
                         align_corners=cfg.model.align_corners))
    return ModelCard(
        name=cfg.name, version=cfg.version, description=cfg.description,
        weights=f"{cfg.name}.pt", architecture=arch, normalisation=norm,
        classes=DEFAULT_CLASSES, tile_size=256, overlap=64, training_data=data.provenance,
        limitations=list(data.limitations) + list(cfg.limitations),
    )


def configure_run(cfg: TrainConfig, log: Log = print) -> Run:
    """Data, normalisation, card, network, loader, loss, AdamW and its one-cycle schedule."""
    start = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    out_dir = cfg.output_path
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_data(cfg, log)
    parent = load_parent(cfg)
    norm = parent.card.normalisation if parent else compute_normalisation(data, cfg)
    card = _new_card(cfg, data, norm, parent)
    seed_everything(cfg.seed)
    model = build_model(card.architecture)
    if parent is not None:
        model.load_state_dict(parent.state)
        log(f"fine-tuning from {parent.card.name} {parent.card.version} "
            f"(sha256 {parent.sha256[:12]}...)")
    model.train()
    dataset = MixtureDataset(data.sources, data.weights, cfg.steps_per_epoch * cfg.batch_size,
                             cfg.crop_size, Prepare(card.normalisation, cfg.augment), cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, num_workers=0)
    loss_fn = SegLoss(cfg.loss.ce_weight, cfg.loss.dice_weight, cfg.loss.focal_gamma,
                      cfg.loss.class_weights)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr,
                                                total_steps=cfg.epochs * cfg.steps_per_epoch,
                                                pct_start=0.15)
    return Run(cfg, data, card, model, dataset, loader, loss_fn, opt, sched, out_dir, start,
               parent)


def train_epoch(run: Run, epoch: int, progress: bool) -> dict:
    """One pass over the epoch's crops; returns the history entry (loss, training Dice)."""
    cfg, model = run.cfg, run.model
    run.dataset.set_epoch(epoch)
    losses, train_cm = [], np.zeros((3, 3), dtype="int64")
    bar = tqdm(run.loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not progress, leave=False)
    for x, y in bar:
        logits = model(x)
        loss = run.loss_fn(logits, y)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        losses.append(loss.item())
        with torch.no_grad():
            ok = y != 255
            pred = logits.argmax(1)[ok].numpy()
            train_cm += np.bincount(y[ok].numpy() * 3 + pred, minlength=9).reshape(3, 3)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    bar.close()
    train_m = scores_from_confusion(train_cm, run.card.class_names)
    return {"epoch": epoch + 1, "loss": float(np.mean(losses)),
            "train_dice_weighted": train_m["dice_weighted"],
            "train_dice_macro_builtup": train_m["dice_macro_builtup"],
            "minutes": round((time.perf_counter() - run.start) / 60, 2)}


def _validate(run: Run, entry: dict) -> dict | None:
    """Score the validation block into ``entry`` when the config asks for it."""
    if run.data.val is None or not run.cfg.validate_each_epoch:
        return None
    val = ev.evaluate_block(run.model, run.card, *run.data.val)
    entry["val"] = _val_summary(val)
    return val


def train(cfg: TrainConfig, log: Log = print, progress: bool = True) -> tuple[Path, ModelCard]:
    """Train a UNet as the config says and write ``<name>.pt`` + ``<name>.json``.

    Returns:
        ``(card_path, card)``.

    Raises:
        InputError: data or config problems (plain-language message).
    """
    run = configure_run(cfg, log)
    best_state, best_score, best_epoch = None, -math.inf, -1
    swa_start = max(cfg.epochs - cfg.swa_epochs, 0)
    swa = torch.optim.swa_utils.AveragedModel(run.model) if cfg.swa_epochs else None
    stopped_early = False
    for epoch in range(cfg.epochs):
        entry = train_epoch(run, epoch, progress)
        val = _validate(run, entry)
        if swa is not None and epoch >= swa_start:
            swa.update_parameters(run.model)
        score = _score(val, cfg.selection_metric) if val is not None else float(epoch)
        improved = score > best_score and swa is None
        if improved:
            best_score, best_epoch = score, epoch + 1
            best_state = copy.deepcopy(run.model.state_dict())
            _save(best_state, run.card, run.out_dir,
                  _training_block(cfg, run.history + [json_safe(entry)], best_epoch,
                                  run.start, partial=True))
        run.history.append(json_safe(entry))
        log(f"epoch {epoch + 1}: loss {entry['loss']:.4f}, train dice_w "
            f"{entry['train_dice_weighted']:.3f} macro {entry['train_dice_macro_builtup']:.3f}"
            + (f"; val {_fmt(val)}" if val is not None else "")
            + (" *" if improved else "") + f" ({entry['minutes']:.1f} min)")
        if cfg.time_limit_min and (time.perf_counter() - run.start) / 60 > cfg.time_limit_min:
            log(f"time limit of {cfg.time_limit_min} min reached after epoch {epoch + 1}")
            stopped_early = True
            break
    if swa is not None:
        best_state, best_epoch = _swa_state(swa, run, log)
    if run.parent is not None and cfg.init_interpolate < 1:
        best_state = blended(run.parent.state, best_state, cfg.init_interpolate)
        best_epoch = f"{best_epoch}, interpolated {cfg.init_interpolate} of the way from " \
                     f"{run.parent.card.name} {run.parent.card.version}"
        log(f"weights: {cfg.init_interpolate} of the way from the parent to the trained ones")
    return _finish(run, best_state, best_epoch, stopped_early, log)


def _finish(run: Run, state, best_epoch, stopped_early: bool, log: Log):
    """Load the chosen weights, score them everywhere, write weights and card."""
    run.model.load_state_dict(state)
    run.model.eval()
    card = run.card
    card.metrics = json_safe(final_metrics(run.model, card, run.data, run.cfg, log))
    if run.cfg.cross_city:
        card.metrics["cross_city"] = cross_city_tables(run.cfg)
    card.limitations += measured_limitations(card.metrics)
    training = _training_block(run.cfg, run.history, best_epoch, run.start, partial=False)
    training["stopped_early_by_time_limit"] = stopped_early
    card_path = _save(state, card, run.out_dir, training)
    log(f"wrote {card_path} ({(time.perf_counter() - run.start) / 60:.1f} min)")
    return card_path, card


def _swa_state(swa, run: Run, log: Log):
    """Averaged weights with BatchNorm statistics recomputed on training batches
    (``torch.optim.swa_utils.update_bn``); returns ``(state_dict, description)``. When the
    time limit stopped training before the averaging window, the last weights are used."""
    if int(swa.n_averaged.item()) == 0:
        swa.update_parameters(run.model)
    n = int(swa.n_averaged.item())
    torch.optim.swa_utils.update_bn(islice(run.loader, run.cfg.swa_bn_batches), swa)
    run.model.load_state_dict(swa.module.state_dict())
    entry: dict = {"epoch": f"average of the last {n} epochs"}
    if run.data.val is not None:
        val = ev.evaluate_block(run.model, run.card, *run.data.val)
        entry["val"] = _val_summary(val)
        log(f"weight average of the last {n} epochs: val {_fmt(val)}")
    run.history.append(json_safe(entry))
    return copy.deepcopy(run.model.state_dict()), f"average of the last {n} epochs"


def _training_block(cfg: TrainConfig, history, best_epoch, start, partial: bool) -> dict:
    return {
        "command": "urbanseg train --config <this config>",
        "config": cfg.model_dump(exclude={"config_dir"}),
        "threads": cfg.threads,
        "minutes": round((time.perf_counter() - start) / 60, 1),
        "best_epoch": best_epoch,
        "selection": (f"weight average of the last {cfg.swa_epochs} epochs" if cfg.swa_epochs
                      else f"{cfg.selection_metric} of the validation half of the held-out "
                           "block"),
        "history": history,
        "partial": partial,
    }


def _save(model_state, card: ModelCard, out_dir: Path, training: dict) -> Path:
    weights = out_dir / card.weights
    torch.save(model_state, weights)
    card.sha256 = sha256_file(weights)
    export_onnx(model_state, card, out_dir)  # the graph inference runs without PyTorch
    card.training = json_safe(training)
    card_path = out_dir / f"{card.name}.json"
    write_card(card, card_path)
    return card_path


def final_metrics(model, card: ModelCard, data: TrainData, cfg: TrainConfig, log: Log) -> dict:
    """Score the chosen checkpoint on every held-out set, with baselines."""
    names = card.class_names
    metrics: dict = {"note": "Dice of a class absent from both maps is null (undefined). "
                             "Baselines: all 'other'; NDVI < 0.3 and MNDWI < 0 -> residential.",
                     "cpu_speed": ev.tile_speed_ms(model)}
    for label, block in (("islamabad_holdout_test", data.test),
                         ("islamabad_holdout_val", data.val)):
        if block is None:
            continue
        scene, ref = block
        m = ev.evaluate_block(model, card, scene, ref)
        metrics[label] = {"model": m, **ev.baselines(scene, ref, names)}
        log(f"{label}: model {_fmt(m)}")
        for b in ("all_other", "ndvi_mndwi_threshold"):
            log(f"{label}: {b} {_fmt(metrics[label][b])}")
    if data.eurosat_held:
        acc = ev.eurosat_patch_accuracy(model, card, data.eurosat_held)
        metrics["eurosat_heldout_patches"] = acc
        log(f"eurosat held-out patch accuracy {acc['accuracy']:.3f} (n={acc['n']}) "
            f"{acc['per_class']}")
    if cfg.validate_bercy:
        if (cfg.data_root_path / "bercy_urban_atlas").is_dir():
            out = {}
            for folder, scene, ref in load_bercy(cfg.data_root_path):
                if data.bercy_test_row0 is not None:  # score only the held-out rows
                    ref[:data.bercy_test_row0] = 255
                m = ev.evaluate_block(model, card, scene, ref)
                out[folder] = {"model": m, **ev.baselines(scene, ref, names)}
                log(f"bercy {folder}: model {_fmt(m)}")
                log(f"bercy {folder}: ndvi baseline {_fmt(out[folder]['ndvi_mndwi_threshold'])}")
            out["use"] = ("validation only (never trained on); Sentinel-2 L1C, Urban Atlas labels"
                          if data.bercy_test_row0 is None else
                          f"test: rows >= {data.bercy_test_row0} only (rows above them were "
                          "trained on); Sentinel-2 L1C, Urban Atlas labels")
            out["test_row0"] = data.bercy_test_row0  # None: no row was trained on
            metrics["bercy_urban_atlas"] = out
    return metrics


def cross_city_tables(cfg: TrainConfig) -> list[dict]:
    """The leave-one-city-out tables named by ``cfg.cross_city``, for the card: each the
    run's label (its config name or scored model), per-city Dice rows and their mean.

    Raises:
        InputError: a file is missing or is not a crossval / scores JSON.
    """
    out = []
    for name in cfg.cross_city:
        path = cfg.resolve(name)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            rows = {city: r["table"] for city, r in payload["cities"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cross_city: {path} is not a table written by urbanseg "
                             f"crossval ({exc}).") from exc
        label = payload.get("label") or payload.get("model") or path.parent.name
        out.append({"label": label, "file": path.name, "cities": rows,
                    "mean": payload.get("mean"), "minutes": payload.get("minutes")})
    return out


def measured_limitations(metrics: dict) -> list[str]:
    """Plain sentences on weak spots, from the measured metrics of :func:`final_metrics`."""
    out = []
    test = metrics.get("islamabad_holdout_test", {}).get("model")
    if test:
        pc = test["per_class"]
        nr = pc["non-residential"]["dice"]
        if nr is not None and nr < 0.5:
            out.append(f"Non-residential areas are poorly detected: Dice {nr:.2f} on the "
                       "held-out Islamabad block (non-residential is 0.5% of that scene's "
                       "pixels).")
        sp, sr = test["built_up_share_pred"], test["built_up_share_ref"]
        if sp is not None and sr is not None and abs(sp - sr) > 0.05:
            word = "over" if sp > sr else "under"
            out.append(f"The model {word}-estimates built-up area on the held-out Islamabad "
                       f"block ({100 * sp:.0f}% predicted vs {100 * sr:.0f}% in GHSL).")
    bercy_block = metrics.get("bercy_urban_atlas", {})
    bercy = bercy_block.get("imgs_2", {}).get("model")
    if bercy:
        trained_on = bercy_block.get("test_row0") is not None
        where = ("the held-out rows of the Level-1C Bercy (Paris) scene" if trained_on
                 else "the Level-1C Bercy (Paris) scene")
        why = ("only part of one dense European centre is in the training data" if trained_on
               else "dense European centres are unlike the training scene")
        out.append(
            f"On {where} with Urban Atlas labels the model finds built-up area (binary Dice "
            f"{bercy['dice_binary_builtup']:.2f}) but confuses residential and "
            f"non-residential (macro built-up Dice {bercy['dice_macro_builtup']:.2f}): {why}.")
    return out
