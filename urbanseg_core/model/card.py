"""The model card: a JSON file beside the weights that holds every input contract of a model.

Following the idea of QGIS Deepness' model metadata, a card says which bands and indices the
model reads, how inputs are normalised, the classes with their colours, the tile size and
overlap for tiled inference, what the model was trained on and how it measured, and the sha256
of its weights and of the ONNX graph exported from them. The rest of the package reads these
values from the card, never from constants: the feature builder
(:func:`urbanseg_core.inference.features.model_inputs`) takes the card's ``bands`` and
``indices``, and :func:`check_inputs` refuses a card that asks for bands or indices the code
cannot produce.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..errors import ModelCardError, ModelLoadError
from ..sentinel2 import CLASSES, INDICES, MODEL_BANDS
from ..util import write_bytes_atomic


class ClassInfo(BaseModel):
    """One output class: index in the class map, name, display colour (hex) and codes."""

    index: int
    name: str
    colour: str
    esm_code: int | None = None
    description: str = ""


class Architecture(BaseModel):
    """Constructor arguments of :class:`urbanseg_core.model.unet.UNet`."""

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
        "pixels and removed (see urbanseg_core.inference.features.estimate_haze)"))
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
    onnx: str | None = Field(None, description=(
        "file name of the ONNX graph exported from the weights, relative to the card "
        "(urbanseg_core.model.network.export_onnx); inference runs it without PyTorch"))
    onnx_sha256: str | None = None
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
    parent: dict[str, Any] | None = Field(None, description=(
        "for a model adapted from another (urbanseg adapt): the parent's name, version and "
        "weights sha256"))

    @property
    def class_names(self) -> list[str]:
        """Class names in index order."""
        return [c.name for c in sorted(self.classes, key=lambda c: c.index)]

    @property
    def class_colours(self) -> list[str]:
        """Hex colours in index order."""
        return [c.colour for c in sorted(self.classes, key=lambda c: c.index)]


#: Folder of the bundled weights: package data (``urbanseg_core/model/weights/``), so an
#: installed wheel carries them.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Card of the bundled default model.
DEFAULT_CARD = WEIGHTS_DIR / "urbanseg-unet.json"
#: Key of an ONNX graph's metadata that holds the sha256 of the weights it was exported from.
GRAPH_WEIGHTS_KEY = "urbanseg_weights_sha256"

#: The 3 classes of the original project (:data:`urbanseg_core.sentinel2.CLASSES`).
DEFAULT_CLASSES: list[ClassInfo] = [
    ClassInfo(index=i, name=name, colour=colour, esm_code=esm, description=description)
    for i, (name, colour, esm, description) in enumerate(CLASSES)
]


def check_inputs(card: ModelCard, bands: tuple[str, ...] = MODEL_BANDS) -> None:
    """Check that the inputs a card asks for can be made from images read in ``bands``.

    Every card band must be one of ``bands``, every index a normalised difference of two of
    them, and the network's ``n_channels`` must equal bands + indices.

    Raises:
        ModelCardError: naming the bands and indices that cannot be produced.
    """
    unknown = [b for b in card.bands if b not in bands]
    bad_indices = [name for name, pair in card.indices.items()
                   if len(pair) != 2 or any(b not in bands for b in pair)]
    if unknown or bad_indices:
        parts = ([f"band(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"index(es) {', '.join(bad_indices)}"] if bad_indices else [])
        raise ModelCardError(
            f"The model card {card.name} asks for {' and '.join(parts)}, which cannot be made "
            f"from the bands urbanseg reads ({', '.join(bands)}; an index must be the "
            "normalised difference of two of them).",
            "Use a card whose inputs are among these bands.", bands=unknown,
            indices=bad_indices)
    channels = len(card.bands) + len(card.indices)
    if card.architecture.n_channels != channels:
        raise ModelCardError(
            f"The model card {card.name} lists {channels} input channels ({len(card.bands)} "
            f"bands, {len(card.indices)} indices) but its network takes "
            f"{card.architecture.n_channels}.", "Fix the card's bands, indices or "
            "architecture.n_channels.")


def training_areas(card: ModelCard, bounds: tuple[float, float, float, float] | None
                   ) -> list[str]:
    """The training data of a card whose area overlaps ``bounds``: each entry's ``area``
    (or ``name``) where its ``bounds_wgs84`` (west, south, east, north, degrees) intersect
    ``bounds``. Scores measured there are not independent of training. Entries without
    bounds (patch collections such as EuroSAT, older cards) never match."""
    if bounds is None:
        return []
    w, s, e, n = bounds
    found = []
    for entry in card.training_data:
        b = entry.get("bounds_wgs84")
        if b and len(b) == 4 and b[0] < e and w < b[2] and b[1] < n and s < b[3]:
            found.append(str(entry.get("area") or entry.get("name")))
    return found


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
    """Write a card as indented JSON (UTF-8), atomically
    (:func:`~urbanseg_core.util.atomic_write`)."""
    write_bytes_atomic(path, (card.model_dump_json(indent=2) + "\n").encode("utf-8"))


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


def card_and_weights(path: str | Path | None = None) -> tuple[ModelCard, Path]:
    """The card and the weights file a model path names (see
    :func:`urbanseg_core.model.loading.load_model`).

    Raises:
        ModelLoadError: the card cannot be read.
    """
    path = Path(path) if path is not None else default_model_path()
    if path.suffix.lower() == ".json":
        card = read_card(path)
        return card, path.parent / card.weights
    card_path = path.with_suffix(".json")
    return (read_card(card_path) if card_path.exists() else original_card(path)), path
