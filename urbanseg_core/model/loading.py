"""Load a model: weights + card, the bundled default, or the original 2022 checkpoint.

Weights are always read with ``torch.load(..., weights_only=True)``: a checkpoint cannot run
code. When a card gives a sha256, the weights must match it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError, WeightsMismatchError
from ..util import sha256_file
from .card import (
    DEFAULT_CLASSES, Architecture, ModelCard, Normalisation, check_inputs, read_card,
)
from .engine import Logits, make_engine, softmax, torch_logits
from .unet import UNet

#: Folder of the bundled weights: package data (``urbanseg_core/model/weights/``), so an
#: installed wheel carries them.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Card of the bundled default model.
DEFAULT_CARD = WEIGHTS_DIR / "urbanseg-unet.json"


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


def original_card(weights: Path) -> ModelCard:
    """The card of the original project's ``final_model.pth`` (UNet(15, 3), base width 64)."""
    return ModelCard(
        name="original-2022-unet",
        version="2022",
        description="The MSc project's checkpoint (Reichman University, 2022), trained on "
                    "700 ESM-labelled 300 x 300 px Sentinel-2 images of 2018.",
        weights=weights.name,
        architecture=Architecture(base_width=64, bilinear=True, align_corners=True),
        normalisation=Normalisation(method="minmax_window", window=300),
        classes=DEFAULT_CLASSES,
        tile_size=300,
        overlap=0,
        training_data=[{"name": "ESM 2015 labels, Sentinel-2 SR mean composite 2018",
                        "images": 700}],
        metrics={"dice_weighted_test": 0.83, "source": "reported by the original project"},
        limitations=["Per-window min-max scaling: answers depend on the 300 px window; "
                     "seams between windows."],
    )


def default_model_path() -> Path:
    """The card to load when none is given: ``$URBANSEG_MODEL`` or the bundled model."""
    env = os.environ.get("URBANSEG_MODEL")
    return Path(env) if env else DEFAULT_CARD


def _read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Weights file not found: {weights}.") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelLoadError(
            f"{weights.name} is not a PyTorch state dict that can be loaded safely "
            f"({str(exc).splitlines()[0][:160]}). Save weights with "
            "torch.save(model.state_dict(), path)."
        ) from exc
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


def card_and_weights(path: str | Path | None = None) -> tuple[ModelCard, Path]:
    """The card and the weights file a model path names (see :func:`load_model`).

    Raises:
        ModelLoadError: the card cannot be read.
    """
    path = Path(path) if path is not None else default_model_path()
    if path.suffix.lower() == ".json":
        card = read_card(path)
        return card, path.parent / card.weights
    card_path = path.with_suffix(".json")
    return (read_card(card_path) if card_path.exists() else original_card(path)), path


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
