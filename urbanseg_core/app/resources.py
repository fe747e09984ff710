"""Objects shared by every session, built once per process: the model (loaded in the
background), the sample scene and its map layers, the throughput measured on this machine.

The page never waits for the model: it needs only the model's card and the sha256 of its
weights (:class:`ModelRef`, read without PyTorch), while the weights load in a background
thread started on the first page view (:func:`start_loading`). Run waits for them if they are
not ready yet, saying so. The model is loaded once per weights file (keyed on the file's path,
size and modification time) and shared read-only between sessions; inference in eval mode does
not modify it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from ..errors import ModelLoadError, UrbansegError
from ..io.display import ImageLayer, footprint, true_colour_layer
from ..io.sample import SAMPLE_SCENE, load_sample
from ..io.scene import BandFile, Scene
from ..lazy import lazy_import
from ..model.card import ModelCard, card_and_weights, default_model_path
from ..util import sha256_file

FileKey = tuple[str, int, float]


def _file_key(path: Path) -> FileKey:
    try:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime
    except OSError:
        return str(path), -1, 0.0


@dataclass(frozen=True)
class ModelRef:
    """A model as the page knows it before it loads.

    Attributes:
        path: the card or weights file asked for.
        card: its model card.
        weights: the weights file.
        sha256: hex digest of the weights (what run keys use).
        key: the file key the loaded model is cached under.
    """

    path: Path
    card: ModelCard
    weights: Path
    sha256: str
    key: FileKey


@functools.lru_cache(maxsize=16)
def _ref(key: FileKey) -> ModelRef:
    path = Path(key[0])
    card, weights = card_and_weights(path)
    if not weights.exists():
        raise ModelLoadError(f"Weights file not found: {weights.name}.",
                          "Load other weights on the Model page.", path=str(weights))
    return ModelRef(path, card, weights, sha256_file(weights), key)


def model_ref(path: str | Path | None = None) -> ModelRef:
    """The model at ``path`` (a card ``.json`` or weights ``.pt``/``.pth``), or the default
    (``$URBANSEG_MODEL`` or the bundled card), as the page knows it; no PyTorch.

    Raises:
        ModelLoadError: the card cannot be read or the weights are missing (plain message).
    """
    return _ref(_file_key(Path(path) if path else default_model_path()))


_LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="urbanseg-model")
_LOADS: dict[FileKey, Future] = {}
_LOADS_LOCK = threading.Lock()


def gpu_driver_present() -> bool:
    """Whether an NVIDIA driver is installed (``/proc/driver/nvidia`` or ``nvidia-smi``): a
    cheap test, so PyTorch is imported to use a GPU only where there can be one."""
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def _load(ref: ModelRef):
    loading = lazy_import("urbanseg_core.model.loading")
    device = "cpu"  # ONNX Runtime runs the shipped graph without importing PyTorch
    if gpu_driver_present() and lazy_import("torch").cuda.is_available():
        device = "cuda"
    return loading.load_model(ref.path, device=device)


def start_loading(ref: ModelRef) -> Future:
    """Load a model in the background (once per file); the future of its
    :class:`~urbanseg_core.model.loading.LoadedModel`."""
    with _LOADS_LOCK:
        future = _LOADS.get(ref.key)
        if future is None:
            future = _LOADS[ref.key] = _LOADER.submit(_load, ref)
        return future


def model_ready(ref: ModelRef) -> bool:
    """Whether the model has finished loading (successfully or not)."""
    return start_loading(ref).done()


def get_model(ref: ModelRef, timeout: float | None = None):
    """The loaded model, waiting for it up to ``timeout`` seconds (``None``: as long as it
    takes).

    Raises:
        ModelLoadError: the weights cannot be loaded or do not fit (plain message).
        TimeoutError: not loaded within ``timeout``.
    """
    return start_loading(ref).result(timeout)


@st.cache_resource(show_spinner=False)
def sample_scene() -> Scene:
    """The bundled sample scene (read once, shared read-only)."""
    return load_sample()


@dataclass(frozen=True)
class SceneView:
    """What the map shows before a run: true-colour image and footprint of a scene."""

    true_colour: ImageLayer
    outline: dict


@st.cache_resource(show_spinner=False)
def sample_view() -> SceneView:
    """Map layers of the sample scene (true colour, footprint), built once."""
    s = sample_scene()
    return SceneView(true_colour_layer(s.reflectance, s.valid, s.crs, s.transform),
                     footprint(s.crs, s.transform, s.shape))


@st.cache_resource(show_spinner=False, max_entries=8)
def upload_view(path: str, mtime_ns: int) -> ImageLayer | None:  # noqa: ARG001 - cache key
    """The true-colour picture of an uploaded GeoTIFF whose bands are named, read decimated
    (:meth:`~urbanseg_core.io.scene.BandFile.preview`), for the map before a run; ``None``
    when the file cannot give one (no CRS, bands not named, unreadable)."""
    try:
        preview = BandFile(path).preview()
        if preview.crs is None:
            return None
        return true_colour_layer(preview.reflectance, preview.valid, preview.crs,
                                 preview.transform)
    except (UrbansegError, ValueError):
        return None


def device_summary(loaded: Any = None) -> str:
    """Where inference runs, in plain words: ``"this computer's processor (2 of its 2 cores)"``
    or ``"the graphics card NVIDIA ..."`` (the engine is in :func:`engine_line`)."""
    if loaded is not None and loaded.device.type == "cuda":  # PyTorch is loaded then
        return f"the graphics card {lazy_import('torch').cuda.get_device_name(loaded.device)}"
    torch = sys.modules.get("torch")
    threads = (loaded.threads if loaded is not None and loaded.threads
               else torch.get_num_threads() if torch is not None else os.cpu_count() or 1)
    return f"this computer's processor ({threads} of its {os.cpu_count()} cores)"


def engine_line(loaded: Any) -> str:
    """The engine that runs the network, and the graph or weights it runs."""
    source = loaded.graph.name if loaded.graph is not None else loaded.path.name
    return f"Engine: {loaded.engine}, running {source}"


def sample_path() -> Path:
    """Path of the bundled sample scene."""
    return SAMPLE_SCENE


_THROUGHPUT: dict[str, float] = {}


def record_throughput(pixels: int, seconds: float) -> None:
    """Remember the model's speed on this machine (pixels per second of the latest run)."""
    if seconds > 0 and pixels > 0:
        _THROUGHPUT["px_per_s"] = pixels / seconds


def throughput() -> float | None:
    """The model's measured speed on this machine in pixels per second (any session's
    latest run, the background sample run included), or ``None`` before any run."""
    return _THROUGHPUT.get("px_per_s")
