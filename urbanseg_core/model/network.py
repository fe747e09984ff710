"""Everything about a model that needs PyTorch: build the UNet, read weights, export the graph.

Inference does not need this module when a card names its ONNX graph
(:mod:`urbanseg_core.model.loading` runs the graph with ONNX Runtime and never imports
PyTorch); it is imported for training, for weights without a graph (``.pth`` checkpoints,
older cards) and to export a graph.

:func:`export_onnx` is the one place a graph is made: ``urbanseg train`` calls it whenever it
saves weights, and ``urbanseg export-onnx`` (:func:`export_card`) calls it for an existing card.
The graph takes ``(N, 15, H, W)`` float32 inputs (``x``, any batch size, height and width)
and returns ``(N, C, H, W)`` float32 logits (``logits``). Its metadata records the sha256 of
the weights it was exported from (:data:`~urbanseg_core.model.card.GRAPH_WEIGHTS_KEY`), so a
graph left over from earlier weights is refused at load.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError, WeightsMismatchError
from ..lazy import lazy_import
from ..util import sha256_file
from .card import GRAPH_WEIGHTS_KEY, Architecture, ModelCard, read_card, write_card
from .unet import UNet

#: ONNX opset of exported graphs (ONNX Runtime 1.18+ runs it).
OPSET = 17


def build_model(arch: Architecture) -> UNet:
    """An untrained UNet from a card's architecture block."""
    return UNet(n_channels=arch.n_channels, n_classes=arch.n_classes,
                base_width=arch.base_width, bilinear=arch.bilinear,
                align_corners=arch.align_corners)


def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(..., weights_only=True)`` (a checkpoint cannot run
    code); ``{"state_dict": ...}``-style wrappers and ``module.`` prefixes are unwrapped.

    Raises:
        ModelLoadError: the file is missing or does not hold a state dict of tensors.
    """
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Weights file not found: {weights}.") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelLoadError(  # PyTorch's own words go to `detail`, not into the sentence
            f"{weights.name} is not a model weights file that can be loaded safely: it may be "
            "damaged, another kind of file, or a checkpoint that holds code.",
            "Use weights trained by urbanseg (the .pt file with its .json card) or the "
            "original project's final_model.pth.",
            path=str(weights), detail=str(exc).strip()) from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"{weights.name} does not hold a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def blended(parent: dict, trained: dict, alpha: float) -> dict:
    """Weight interpolation of two state dicts of one architecture: ``parent + alpha *
    (trained - parent)`` for every floating-point tensor, BatchNorm statistics included
    (integer buffers such as BatchNorm's batch count are ``trained``'s). Below 1 it keeps
    part of the parent's behaviour (WiSE-FT, Wortsman et al. 2022, "Robust fine-tuning of
    zero-shot models": more robust to data unlike the fine-tuning data)."""
    return {k: (parent[k] + alpha * (v - parent[k]) if v.is_floating_point() else v).clone()
            for k, v in trained.items()}


def _shown(items: list[str], limit: int = 6) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_fit(model: UNet, state: dict[str, torch.Tensor], name: str) -> None:
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


def network_from_state(state: dict[str, torch.Tensor], arch: Architecture, name: str,
                       device: Any = "cpu") -> UNet:
    """The UNet of ``arch`` holding ``state``, in eval mode without gradients, channels_last
    (about 1.4x faster convolutions on CPU) on ``device``.

    Raises:
        WeightsMismatchError: ``state`` does not fit ``arch`` (``name`` names it).
    """
    model = build_model(arch)
    check_fit(model, state, name)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(device=device, memory_format=torch.channels_last)


def load_network(card: ModelCard, weights: Path, device: Any = "cpu") -> UNet:
    """The PyTorch network of a card's weights file (see :func:`network_from_state`).

    Raises:
        ModelLoadError: the file cannot be read; WeightsMismatchError: it does not fit.
    """
    return network_from_state(read_state_dict(weights), card.architecture, weights.name,
                              device)


def onnx_graph(model: torch.nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """A network on the CPU as a serialised ONNX graph, with ``metadata`` in the graph's
    ``metadata_props``: opset :data:`OPSET`, input ``x`` ``(N, C_in, H, W)`` and output
    ``logits`` ``(N, C, H, W)``, float32, any batch size, height and width.

    Raises:
        MissingDependencyError: the ``onnx`` package (the exporter needs it) is missing.
    """
    onnx = lazy_import("onnx")
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter warns about traced shape checks
        warnings.simplefilter("ignore")
        probe = torch.zeros(1, model.n_channels, 64, 64)
        torch.onnx.export(
            model, probe, buf, input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
            opset_version=OPSET, dynamo=False,
        )
    if not metadata:
        return buf.getvalue()
    graph = onnx.load_from_string(buf.getvalue())
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    return graph.SerializeToString()


def export_onnx(state: dict[str, torch.Tensor], card: ModelCard, folder: str | Path) -> Path:
    """Write the ONNX graph of ``state`` beside the card's weights and record it in the card.

    The graph goes to ``folder / <weights stem>.onnx`` (written under a temporary name, then
    renamed); ``card.onnx`` and ``card.onnx_sha256`` are set (write the card afterwards). The
    graph's metadata holds ``card.sha256``, the sha256 of the weights file, which must be set.

    Args:
        state: the weights (a state dict; on any device).
        card: their model card (architecture, weights file name, ``sha256``).
        folder: the card's folder.

    Returns:
        The graph's path.

    Raises:
        ModelLoadError: the card has no weights sha256.
        WeightsMismatchError: ``state`` does not fit the card's architecture.
    """
    if not card.sha256:
        raise ModelLoadError(f"The model card {card.name} has no weights sha256 to tie the "
                             "ONNX graph to.", "Save the weights and set the card's sha256 "
                             "first.")
    cpu_state = {k: v.detach().cpu() for k, v in state.items()}
    model = network_from_state(cpu_state, card.architecture, card.weights)
    graph = onnx_graph(model, {GRAPH_WEIGHTS_KEY: card.sha256})
    path = Path(folder) / Path(card.weights).with_suffix(".onnx").name
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(graph)
    tmp.replace(path)
    card.onnx = path.name
    card.onnx_sha256 = sha256_file(path)
    return path


def export_card(card_path: str | Path) -> Path:
    """(Re)write the ONNX graph of an existing card's weights and record it in the card:
    after the weights were replaced, or for a card made before graphs were shipped.

    Returns:
        The graph's path (``<weights stem>.onnx`` beside the weights).

    Raises:
        ModelLoadError: the card or weights cannot be read, or the weights do not match the
            card's sha256.
        WeightsMismatchError: the weights do not fit the card's architecture.
    """
    card_path = Path(card_path)
    card = read_card(card_path)
    weights = card_path.parent / card.weights
    if not weights.exists():
        raise ModelLoadError(f"Weights file not found: {weights}.")
    digest = sha256_file(weights)
    if card.sha256 and digest != card.sha256:
        raise ModelLoadError(
            f"{weights.name} does not match its model card (sha256 {digest[:12]}... instead of "
            f"{card.sha256[:12]}...), so no graph is exported from it.",
            "Put the card's own weights beside it, or correct the card's sha256.")
    card.sha256 = digest
    path = export_onnx(read_state_dict(weights), card, card_path.parent)
    write_card(card, card_path)
    return path
