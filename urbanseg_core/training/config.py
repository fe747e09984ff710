"""The training configuration, read from a YAML file and validated with pydantic.

Paths in the file (``output_dir``, ``data_root``, pair folders) are relative to the YAML
file's folder. ``data_root`` defaults to ``$URBANSEG_SHARED_DATA`` or ``../shared/data`` next
to the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError

#: The repository root (parent of the package folder).
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_data_root() -> Path:
    """``$URBANSEG_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("URBANSEG_SHARED_DATA")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()


class HoldoutBlock(BaseModel):
    """A rectangular block of a scene kept out of training, with a buffer strip around it.

    Rows/columns in pixels of the 10 m label grid; ``row1``/``col1`` ``None`` = scene edge.
    The block is split at ``split_col`` into a validation part (columns >= split_col, used to
    pick the checkpoint) and a test part (columns < split_col, used only for reporting).
    """

    model_config = ConfigDict(extra="forbid")

    row0: int = 2440
    col0: int = 2440
    row1: int | None = None
    col1: int | None = None
    buffer: int = 64
    split_col: int = 3050


class SourceConfig(BaseModel):
    """One training data source.

    ``type``: ``islamabad`` (the L2A scene with GHSL labels under ``data_root``),
    ``eurosat`` (EuroSAT-MS patches assembled into mosaics), ``bercy`` (the Paris L1C scene,
    both dates, with Urban Atlas labels; rows from ``holdout.row0`` down are the held-out test
    part, ``holdout.buffer`` rows above them are not trained on either; other holdout fields
    are not used), or ``pairs`` (a folder of image/mask pairs: ``<name>_image.tif`` +
    ``<name>_mask.tif``, or ``images/<name>.tif`` + ``masks/<name>.tif``; mask codes
    auto-detected or given by ``codes``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["islamabad", "eurosat", "bercy", "pairs"]
    weight: float = 1.0
    path: str | None = None
    codes: Literal["auto", "index", "esm", "ghsl", "corine"] = "auto"
    positive_fraction: float = Field(0.6, ge=0, le=1,
                                     description="share of crops centred on built-up pixels")
    non_residential_fraction: float = Field(0.5, ge=0, le=1,
                                            description="of those, share centred on "
                                                        "non-residential pixels")
    holdout: HoldoutBlock = HoldoutBlock()
    holdout_fraction: float = 0.2
    mosaic: int = 3
    class_probabilities: dict[str, float] = {"Residential": 0.3, "Industrial": 0.3, "other": 0.4}
    dn_offset: float | None = None
    max_pixels: int | None = None


class AugmentConfig(BaseModel):
    """Augmentations (applied to reflectance before the indices are computed)."""

    model_config = ConfigDict(extra="forbid")

    flips: bool = True
    rot90: bool = True
    gain: float = Field(0.15, description="per-band multiplicative jitter, +- this fraction")
    global_gain: float = Field(0.15, description="one multiplicative factor for all bands")
    offset: float = Field(0.03, description="per-band additive jitter, +- reflectance")
    haze: float = Field(0.04, description="additive haze 0..haze, decreasing with wavelength")
    b8_from_b8a: float = Field(0.5, description="probability of replacing B8 by B8A")
    scale: float = Field(0.0, ge=0.0, le=1.0, description=(
        "scale jitter: crops are cut at crop_size x s and resized to crop_size, with s "
        "log-uniform in [1 / (1 + scale), 1 + scale]; 0 = off"))


class LossConfig(BaseModel):
    """Loss = ce_weight * (class-weighted, focal-modulated) CE + dice_weight * soft Dice."""

    model_config = ConfigDict(extra="forbid")

    ce_weight: float = 1.0
    dice_weight: float = 1.0
    focal_gamma: float = 2.0
    class_weights: list[float] = [1.0, 3.0, 1.5]


class ModelConfig(BaseModel):
    """Constructor arguments of the UNet (15 channels, 3 classes are fixed)."""

    model_config = ConfigDict(extra="forbid")

    base_width: int = Field(16, ge=4, le=64)
    bilinear: bool = True
    align_corners: bool = False


class TrainConfig(BaseModel):
    """Everything one training run needs (see ``models/urbanseg-unet.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "urbanseg-unet"
    version: str = "0.3.0"
    description: str = ""
    seed: int = 42
    threads: int = 1
    output_dir: str = "."
    data_root: str | None = None
    model: ModelConfig = ModelConfig()
    crop_size: int = 128
    batch_size: int = 8
    epochs: int = 20
    steps_per_epoch: int = 100
    lr: float = 3e-3
    weight_decay: float = 1e-4
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    sources: list[SourceConfig]
    validate_bercy: bool = True
    selection_metric: Literal["dice_macro_builtup", "dice_weighted", "dice_binary_builtup"] = (
        "dice_macro_builtup")
    time_limit_min: float | None = None
    limitations: list[str] = []
    stats_samples: int = 64
    swa_epochs: int = Field(0, ge=0, description=(
        "> 0: the final model is the average of the weights at the end of the last "
        "swa_epochs epochs (stochastic weight averaging, Izmailov et al. 2018), BatchNorm "
        "statistics recomputed on swa_bn_batches training batches; 0: the checkpoint with the "
        "best selection_metric"))
    swa_bn_batches: int = 50
    config_dir: str = "."

    def resolve(self, path: str | None) -> Path | None:
        """A path from the file, relative to the YAML file's folder."""
        if path is None:
            return None
        p = Path(os.path.expandvars(path)).expanduser()
        return p if p.is_absolute() else (Path(self.config_dir) / p).resolve()

    @property
    def data_root_path(self) -> Path:
        return self.resolve(self.data_root) if self.data_root else default_data_root()

    @property
    def output_path(self) -> Path:
        return self.resolve(self.output_dir)  # type: ignore[return-value]


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training YAML file.

    Raises:
        InputError: the file is missing, not YAML, or has unknown / invalid fields.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Training config not found: {path}.") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name} is not valid YAML ({str(exc).splitlines()[0]}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path.name} must hold a mapping of settings (name, sources, ...).")
    data.setdefault("config_dir", str(path.resolve().parent))
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InputError(f"{path.name} has invalid settings ({problems}).") from exc
