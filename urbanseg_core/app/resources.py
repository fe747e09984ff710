"""Objects shared by every session, built once per process (``st.cache_resource``).

The model is loaded once per weights file (keyed on its path, size and modification time) and
shared read-only between sessions; PyTorch inference in eval mode does not modify it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from ..io.display import ImageLayer, footprint, true_colour_layer
from ..io.sample import SAMPLE_SCENE, load_sample
from ..io.scene import Scene
from ..model.loading import LoadedModel, default_model_path, load_model


def _file_key(path: Path) -> tuple[str, int, float]:
    try:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime
    except OSError:
        return str(path), -1, 0.0


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _load(path: str, size: int, mtime: float) -> LoadedModel:  # noqa: ARG001 - cache key
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_model(path, device=device)


def get_model(path: str | Path | None = None) -> LoadedModel:
    """The model at ``path`` (a card ``.json`` or weights ``.pt``/``.pth``), or the default
    (``$URBANSEG_MODEL`` or the bundled ``urbanseg_core/model/weights/urbanseg-unet.json``),
    loaded once per file (keyed on the given file's path, size and modification time).

    Raises:
        ModelLoadError: the files are missing or the weights do not fit (plain message).
    """
    return _load(*_file_key(Path(path) if path else default_model_path()))


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


def device_summary(loaded: LoadedModel | None = None) -> str:
    """One line: where inference runs (CPU/GPU) and with how many threads."""
    if loaded is not None and loaded.device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(loaded.device)})"
    threads = torch.get_num_threads()
    engine = f", {loaded.engine}" if loaded is not None else ""
    return (f"CPU, {threads} thread{'s' if threads != 1 else ''} ({os.cpu_count()} cores "
            f"seen){engine}")


def sample_path() -> Path:
    """Path of the bundled sample scene."""
    return SAMPLE_SCENE
