"""The model card: a JSON file beside the weights that holds every input contract of a model.

Following the idea of QGIS Deepness' model metadata, a card says which bands and indices the
model reads, how inputs are normalised, the classes with their colours, the tile size and
overlap for tiled inference, what the model was trained on and how it measured, and the sha256
of its weights. The rest of the package reads these values from the card, never from constants.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .bands import MODEL_BANDS
from .errors import ModelLoadError
from .indices import INDICES


class ClassInfo(BaseModel):
    """One output class: index in the class map, name, display colour (hex) and codes."""

    index: int
    name: str
    colour: str
    esm_code: int | None = None
    description: str = ""


class Architecture(BaseModel):
    """Constructor arguments of :class:`urbanseg_core.model.UNet`."""

    type: Literal["UNet"] = "UNet"
    n_channels: int = 15
    n_classes: int = 3
    base_width: int = 64
    bilinear: bool = True
    align_corners: bool = True


class Normalisation(BaseModel):
    """How the 15 channels are scaled before the network.

    ``standardize``: ``(x - mean) / std`` per channel with fixed statistics from the training
    data (the same pixel gets the same value in any tile: no seams).
    ``minmax_window``: the original project's per-band min-max to [0, 1] over each
    ``window`` x ``window`` px window, NaN filled with the band mean (seams between windows).
    """

    method: Literal["standardize", "minmax_window"] = "standardize"
    mean: list[float] | None = None
    std: list[float] | None = None
    window: int | None = None
    haze: Literal["none", "dark_object"] = Field("none", description=(
        "dark_object: before the indices, each scene's haze is estimated from its B2 dark "
        "pixels and removed (see urbanseg_core.normalise.estimate_haze)"))
    haze_percentile: float = 1.0
    haze_dark_b2: float = 0.02
    haze_exponent: float = 2.5


class ModelCard(BaseModel):
    """Metadata that travels with a set of weights (see module docstring)."""

    name: str
    version: str = "0.1.0"
    description: str = ""
    weights: str = Field(description="file name of the weights, relative to the card")
    sha256: str | None = None
    architecture: Architecture = Architecture()
    bands: list[str] = list(MODEL_BANDS)
    indices: dict[str, list[str]] = {k: list(v) for k, v in INDICES.items()}
    reflectance: str = "DN / 10000 (Level-1C TOA or Level-2A surface reflectance)"
    pixel_size_m: float = 10.0
    normalisation: Normalisation = Normalisation()
    classes: list[ClassInfo]
    tile_size: int = 256
    overlap: int = 64
    training_data: list[dict[str, Any]] = []
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    limitations: list[str] = []
    licence: str = "MIT"

    @property
    def class_names(self) -> list[str]:
        """Class names in index order."""
        return [c.name for c in sorted(self.classes, key=lambda c: c.index)]

    @property
    def class_colours(self) -> list[str]:
        """Hex colours in index order."""
        return [c.colour for c in sorted(self.classes, key=lambda c: c.index)]


#: The 3 classes of the original project, index order; colours from the Okabe-Ito
#: colour-blind-safe palette (Okabe & Ito 2008).
DEFAULT_CLASSES: list[ClassInfo] = [
    ClassInfo(index=0, name="other", colour="#F0F0F0", esm_code=1,
              description="not built up: vegetation, water, bare soil, roads outside towns"),
    ClassInfo(index=1, name="non-residential", colour="#0072B2", esm_code=250,
              description="industrial, commercial and public built-up areas"),
    ClassInfo(index=2, name="residential", colour="#E69F00", esm_code=255,
              description="built-up areas used for housing"),
]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(path: str | Path) -> ModelCard:
    """Read and validate a model card JSON file.

    Raises:
        ModelLoadError: the file is missing, not JSON, or lacks required fields.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Model card not found: {path}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"The model card {path.name} is not valid JSON ({exc}).") from exc
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise ModelLoadError(
            f"The model card {path.name} is incomplete or malformed (fields: {fields})."
        ) from exc


def write_card(card: ModelCard, path: str | Path) -> None:
    """Write a card as indented JSON (UTF-8)."""
    Path(path).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
