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
    are not used; ``holdout: null`` trains on every row), ``city`` (a labelled-city folder
    under ``data_root`` named by ``path``, e.g. ``hongkong_lcz``: every ``*image*.tif`` with
    its ``*label*.tif``, 11 bands in model order, index labels with 255 unlabelled; see
    ``../shared/data/README.md``, "More labelled cities"), or ``pairs`` (a folder of
    image/mask pairs: ``<name>_image.tif`` + ``<name>_mask.tif``, or ``images/<name>.tif`` +
    ``masks/<name>.tif``; mask codes auto-detected or given by ``codes``).

    ``city`` names the place for the cross-city protocol (``urbanseg crossval``): sources of
    one city are left out together. It defaults to ``islamabad``, ``bercy`` or the ``city``
    folder's name; EuroSAT and pairs have none (always trained on).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["islamabad", "eurosat", "bercy", "city", "pairs"]
    weight: float = 1.0
    path: str | None = None
    city: str | None = None
    ignore_boundary_px: int = Field(0, ge=0, le=8, description=(
        "pixels within this distance of a change of label are ignored in training (coarse "
        "labels: 100 m LCZ blocks, zoning polygons with streets inside); 0 = off"))
    codes: Literal["auto", "index", "esm", "ghsl", "corine"] = "auto"
    positive_fraction: float = Field(0.6, ge=0, le=1,
                                     description="share of crops centred on built-up pixels")
    non_residential_fraction: float = Field(0.5, ge=0, le=1,
                                            description="of those, share centred on "
                                                        "non-residential pixels")
    holdout: HoldoutBlock | None = HoldoutBlock()
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
    haze_low: float = Field(0.0, le=0.0, description=(
        "lower end of the haze draw (<= 0): a negative value also removes haze, as an "
        "over-corrected scene looks"))
    sim_20m: float = Field(0.0, ge=0.0, le=1.0, description=(
        "probability that a crop's 10 m bands (B2, B3, B4, B8) are averaged to 20 m and "
        "brought back to 10 m with nearest neighbour, as a 20 m-native scene looks"))
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
    haze_correction: Literal["none", "dark_object"] = Field("none", description=(
        "dark_object: each scene's haze is estimated from its B2 dark pixels and removed "
        "before training and prediction (written to the card's normalisation)"))
    init_from: str | None = Field(None, description=(
        "a model card (.json; path relative to this file) to fine-tune from: its weights are "
        "the start, its architecture and normalisation (statistics, haze correction) are "
        "kept; None: a new network and statistics from the training data"))
    init_sha256: str | None = Field(None, description=(
        "the SHA-256 the init_from weights must have (training refuses other weights)"))
    init_interpolate: float = Field(1.0, gt=0, le=1, description=(
        "with init_from: the written weights are parent + init_interpolate x (trained - "
        "parent), every floating-point tensor incl. BatchNorm statistics (WiSE-FT, Wortsman "
        "et al. 2022); 1: the trained weights"))
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    sources: list[SourceConfig]
    validate_bercy: bool = True
    validate_each_epoch: bool = Field(True, description=(
        "score the Islamabad validation block after every epoch (needed to choose a "
        "checkpoint; with swa_epochs > 0 only the log uses it)"))
    selection_metric: Literal["dice_macro_builtup", "dice_weighted", "dice_binary_builtup"] = (
        "dice_macro_builtup")
    time_limit_min: float | None = None
    limitations: list[str] = []
    cross_city: list[str] = Field([], description=(
        "crossval.json / scores.json files of `urbanseg crossval` (this recipe's table and "
        "baselines), copied into the card's metrics as cross_city so the Model page shows "
        "them; paths relative to this file"))
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

    def resolve_data(self, path: str) -> Path:
        """A data folder: absolute, or relative to :attr:`data_root_path`."""
        p = Path(os.path.expandvars(path)).expanduser()
        return p if p.is_absolute() else (self.data_root_path / p).resolve()

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
