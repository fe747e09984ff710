"""Inference engines: ONNX Runtime when installed (about 2x faster on CPU), else PyTorch.

The weights are always loaded with PyTorch (:mod:`urbanseg_core.model.loading`); for ONNX Runtime
the network is exported in memory at load time (a fraction of a second, nothing is written to
disk) with dynamic batch, height and width. Both engines take ``(N, 15, H, W)`` float32 inputs
and return ``(N, C, H, W)`` float32 logits (class indices and probabilities are derived from
them in :class:`~urbanseg_core.model.loading.LoadedModel`); ``benchmarks/bench_inference.py``
measures their speed and pixel agreement side by side.

Choose with ``URBANSEG_ENGINE=onnx|torch`` (default ``auto``: ONNX Runtime if importable, on
CPU only). Both are safe to call from several threads at once.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Callable

import numpy as np
import torch

from ..lazy import lazy_import

Logits = Callable[[np.ndarray], np.ndarray]


def torch_logits(model: torch.nn.Module) -> Logits:
    """Logits from the PyTorch model itself (eval mode, ``inference_mode``, channels_last)."""
    device = next(model.parameters()).device

    def logits(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            return model(xt).float().cpu().numpy()

    return logits


def onnx_logits(model: torch.nn.Module, threads: int | None = None) -> Logits:
    """Export ``model`` to ONNX in memory and run it with an ONNX Runtime CPU session.

    Raises:
        MissingDependencyError: onnxruntime or onnx is not installed (an ``ImportError``).
    """
    ort = lazy_import("onnxruntime")
    lazy_import("onnx")  # the exporter needs it
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter warns about traced shape checks
        warnings.simplefilter("ignore")
        probe = torch.zeros(1, model.n_channels, 64, 64)
        torch.onnx.export(
            model, probe, buf, input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
            opset_version=17, dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only
    # The memory arena keeps the largest batch's buffers: with predict's ~0.5 M px batches a
    # 400 km² raster peaks near 0.9 GB RSS (0.7 GB without the arena, 15 % slower; 1.3-1.9 GB
    # with 1 M px batches), measured with benchmarks/bench_inference.py.
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def logits(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    return logits


def make_engine(model: torch.nn.Module, engine: str | None = None) -> tuple[Logits, str]:
    """The logits function for ``engine`` (``"auto"``, ``"onnx"`` or ``"torch"``) and its name.

    ``auto`` (default, or ``$URBANSEG_ENGINE``) uses ONNX Runtime on CPU when it imports and
    exports cleanly, else PyTorch.

    Raises:
        ValueError: an unknown engine name.
        ImportError: ``"onnx"`` was asked for but onnxruntime/onnx is missing.
    """
    engine = (engine or os.environ.get("URBANSEG_ENGINE") or "auto").lower()
    if engine not in ("auto", "onnx", "torch"):
        raise ValueError(f"engine must be auto, onnx or torch, not {engine!r}")
    on_cpu = next(model.parameters()).device.type == "cpu"
    if engine == "onnx" or (engine == "auto" and on_cpu):
        try:
            return onnx_logits(model), "ONNX Runtime"
        except Exception:  # noqa: BLE001 - auto falls back to PyTorch on any export problem
            if engine == "onnx":
                raise
    return torch_logits(model), "PyTorch"


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax over ``axis`` of float32 logits (numerically stable); same shape, float32."""
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z.astype("float32", copy=False)
