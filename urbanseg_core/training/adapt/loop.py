"""Fine-tuning a parent model on a user's images and references, within a time budget.

The parent's weights are trained further on crops of the pairs outside their validation
blocks (:mod:`~urbanseg_core.training.adapt.split`), with the parent's inputs contract
(:class:`~urbanseg_core.training.augment.Prepare` with the parent card's normalisation, the
scene's haze removed first when the card asks for it), the training loss
(:class:`~urbanseg_core.training.losses.SegLoss`: focal cross-entropy + soft Dice, pixels
without reference ignored) and AdamW. The learning rate warms up, then follows a cosine to
zero over the *budget* (time or steps, whichever runs out first), so a run stopped by its
time limit has still annealed.

The blocks are scored with the parent first, then ``checks`` times with the adapted weights,
evenly over the budget; the best check is the result (``macro built-up Dice`` over the
built-up classes the reference has,
:func:`~urbanseg_core.evaluation.metrics.macro_builtup_present`). A labelled class with fewer
than :data:`MIN_JUDGED_PX` pixels in the blocks still counts (:func:`thin_classes` names it):
leaving it out let models through that lost it elsewhere.
It is *accepted* only when it beats the parent on the blocks
(:func:`~urbanseg_core.training.adapt.card.save_adapted` refuses it otherwise).

The time budget covers training and the checks, not reading the inputs: the checks take
about as long as scoring the parent did, and there are fewer of them when ``checks`` of them
would take more than half the budget. ``cancel()`` is
asked between steps; when it says so, :class:`~urbanseg_core.errors.CancelledError` is raised
and nothing is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader

from ...errors import CancelledError
from ...evaluation.metrics import confusion_matrix, macro_builtup_present, scores_from_confusion
from ...inference.features import estimate_haze, haze_sample
from ...inference.predict import ArraySource, predict_scene
from ...io.scene import Scene
from ...model.loading import LoadedModel, build_model
from ...model.network import blended
from ..augment import Prepare
from ..config import AugmentConfig, LossConfig
from ..datasets import MixtureDataset, SceneSource
from ..evaluation import in_memory_model
from ..losses import SegLoss
from .inputs import AdaptPair, absent_classes
from .split import Split, plan_splits

#: ``progress(fraction 0-1, message)``.
Progress = Callable[[float, str], None]
Log = Callable[[str], None]
#: Pixels of context predicted around a validation block (half the bundled tile overlap).
CONTEXT_PX = 32


class AdaptSettings(BaseModel):
    """How an adaptation runs (defaults: 5 minutes on 2 CPU threads)."""

    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(5.0, gt=0, le=240, description="time budget: training + checks")
    threads: int = Field(2, ge=1, le=256, description="CPU threads for PyTorch")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW)")
    weight_decay: float = 1e-4
    warmup: float = Field(0.05, ge=0, lt=1, description="share of the budget warming up")
    batch_size: int = Field(8, ge=1)
    crop_size: int = Field(96, ge=32, description=(
        "training crops' side, px (96 x 96 x 8 crops keep memory within what predict "
        "needs for the same area)"))
    seed: int = 0
    val_fraction: float = Field(0.2, gt=0, le=0.5, description=(
        "share of the built-up reference pixels in the validation block"))
    buffer_px: int = Field(32, ge=0, description="pixels around the block never trained on")
    checks: int = Field(3, ge=1, le=20, description="validation scores over the budget")
    train_layers: Literal["all", "decoder", "head"] = Field("all", description=(
        "which layers learn: all, the decoder (up1-up4 and the output layer), or the last "
        "up block and the output layer"))
    interpolate: float = Field(1.0, gt=0, le=1, description=(
        "the kept weights are parent + interpolate x (adapted - parent): below 1, part of "
        "the way from the parent (WiSE-FT, Wortsman et al. 2022: more robust to other "
        "dates and areas)"))
    confidence: float = Field(0.9, ge=0, lt=1, description=(
        "a model is accepted only when its gain on the validation blocks is above zero with "
        "this confidence (paired bootstrap over strips of the blocks); 0: any gain"))
    keep_absent: bool = Field(True, description=(
        "a class no reference labels is left out of the loss (its logit masked), so the "
        "model is not taught that it never occurs"))
    freeze_bn: bool = Field(True, description=(
        "keep the parent's BatchNorm statistics (the layers' scale and shift still learn)"))
    positive_fraction: float = Field(0.7, ge=0, le=1)
    non_residential_fraction: float = Field(0.5, ge=0, le=1)
    augment: AugmentConfig = AugmentConfig(gain=0.05, global_gain=0.1, offset=0.01, haze=0.02)
    loss: LossConfig = LossConfig()


@dataclass
class AdaptResult:
    """What an adaptation gave (see :func:`adapt`).

    Attributes:
        state: the best check's weights (a state dict).
        parent: the model adapted from.
        pairs: provenance of each pair (for the card).
        splits: each pair's validation block.
        before, after: scores of the parent and of ``state`` on the blocks
            (:func:`~urbanseg_core.evaluation.metrics.scores_from_confusion` plus
            ``macro_builtup_present``).
        history: one entry per check: step, minutes, score.
        steps: training steps done; best_step: the step of ``state``.
        minutes: wall time of training and checks.
        settings: the settings it ran with.
        absent: classes no reference labels (see :func:`~.inputs.absent_classes`).
    """

    state: dict
    parent: LoadedModel
    pairs: list[dict]
    splits: list[Split]
    before: dict
    after: dict
    history: list[dict]
    steps: int
    best_step: int
    minutes: float
    settings: AdaptSettings
    absent: list[str] = field(default_factory=list)
    strips_before: np.ndarray | None = None   # (K, 3, 3) confusion of each block strip
    strips_after: np.ndarray | None = None

    @property
    def score_before(self) -> float:
        return float(self.before["macro_builtup_present"])

    @property
    def score_after(self) -> float:
        return float(self.after["macro_builtup_present"])

    @property
    def thin(self) -> list[int]:
        """The labelled built-up classes the blocks hold few pixels of (:func:`thin_classes`
        of :attr:`strips_before`)."""
        return [] if self.strips_before is None else thin_classes(self.strips_before.sum(0))

    @property
    def gain_low(self) -> float | None:
        """The lower bound of the gain on the blocks at ``settings.confidence``
        (:func:`gain_bound`), ``None`` without strip scores."""
        if self.strips_before is None or self.strips_after is None:
            return None
        return gain_bound(self.strips_before, self.strips_after, self.settings.confidence)

    @property
    def accepted(self) -> bool:
        """Whether the adapted weights beat the parent on the validation blocks, by more
        than the blocks' own noise (:attr:`gain_low` above 0)."""
        low = self.gain_low
        return self.score_after > self.score_before and (low is None or low > 0)


@dataclass
class _Session:
    """The moving parts of one adaptation."""

    parent: LoadedModel
    model: torch.nn.Module
    pairs: Sequence[AdaptPair]
    splits: list[Split]
    hazes: list
    batches: object
    loss_fn: SegLoss
    opt: torch.optim.Optimizer
    settings: AdaptSettings
    probe: torch.nn.Module
    absent: torch.Tensor
    history: list[dict] = field(default_factory=list)


def scene_haze(scene: Scene, parent: LoadedModel) -> np.ndarray | None:
    """The ``(11,)`` haze ``predict`` would remove from a whole image for the parent's card
    (from the same sample of windows), or ``None`` when the card corrects none."""
    spec = parent.card.normalisation
    if spec.haze == "none":
        return None
    return estimate_haze(*haze_sample(ArraySource(scene)), spec)


def _session(pairs: Sequence[AdaptPair], parent: LoadedModel, s: AdaptSettings) -> _Session:
    """Splits, sources, a trainable copy of the parent, its loss and optimiser."""
    splits = plan_splits(pairs, s.val_fraction, s.buffer_px)
    hazes = [scene_haze(p.scene, parent) for p in pairs]
    sources = [SceneSource(p.scene.reflectance, p.label, 0.0, 1.0, sp.exclude.as_tuple(),
                           s.positive_fraction, s.non_residential_fraction,
                           has_b8="B8" in p.scene.band_names, name=p.name, haze=h)
               for p, sp, h in zip(pairs, splits, hazes)]
    weights = [max(int((p.label != 255).sum()), 1) for p in pairs]
    torch.manual_seed(s.seed)
    dataset = MixtureDataset(sources, weights, 10**7, s.crop_size,
                             Prepare(parent.card.normalisation, s.augment), s.seed)
    batches = iter(DataLoader(dataset, batch_size=s.batch_size, shuffle=False, num_workers=0))
    model = build_model(parent.card.architecture)
    model.load_state_dict(parent.model.state_dict())
    # channels-last convolutions: about 10 % more steps in the budget on a 2-core CPU
    model = model.to(memory_format=torch.channels_last)
    training_mode(model, s.freeze_bn)
    loss_fn = SegLoss(s.loss.ce_weight, s.loss.dice_weight, s.loss.focal_gamma,
                      s.loss.class_weights)
    opt = torch.optim.AdamW(trainable(model, s.train_layers), lr=s.lr,
                            weight_decay=s.weight_decay)
    probe = build_model(parent.card.architecture).eval()
    absent = torch.tensor([s.keep_absent and n == 0
                           for n in np.sum([p.class_px for p in pairs], axis=0)])
    return _Session(parent, model, pairs, splits, hazes, batches, loss_fn, opt, s, probe,
                    absent)


#: Top-level UNet blocks that learn, per ``train_layers`` (the others keep the parent's).
TRAINED_BLOCKS = {"all": None, "decoder": ("up1", "up2", "up3", "up4", "outc"),
                  "head": ("up4", "outc")}


def trainable(model: torch.nn.Module, layers: str) -> list[torch.nn.Parameter]:
    """The parameters that learn for ``layers`` (see :data:`TRAINED_BLOCKS`); the others
    get ``requires_grad`` False, so backpropagation stops at them."""
    blocks = TRAINED_BLOCKS[layers]
    out = []
    for name, param in model.named_parameters():
        learn = blocks is None or name.split(".")[0] in blocks
        param.requires_grad_(learn)
        if learn:
            out.append(param)
    return out


def training_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    """Put ``model`` in training mode; with ``freeze_bn`` its BatchNorm layers stay in eval
    mode, so they normalise with the parent's running statistics and do not update them
    (statistics of a few hundred crops of one date would replace those of the parent's
    training data and fit that date only)."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


#: Pieces each validation block is cut into, along its longer side, for :func:`gain_bound`.
STRIPS_PER_BLOCK = 10


def block_confusion(loaded: LoadedModel, pairs: Sequence[AdaptPair],
                    splits: Sequence[Split], hazes: Sequence) -> np.ndarray:
    """The ``(K, 3, 3)`` confusion matrices (rows = reference) of a model on the validation
    blocks, :data:`STRIPS_PER_BLOCK` pieces of each block cut along its longer side (their
    sum is the blocks' matrix). Each block is predicted as ``predict`` predicts it (same
    tiles, one tile at a time to keep memory low) with :data:`CONTEXT_PX` pixels of context
    around it."""
    cms = []
    for pair, split, haze in zip(pairs, splits, hazes):
        win = split.val.grown(CONTEXT_PX, pair.scene.shape)
        classes = predict_scene(pair.scene.window(win.rows, win.cols), loaded, haze=haze,
                                batch_size=1)
        r, c = split.val.r0 - win.r0, split.val.c0 - win.c0
        h, w = split.val.r1 - split.val.r0, split.val.c1 - split.val.c0
        pred = classes[r:r + h, c:c + w]
        ref = pair.label[split.val.rows, split.val.cols]
        axis = 1 if w >= h else 0
        edges = np.linspace(0, pred.shape[axis], STRIPS_PER_BLOCK + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            piece = (slice(None), slice(a, b)) if axis else (slice(a, b), slice(None))
            cms.append(confusion_matrix(pred[piece], ref[piece]))
    return np.stack(cms)


def gain_bound(before: np.ndarray, after: np.ndarray, confidence: float,
               resamples: int = 1000, seed: int = 0) -> float:
    """A lower bound of the gain in macro built-up Dice from ``before`` to ``after`` on the
    validation blocks: the ``1 - confidence`` quantile of the gain over a paired bootstrap
    of the blocks' strips (Efron & Tibshirani 1993; strips, not pixels, because neighbouring
    pixels are not independent). A gain that a few strips carry is not trusted.

    Args:
        before, after: ``(K, 3, 3)`` strip confusion matrices of the parent and the adapted
            model (:func:`block_confusion`), on the same strips.
        confidence: 0-1 (0: the plain gain, no resampling).

    Returns:
        The bound (macro built-up Dice difference); NaN when no resample has built-up
        reference pixels.
    """
    gain = macro_builtup_present(after.sum(0)) - macro_builtup_present(before.sum(0))
    if confidence <= 0:
        return float(gain)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(before), size=(resamples, len(before)))
    gains = np.array([macro_builtup_present(after[i].sum(0))
                      - macro_builtup_present(before[i].sum(0)) for i in picks])
    gains = gains[np.isfinite(gains)]
    return float(np.quantile(gains, 1 - confidence)) if gains.size else float("nan")


#: Fewer reference pixels of a labelled built-up class than this in the validation blocks
#: make the score uncertain for it (Hong Kong's block once held 30 residential pixels).
MIN_JUDGED_PX = 100


def thin_classes(cm: np.ndarray, min_px: int = MIN_JUDGED_PX) -> list[int]:
    """The built-up classes (index 1 and up) with some but fewer than ``min_px`` reference
    pixels in the ``(C, C)`` confusion matrix of the validation blocks (rows = reference):
    the score counts them, but says little about them."""
    support = np.asarray(cm).sum(axis=1)
    return [c for c in range(1, len(support)) if 0 < support[c] < min_px]


def block_scores(cm: np.ndarray, class_names: Sequence[str]) -> dict:
    """:func:`scores_from_confusion` plus ``macro_builtup_present`` (the selection score)."""
    return {**scores_from_confusion(cm, class_names),
            "macro_builtup_present": macro_builtup_present(cm)}


def _score_state(sess: _Session, state: dict) -> tuple[dict, np.ndarray]:
    """Scores of a state dict on the blocks (run by a separate network in eval mode) and
    the blocks' strip confusion matrices."""
    sess.probe.load_state_dict(state)
    strips = block_confusion(in_memory_model(sess.probe, sess.parent.card), sess.pairs,
                             sess.splits, sess.hazes)
    return block_scores(strips.sum(0), sess.parent.card.class_names), strips


def learning_rate(fraction: float, peak: float, warmup: float) -> float:
    """Linear warm-up from a tenth of ``peak`` over the first ``warmup`` of the budget, then
    a cosine to zero at ``fraction`` 1 (Loshchilov & Hutter 2017, SGDR, one cycle)."""
    if fraction < warmup:
        return peak * (0.1 + 0.9 * fraction / warmup)
    t = min((fraction - warmup) / max(1 - warmup, 1e-9), 1.0)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def _train_step(sess: _Session, lr: float) -> float:
    """One optimiser step on the next batch; returns the loss. The logits of classes no
    reference labels are masked (``keep_absent``): the loss is that of the classes the
    references can judge (a partial-label loss), so the parent's sense of the others is not
    trained away."""
    x, y = next(sess.batches)
    x = x.contiguous(memory_format=torch.channels_last)
    for group in sess.opt.param_groups:
        group["lr"] = lr
    logits = sess.model(x).masked_fill(sess.absent[None, :, None, None], -1e4)
    loss = sess.loss_fn(logits, y)
    sess.opt.zero_grad(set_to_none=True)
    loss.backward()
    sess.opt.step()
    return float(loss.item())


@dataclass
class _Budget:
    """Where a run is in its budget: the larger of the time share and the step share."""

    seconds: float
    max_steps: int | None
    started: float = field(default_factory=time.perf_counter)
    paused: float = 0.0   # seconds spent in checks, not counted against training

    def fraction(self, steps: int) -> float:
        by_time = (time.perf_counter() - self.started - self.paused) / self.seconds
        by_steps = steps / self.max_steps if self.max_steps else 0.0
        return max(by_time, by_steps)


def adapt(pairs: Sequence[AdaptPair], parent: LoadedModel,
          settings: AdaptSettings | None = None, progress: Progress | None = None,
          cancel: Callable[[], bool] | None = None, log: Log | None = None) -> AdaptResult:
    """Fine-tune ``parent`` on ``pairs`` (see the module docstring).

    Args:
        pairs: images with their references (:func:`~.inputs.read_pair`).
        parent: the model to start from (its card's inputs contract is kept).
        settings: budget and recipe (default :class:`AdaptSettings`).
        progress: called after each step with the budget's fraction used and a message.
        cancel: asked between steps; ``True`` stops the run.
        log: receives one line per check.

    Returns:
        An :class:`AdaptResult` (check ``accepted`` before saving it).

    Raises:
        ReferenceContentError: a validation block cannot be held back.
        CancelledError: ``cancel()`` said so.
    """
    settings = settings or AdaptSettings()
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _run(pairs, parent, settings, progress or (lambda f, m: None),
                    cancel or (lambda: False), log or (lambda m: None))
    finally:
        torch.set_num_threads(threads)


def planned_checks(wanted: int, seconds: float, check_s: float) -> int:
    """How many validation checks a run makes: ``wanted``, fewer when they would take more
    than half of the ``seconds`` budget at ``check_s`` seconds each, at least one."""
    return max(1, min(wanted, int(0.5 * seconds / max(check_s, 1e-3))))


def _run(pairs, parent, settings: AdaptSettings, progress: Progress, cancel, log) -> AdaptResult:
    start = time.perf_counter()
    sess = _session(pairs, parent, settings)
    t = time.perf_counter()
    before, strips_before = _score_state(sess, parent.model.state_dict())
    check_s = (time.perf_counter() - t) * 1.1
    _log_thin(strips_before.sum(0), parent.card.class_names, log)
    log(f"parent {parent.card.name} on the validation blocks: macro built-up Dice "
        f"{before['macro_builtup_present']:.3f}")
    seconds = settings.minutes * 60
    checks = planned_checks(settings.checks, seconds, check_s)
    left = seconds - (time.perf_counter() - start) - checks * check_s
    budget = _Budget(max(left, 0.05 * seconds), settings.max_steps)
    best, steps = _train(sess, budget, checks, progress, cancel, log)
    minutes = (time.perf_counter() - start) / 60
    return AdaptResult(best["state"], parent, [dict(p.provenance) for p in pairs],
                       sess.splits, before, best["scores"], sess.history, steps, best["step"],
                       round(minutes, 2), settings, absent_classes(pairs), strips_before,
                       best["strips"])


def _log_thin(cm: np.ndarray, names: Sequence[str], log: Log) -> None:
    """Say which labelled built-up classes the validation blocks hold few pixels of."""
    support = np.asarray(cm).sum(axis=1)
    for c in thin_classes(cm):
        log(f"{names[c]}: only {support[c]} reference pixels in the validation blocks; the "
            f"score says little about {names[c]}")


def _train(sess: _Session, budget: _Budget, checks: int, progress: Progress, cancel, log):
    """Train until the budget is used, scoring the blocks ``checks`` times; returns the best
    check (``{"state", "scores", "step"}``) and the number of steps."""
    s = sess.settings
    best: dict = {"scores": None, "state": None, "step": 0, "strips": None}
    steps, next_check, loss = 0, 1, math.nan
    while next_check <= checks:
        fraction = budget.fraction(steps)
        if fraction >= next_check / checks:
            t = time.perf_counter()
            _check(sess, best, steps, budget, log)
            budget.paused += time.perf_counter() - t
            next_check += 1
            continue
        if cancel():
            raise CancelledError("The adaptation was cancelled; no model was written.")
        loss = _train_step(sess, learning_rate(fraction, s.lr, s.warmup))
        steps += 1
        progress(min(fraction, 1.0), f"step {steps}, loss {loss:.3f}")
    return best, steps


def _check(sess: _Session, best: dict, steps: int, budget: _Budget, log: Log) -> None:
    """Score the current weights (blended with the parent's as ``settings.interpolate``
    says) on the blocks; keep them in ``best`` when they are the best so far."""
    state = {k: v.detach().clone() for k, v in sess.model.state_dict().items()}
    if sess.settings.interpolate < 1:
        state = blended(sess.parent.model.state_dict(), state, sess.settings.interpolate)
    scores, strips = _score_state(sess, state)
    score = scores["macro_builtup_present"]
    minutes = (time.perf_counter() - budget.started) / 60
    sess.history.append({"step": steps, "minutes": round(minutes, 2),
                         "macro_builtup_present": score})
    improved = best["scores"] is None or score > best["scores"]["macro_builtup_present"]
    if improved:
        best.update(scores=scores, state=state, step=steps, strips=strips)
    log(f"step {steps} ({minutes:.1f} min): validation macro built-up Dice {score:.3f}"
        + (" *" if improved else ""))
