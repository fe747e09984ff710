"""Load a model: weights + card, the bundled default, or the original 2022 checkpoint.

Weights are always read with ``torch.load(..., weights_only=True)``: a checkpoint cannot run
code. When a card gives a sha256, the weights must match it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError, WeightsMismatchError
from ..util import sha256_file
from .card import (  # the card rules, re-exported: callers import them from here too
    DEFAULT_CARD, WEIGHTS_DIR, Architecture, ModelCard, card_and_weights, check_inputs,
    default_model_path, original_card,
)

__all__ = ["DEFAULT_CARD", "WEIGHTS_DIR", "LoadedModel", "build_model", "card_and_weights",
           "default_model_path", "load_model", "original_card"]
from .engine import Logits, make_engine, softmax, torch_logits
from .unet import UNet

@dataclass
class LoadedModel:
    """A network in eval mode with its card and inference engine. Shared read-only between
    threads.

    Attributes:
        model: the PyTorch network (eval mode, no gradients).
        card: its model card.
        path: the weights file.
        sha256: hex digest of the weights file.
        engine: name of the engine that runs the network ("ONNX Runtime" or "PyTorch").
        engine_logits: the engine's function; ``None`` means PyTorch, set up on first use.
    """

    model: UNet
    card: ModelCard
    path: Path
    sha256: str
    engine: str = "PyTorch"
    engine_logits: Logits | None = None

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch: ``(N, 15, H, W)`` float32 -> ``(N, C, H, W)`` float32."""
        if self.engine_logits is None:
            self.engine_logits = torch_logits(self.model)
        return self.engine_logits(x)

    def classify(self, x: np.ndarray) -> np.ndarray:
        """Class indices of a batch: ``(N, 15, H, W)`` float32 -> ``(N, H, W)`` uint8."""
        return self.logits(x).argmax(axis=1).astype(np.uint8)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax) of a batch: ``(N, 15, H, W)`` float32 ->
        ``(N, C, H, W)`` float32 summing to 1 over C."""
        return softmax(self.logits(x))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Weights file not found: {weights}.") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelLoadError(  # PyTorch's own words go to `detail`, not into the sentence
            f"{weights.name} is not a model weights file that can be loaded safely: it may be "
            "damaged, another kind of file, or a checkpoint that holds code.",
            "Use the .pt file that urbanseg train wrote, or the original final_model.pth "
            "(weights saved with torch.save(model.state_dict(), path)).",
            path=str(weights), detail=str(exc).strip()) from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"{weights.name} does not hold a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _shown(items: list[str], limit: int = 6) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _check_fit(model: UNet, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise a WeightsMismatchError listing missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in expected if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        parts = [f"{len(items)} {label} key(s): {_shown(items)}"
                 for label, items in (("missing", missing), ("unexpected", unexpected),
                                      ("mis-shaped", misshaped)) if items]
        raise WeightsMismatchError(
            f"The weights in {name} do not fit this UNet ({'; '.join(parts)}).",
            "Use weights trained by urbanseg with their card, or the original "
            "final_model.pth.", missing=missing, unexpected=unexpected, misshaped=misshaped)


def build_model(arch: Architecture) -> UNet:
    """An untrained UNet from a card's architecture block."""
    return UNet(n_channels=arch.n_channels, n_classes=arch.n_classes,
                base_width=arch.base_width, bilinear=arch.bilinear,
                align_corners=arch.align_corners)


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu",
               verify: bool = True, engine: str | None = None) -> LoadedModel:
    """Load weights and card, ready for inference (eval mode, no gradients).

    Args:
        path: a card (``.json``), a weights file (``.pt``/``.pth``; its card is the ``.json``
            of the same name; without one, the original 2022 checkpoint layout is assumed),
            or ``None`` for :func:`default_model_path`.
        device: torch device.
        verify: check the weights' sha256 against the card.
        engine: ``"auto"`` (default, or ``$URBANSEG_ENGINE``), ``"onnx"`` or ``"torch"``; see
            :mod:`urbanseg_core.model.engine`.

    Returns:
        A :class:`LoadedModel`.

    Raises:
        ModelLoadError: missing files or a checksum mismatch.
        ModelCardError: the card asks for bands or indices the code cannot produce.
        WeightsMismatchError: weights that do not fit (lists the missing / unexpected /
            mis-shaped keys).
    """
    card, weights = card_and_weights(path)
    if not weights.exists():
        raise ModelLoadError(f"Weights file not found: {weights}.")
    check_inputs(card)
    digest = sha256_file(weights)
    if verify and card.sha256 and digest != card.sha256:
        raise ModelLoadError(
            f"{weights.name} does not match its model card (sha256 {digest[:12]}... instead of "
            f"{card.sha256[:12]}...). The file may be damaged or replaced.",
            "Download it again.")
    state = _read_state_dict(weights)
    model = build_model(card.architecture)
    _check_fit(model, state, weights.name)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    # channels_last: about 1.4x faster convolutions on CPU (benchmarks/bench_inference.py)
    model.to(device=device, memory_format=torch.channels_last)
    logits, engine_name = make_engine(model, engine)
    return LoadedModel(model=model, card=card, path=weights, sha256=digest, engine=engine_name,
                       engine_logits=logits)
