"""The model card of an adapted model, and saving it beside its weights.

The card is the parent's with its inputs contract untouched (bands, indices, normalisation
including the haze correction, architecture, classes, tile size and overlap), so every front
end reads the adapted model as it reads the parent. What changes: the name and weights, the
``parent`` (name, version, sha256), the data (``training_data``: each image and reference,
the labelled pixels per class, where it validated), ``training`` (minutes, steps, threads,
settings, the checks), ``metrics`` (the validation blocks' scores before and after) and two
more limitations.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import torch

from ...errors import InputError, NotBetterError
from ...evaluation.metrics import json_safe
from ...model.card import ModelCard, write_card
from ...model.network import export_onnx
from ...util import sha256_file
from .loop import AdaptResult

#: What the selection and refusal score is, in the card's words.
SCORE_NAME = "macro built-up Dice"
SCORE_NOTE = ("Mean Dice of the built-up classes (non-residential, residential) that the "
              "reference labels, on the validation blocks held back from the images the model "
              "was adapted on (never trained on, with a buffer around them). The blocks also "
              "chose the checkpoint, so expect a little less elsewhere in the region.")


def _parent_facts(result: AdaptResult) -> dict:
    card = result.parent.card
    return {"name": card.name, "version": card.version, "sha256": result.parent.sha256,
            "weights": card.weights}


def _training_data(result: AdaptResult) -> list[dict]:
    out = []
    for facts, split in zip(result.pairs, result.splits):
        out.append({**facts, "use": split.describe()})
    return out


def _training_block(result: AdaptResult) -> dict:
    s = result.settings
    return {"kind": "adaptation", "command": "urbanseg adapt", "parent": _parent_facts(result),
            "minutes": result.minutes, "steps": result.steps, "best_step": result.best_step,
            "threads": s.threads, "settings": s.model_dump(), "checks": result.history,
            "selection": f"the check with the best {SCORE_NAME} on the validation blocks"}


def absent_note(result: AdaptResult) -> str | None:
    """A sentence on the classes the references do not label, or ``None``."""
    if not result.absent:
        return None
    names = " and ".join(result.absent)
    if result.settings.keep_absent:
        return (f"The reference labels no {names} pixels: the training loss left "
                f"{names} out, so the adapted model was not taught anything about it; how "
                "well it finds it here is untested.")
    them = "them" if len(result.absent) > 1 else "it"
    return (f"The reference labels no {names} pixels: the adaptation taught the model nothing "
            f"new there and it may now predict {them} less than its parent did.")


def thin_names(result: AdaptResult) -> list[str]:
    """The names of the labelled built-up classes the validation blocks held few pixels of
    (:func:`~.loop.thin_classes`)."""
    names = result.parent.card.class_names
    return [names[c] for c in result.thin]


def _limitations(result: AdaptResult) -> list[str]:
    images = ", ".join(p.get("image", "?") for p in result.pairs)
    absent = absent_note(result)
    return ([absent] if absent else []) + [
        f"Adapted from {result.parent.card.name} on {images}: it fits that region, season "
        "and reference scheme best; check it against a reference before trusting it far "
        "from there.",
        f"{SCORE_NAME} on the held-back validation blocks: {result.score_before:.3f} for the "
        f"parent, {result.score_after:.3f} adapted; the blocks also chose the checkpoint.",
    ] + thin_note(result)


def thin_note(result: AdaptResult) -> list[str]:
    """A sentence (in a list, empty when none) when the validation blocks held few pixels of
    a labelled built-up class."""
    thin = " and ".join(thin_names(result))
    if not thin:
        return []
    return [f"The held-back validation blocks held few {thin} pixels, so their score says "
            f"little about {thin}: check {thin} against a reference before relying on it."]


def adapted_card(result: AdaptResult, name: str, description: str = "") -> ModelCard:
    """The card of an adaptation's weights (see the module docstring); ``sha256`` is set
    when the weights are written (:func:`save_adapted`).

    Args:
        result: what :func:`~.loop.adapt` returned.
        name: the model's name (and its weights' file stem).
        description: a sentence for the card; default: what it was adapted from and on.
    """
    parent = result.parent.card
    images = ", ".join(p.get("image", "?") for p in result.pairs)
    text = description or (
        f"{parent.name} {parent.version} adapted to {images} ({result.minutes:g} min, "
        f"{result.steps} steps on {result.settings.threads} CPU threads).")
    return parent.model_copy(deep=True, update={
        "name": name, "version": f"{parent.version}-adapted", "description": text,
        "weights": f"{name}.pt", "sha256": None, "parent": _parent_facts(result),
        "training_data": json_safe(_training_data(result)),
        "training": json_safe(_training_block(result)),
        "metrics": json_safe({"note": SCORE_NOTE, "validation_blocks": {
            "score": SCORE_NAME, "parent": result.before, "adapted": result.after,
            "gain_lower_bound": result.gain_low,
            "confidence": result.settings.confidence,
            "classes_with_few_pixels": thin_names(result)}}),
        "limitations": list(parent.limitations) + _limitations(result),
    })


def not_better(result: AdaptResult) -> NotBetterError | None:
    """Why adapted weights are refused (``None`` when they beat their parent on the
    validation blocks, ``result.accepted``): the scores, and the gain's lower bound when the
    gain is within the block's own variation."""
    if result.accepted:
        return None
    if result.score_after > result.score_before:
        reason = (f"scores {result.score_after:.3f} against {result.score_before:.3f} for "
                  f"{result.parent.card.name} on the held-back validation block, but that gain "
                  f"is within the block's own variation (lower bound {result.gain_low:+.3f} "
                  f"at {100 * result.settings.confidence:.0f} % confidence, from strips of "
                  "the block)")
    else:
        reason = (f"is no better than {result.parent.card.name} on the held-back validation "
                  f"block ({SCORE_NAME} {result.score_after:.3f} against "
                  f"{result.score_before:.3f})")
    return NotBetterError(
        f"The adapted model {reason}, so it was not saved.",
        "Adapt on a larger labelled area or for longer, or keep using the current model.",
        before=result.score_before, after=result.score_after, metric=SCORE_NAME)


def refuse_unless_better(result: AdaptResult) -> None:
    """Raise :func:`not_better`'s :class:`~urbanseg_core.errors.NotBetterError` unless the
    adapted weights beat their parent on the validation blocks."""
    refusal = not_better(result)
    if refusal is not None:
        raise refusal


def save_adapted(result: AdaptResult, card_path: str | Path,
                 description: str = "") -> tuple[Path, ModelCard]:
    """Write the adapted weights (``<stem>.pt``), their ONNX graph (``<stem>.onnx``) and
    their card (``card_path``).

    Both files are first written under temporary names in the card's folder, then renamed
    into place one after the other, the card last; when anything fails or is interrupted
    before that, the temporary files are removed and an earlier model of the same name is
    left as it was.

    Args:
        result: an accepted adaptation.
        card_path: the card's path, ending in ``.json``; the weights go beside it.
        description: see :func:`adapted_card`.

    Returns:
        ``(card path, card)``.

    Raises:
        NotBetterError: the adapted weights do not beat the parent (nothing is written).
        InputError: the path does not end in ``.json``, or its folder is missing or not
            writable.
    """
    card_path = Path(card_path)
    if card_path.suffix.lower() != ".json":
        raise InputError(f"A model card's name must end in .json, not {card_path.name}.",
                         "Name the output MY-MODEL.json; the weights are written beside it.")
    folder = card_path.parent if str(card_path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"The folder {folder} does not exist.", "Create it first.")
    refuse_unless_better(result)
    card = adapted_card(result, card_path.stem, description)
    weights = card_path.with_name(card.weights)
    tmp_weights, tmp_card = (p.with_name(f".{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
                             for p in (weights, card_path))
    tmp_dir = Path(tempfile.mkdtemp(prefix=".adapt-", dir=folder))
    try:
        torch.save(result.state, tmp_weights)
        card.sha256 = sha256_file(tmp_weights)
        graph = export_onnx(result.state, card, tmp_dir)  # predict runs it without PyTorch
        write_card(card, tmp_card)
        os.replace(tmp_weights, weights)
        os.replace(graph, folder / graph.name)
        os.replace(tmp_card, card_path)
    except OSError as exc:
        raise InputError(f"Cannot write the model to {card_path}: {exc.strerror or exc}.",
                         "Choose an existing, writable folder.") from exc
    finally:
        tmp_weights.unlink(missing_ok=True)
        tmp_card.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return card_path, card
