"""Inference engines: ONNX Runtime on the graph shipped with the weights, else PyTorch.

A model card names the ONNX graph exported from its weights (``onnx``, written by
``urbanseg train`` and ``urbanseg export-onnx``, see :mod:`urbanseg_core.model.network`).
:func:`graph_logits` runs it with an ONNX Runtime CPU session: no PyTorch import, and the
session is ready in a fraction of a second. Weights without a graph (``.pth`` checkpoints,
older cards) are read with PyTorch; on CPU they are then exported in memory to ONNX Runtime
(:func:`onnx_logits`, about 2x faster than PyTorch on CPU), else run by PyTorch itself
(:func:`torch_logits`). Every engine takes ``(N, 15, H, W)`` float32 inputs and returns
``(N, C, H, W)`` float32 logits (class indices and probabilities are derived from them in
:class:`~urbanseg_core.model.loading.LoadedModel`); ``benchmarks/bench_inference.py`` measures
their speed and pixel agreement side by side.

Choose with ``URBANSEG_ENGINE=onnx|torch`` (default ``auto``: ONNX Runtime if importable, on
CPU only). Engines are safe to call from several threads at once. PyTorch and ONNX Runtime
are imported here only when an engine needs them (:func:`~urbanseg_core.lazy.lazy_import`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ModelLoadError
from ..lazy import lazy_import

Logits = Callable[[np.ndarray], np.ndarray]

#: Engine names :func:`engine_choice` accepts.
ENGINES = ("auto", "onnx", "torch")


def engine_choice(engine: str | None = None) -> str:
    """``engine``, else ``$URBANSEG_ENGINE``, else ``"auto"``, in lower case.

    Raises:
        ValueError: not one of :data:`ENGINES`.
    """
    engine = (engine or os.environ.get("URBANSEG_ENGINE") or "auto").lower()
    if engine not in ENGINES:
        raise ValueError(f"engine must be auto, onnx or torch, not {engine!r}")
    return engine


def default_threads() -> int:
    """Intra-op threads when none are given: ``$OMP_NUM_THREADS`` when set (dask workers set
    it to 1), else 0, which lets ONNX Runtime use one thread per physical core (PyTorch's
    default too)."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() else 0


def _session(graph: bytes | str | Path, threads: int | None):
    """An ONNX Runtime CPU session on a serialised graph or a graph file."""
    ort = lazy_import("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else default_threads()
    options.log_severity_level = 3  # errors only
    # The memory arena keeps the largest batch's buffers: with predict's ~0.5 M px batches a
    # 400 km² raster peaks near 0.9 GB RSS (0.7 GB without the arena, 15 % slower; 1.3-1.9 GB
    # with 1 M px batches), measured with benchmarks/bench_inference.py. Memory patterns
    # (one block planned per input shape) are off: they held 456 MiB against 288 MiB for
    # batches of 8 x 256 px, and a second block for each other batch shape, at the same
    # speed (median ratio 1.01 over 10 interleaved runs).
    options.enable_mem_pattern = False
    graph = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _run(session) -> Logits:
    def logits(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    return logits


def graph_logits(path: Path, n_channels: int, n_classes: int,
                 threads: int | None = None) -> tuple[Logits, dict[str, str]]:
    """Run a shipped ONNX graph file with ONNX Runtime (PyTorch is not imported).

    Args:
        path: the ``.onnx`` file (its sha256 is checked by the caller).
        n_channels, n_classes: what the card says the network takes and returns; the graph's
            input ``(N, n_channels, H, W)`` and output ``(N, n_classes, H, W)`` must agree.
        threads: intra-op threads (default :func:`default_threads`).

    Returns:
        ``(logits function, the graph's custom metadata)``.

    Raises:
        MissingDependencyError: onnxruntime is not installed (an ``ImportError``).
        ModelLoadError: the file is not an ONNX graph ONNX Runtime can run, or its input or
            output does not fit the card.
    """
    try:
        session = _session(path, threads)
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
        raise ModelLoadError(
            f"{path.name} is not an ONNX graph that ONNX Runtime can run "
            f"({str(exc).splitlines()[0][:160]}).", "Export the graph again from the "
            "weights.") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shapes = (inputs[0].shape[1] if len(inputs) == 1 else None,
              outputs[0].shape[1] if outputs else None)
    if shapes != (n_channels, n_classes):
        raise ModelLoadError(
            f"The ONNX graph {path.name} takes {shapes[0]} channels and gives {shapes[1]} "
            f"classes, but its card says {n_channels} and {n_classes}.",
            "Export the graph again from the card's weights.")
    return _run(session), dict(session.get_modelmeta().custom_metadata_map)


def torch_logits(model: Any, threads: int | None = None) -> Logits:
    """Logits from the PyTorch model itself (eval mode, ``inference_mode``, channels_last);
    ``threads`` sets PyTorch's intra-op threads (process-wide)."""
    torch = lazy_import("torch")
    if threads:
        torch.set_num_threads(threads)
    device = next(model.parameters()).device

    def logits(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            return model(xt).float().cpu().numpy()

    return logits


def onnx_logits(model: Any, threads: int | None = None) -> Logits:
    """Export a PyTorch ``model`` (on CPU) to ONNX in memory and run it with an ONNX Runtime
    CPU session (for weights that come without a graph file).

    Raises:
        MissingDependencyError: onnxruntime or onnx is not installed (an ``ImportError``).
    """
    network = lazy_import("urbanseg_core.model.network")
    return _run(_session(network.onnx_graph(model), threads))


def make_engine(model: Any, engine: str | None = None,
                threads: int | None = None) -> tuple[Logits, str]:
    """The logits function for a PyTorch ``model`` and ``engine`` (``"auto"``, ``"onnx"`` or
    ``"torch"``), and the engine's name.

    ``auto`` (default, or ``$URBANSEG_ENGINE``) uses ONNX Runtime on CPU when it imports and
    exports cleanly, else PyTorch.

    Raises:
        ValueError: an unknown engine name.
        ImportError: ``"onnx"`` was asked for but onnxruntime/onnx is missing.
    """
    engine = engine_choice(engine)
    on_cpu = next(model.parameters()).device.type == "cpu"
    if engine == "onnx" or (engine == "auto" and on_cpu):
        try:
            return onnx_logits(model, threads), "ONNX Runtime"
        except Exception:  # noqa: BLE001 - auto falls back to PyTorch on any export problem
            if engine == "onnx":
                raise
    return torch_logits(model, threads), "PyTorch"


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax over ``axis`` of float32 logits (numerically stable); same shape, float32."""
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z.astype("float32", copy=False)
