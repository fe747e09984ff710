"""Load a model: weights + card, the bundled default, or the original 2022 checkpoint.

A card that names its ONNX graph (``onnx``, ``onnx_sha256``; written beside the weights by
``urbanseg train`` and ``urbanseg export-onnx``) is run with ONNX Runtime without importing
PyTorch; the PyTorch network is read from the weights only when something asks for it
(:attr:`LoadedModel.model`), for the ``torch`` engine, on a GPU, and for weights without a
graph (see :mod:`urbanseg_core.model.engine`). Weights are always read with
``torch.load(..., weights_only=True)``: a checkpoint cannot run code. When a card gives a
sha256, the weights must match it; a graph must match its own sha256 and have been exported
from those very weights (the sha256 in its metadata).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError, StaleGraphError
from ..lazy import lazy_import
from ..util import sha256_file
from .card import (  # the card rules, re-exported: callers import them from here too
    DEFAULT_CARD, GRAPH_WEIGHTS_KEY, WEIGHTS_DIR, Architecture, ModelCard, card_and_weights,
    check_inputs, default_model_path, original_card,
)
from .engine import Logits, engine_choice, graph_logits, make_engine, softmax, torch_logits

__all__ = ["DEFAULT_CARD", "WEIGHTS_DIR", "LoadedModel", "build_model", "card_and_weights",
           "default_model_path", "load_model", "original_card"]

#: The module that needs PyTorch (building, reading and exporting the network).
NETWORK_MODULE = "urbanseg_core.model.network"


@dataclass(frozen=True)
class Device:
    """Where an engine runs, as ``torch.device`` describes it (``type`` "cpu" or "cuda",
    ``index``), for models that never built a PyTorch network."""

    type: str = "cpu"
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


class LoadedModel:
    """A model ready for inference: card, weights, engine and, on demand, the PyTorch network.
    Shared read-only between threads.

    Attributes:
        card: its model card.
        path: the weights file.
        sha256: hex digest of the weights file.
        engine: name of the engine that runs the network ("ONNX Runtime" or "PyTorch").
        engine_logits: the engine's function; ``None`` means PyTorch, set up on first use.
        threads: intra-op threads of the engine (``None``: the engine's default).
        graph: the shipped ONNX graph the engine runs (``None``: the network was read from
            the weights).
    """

    def __init__(self, model: Any, card: ModelCard, path: Path | None, sha256: str,
                 engine: str = "PyTorch", engine_logits: Logits | None = None,
                 device: Any = "cpu", threads: int | None = None, graph: Path | None = None):
        self._model = model
        self.graph = graph
        self.card = card
        self.path = path
        self.sha256 = sha256
        self.engine = engine
        self.engine_logits = engine_logits
        self.threads = threads
        self._device = device
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"LoadedModel({self.card.name!r}, path={str(self.path)!r}, "
                f"engine={self.engine!r}, sha256={self.sha256[:12]!r})")

    @property
    def model(self):
        """The PyTorch network (eval mode, no gradients), read from the weights on first use:
        this imports PyTorch.

        Raises:
            ModelLoadError, WeightsMismatchError: the weights cannot be read or do not fit.
        """
        with self._lock:
            if self._model is None:
                self._model = network().load_network(self.card, self.path, self._device)
        return self._model

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch: ``(N, 15, H, W)`` float32 -> ``(N, C, H, W)`` float32."""
        if self.engine_logits is None:
            self.engine_logits = torch_logits(self.model, self.threads)
        return self.engine_logits(x)

    def classify(self, x: np.ndarray) -> np.ndarray:
        """Class indices of a batch: ``(N, 15, H, W)`` float32 -> ``(N, H, W)`` uint8."""
        return self.logits(x).argmax(axis=1).astype(np.uint8)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax) of a batch: ``(N, 15, H, W)`` float32 ->
        ``(N, C, H, W)`` float32 summing to 1 over C."""
        return softmax(self.logits(x))

    @property
    def device(self):
        """The network's ``torch.device`` once it is built, else a :class:`Device` (the CPU
        for ONNX Runtime); both have ``type`` and print as ``"cpu"``, ``"cuda:0"``..."""
        if self._model is not None:
            return next(self._model.parameters()).device
        kind, _, index = str(self._device).partition(":")
        return Device(kind, int(index) if index else None)


def network():
    """:mod:`urbanseg_core.model.network`, imported now (it imports PyTorch)."""
    return lazy_import(NETWORK_MODULE)


def build_model(arch: Architecture):
    """An untrained UNet from a card's architecture block (imports PyTorch; see
    :func:`urbanseg_core.model.network.build_model`)."""
    return network().build_model(arch)


def _digest(path: Path, expected: str | None, what: str) -> str:
    """sha256 of ``path``; raises ModelLoadError when ``expected`` is given and differs."""
    digest = sha256_file(path)
    if expected and digest != expected:
        raise ModelLoadError(
            f"{path.name} does not match its model card (sha256 {digest[:12]}... instead of "
            f"{expected[:12]}...). The {what} may be damaged or replaced.", "Download it again.")
    return digest


def shipped_graph(card: ModelCard, folder: Path, verify: bool = True) -> Path | None:
    """The ONNX graph file a card names, checked against the card's ``onnx_sha256``;
    ``None`` when the card names none or the file is missing (the weights are used)."""
    if not card.onnx:
        return None
    path = folder / card.onnx
    if not path.is_file():
        return None
    _digest(path, card.onnx_sha256 if verify else None, "graph file")
    return path


def _graph_model(card: ModelCard, graph: Path, weights: Path, digest: str,
                 threads: int | None) -> LoadedModel:
    """A :class:`LoadedModel` running a shipped graph with ONNX Runtime (no PyTorch).

    Raises:
        StaleGraphError: the graph was exported from other weights than ``weights``.
    """
    arch = card.architecture
    logits, metadata = graph_logits(graph, arch.n_channels, arch.n_classes, threads)
    exported_from = metadata.get(GRAPH_WEIGHTS_KEY, "")
    if exported_from != digest:
        raise StaleGraphError(
            f"The ONNX graph {graph.name} was not exported from {weights.name} (it records "
            f"weights sha256 {exported_from[:12] or 'none'}..., the file has "
            f"{digest[:12]}...).", "Export the graph again from the weights.",
            graph=str(graph), weights=str(weights))
    return LoadedModel(None, card, weights, digest, "ONNX Runtime", logits, threads=threads,
                       graph=graph)


def load_model(path: str | Path | None = None, device: Any = "cpu", verify: bool = True,
               engine: str | None = None, threads: int | None = None) -> LoadedModel:
    """Load a model, ready for inference.

    With the ``auto`` or ``onnx`` engine on the CPU, a card's shipped ONNX graph
    (:func:`shipped_graph`) runs with ONNX Runtime and PyTorch is not imported; otherwise the
    weights are read with PyTorch (eval mode, no gradients, channels_last) and run as
    :func:`~urbanseg_core.model.engine.make_engine` decides.

    Args:
        path: a card (``.json``), a weights file (``.pt``/``.pth``; its card is the ``.json``
            of the same name; without one, the original 2022 checkpoint layout is assumed),
            or ``None`` for :func:`default_model_path`.
        device: torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
        verify: check the weights' and the graph's sha256 against the card.
        engine: ``"auto"`` (default, or ``$URBANSEG_ENGINE``), ``"onnx"`` or ``"torch"``; see
            :mod:`urbanseg_core.model.engine`.
        threads: intra-op threads of the engine (default: ``$OMP_NUM_THREADS``, else one per
            physical core).

    Returns:
        A :class:`LoadedModel`.

    Raises:
        ModelLoadError: missing files or a checksum mismatch; StaleGraphError: a graph
            exported from other weights.
        ModelCardError: the card asks for bands or indices the code cannot produce.
        WeightsMismatchError: weights that do not fit (lists the missing / unexpected /
            mis-shaped keys).
        MissingDependencyError: the ``onnx`` engine without onnxruntime.
    """
    card, weights = card_and_weights(path)
    if not weights.exists():
        raise ModelLoadError(f"Weights file not found: {weights}.")
    check_inputs(card)
    digest = _digest(weights, card.sha256 if verify else None, "file")
    choice = engine_choice(engine)
    on_cpu = str(device).partition(":")[0] == "cpu"
    graph = shipped_graph(card, weights.parent, verify) if choice != "torch" and on_cpu else None
    if graph is not None:
        try:
            return _graph_model(card, graph, weights, digest, threads)
        except ImportError:  # no onnxruntime: auto falls back to the weights and PyTorch
            if choice == "onnx":
                raise
    model = network().load_network(card, weights, device)
    logits, engine_name = make_engine(model, choice, threads)
    return LoadedModel(model, card, weights, digest, engine_name, logits, device, threads)
