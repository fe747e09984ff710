"""Shared fixtures: models loaded once per session, synthetic rasters, the shared real data,
and the ``urbanseg`` command run in-process.

The test folders follow the package (``tests/io`` for ``urbanseg_core.io``, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.crs import CRS
from rasterio.transform import from_origin
from typer.testing import CliRunner

from urbanseg_core.cli import app
from urbanseg_core.model import loading
from urbanseg_core.model.card import (
    DEFAULT_CLASSES, Architecture, ModelCard, Normalisation, write_card,
)
from urbanseg_core.model.loading import LoadedModel, load_model
from urbanseg_core.model.unet import UNet
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.util import sha256_file

REPO = Path(__file__).resolve().parents[1]
#: A 10 m UTM 33N grid west of Berlin, the classes' names and colours (model card order).
UTM33 = CRS.from_epsg(32633)
T = from_origin(330000, 5822040, 10, 10)
NAMES = ["other", "non-residential", "residential"]
COLOURS = ["#F0F0F0", "#0072B2", "#E69F00"]
SHARED_DATA = Path(os.environ.get("URBANSEG_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The real data folder ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


def make_tiny_model(folder: Path, base_width: int = 4, seed: int = 0,
                    contrast: float = 3.0) -> Path:
    """Write a random-init UNet + card into ``folder``; return the card path.

    ``contrast`` scales the 1x1 output conv so the random model predicts all three classes
    (a plain random init predicts one class everywhere, which would make tests vacuous).
    """
    torch.manual_seed(seed)
    model = UNet(15, 3, base_width, bilinear=True, align_corners=False)
    with torch.no_grad():
        model.outc.conv.weight.normal_(0, contrast)
        model.outc.conv.bias.zero_()
    weights = folder / "tiny.pt"
    torch.save(model.state_dict(), weights)
    card = ModelCard(
        name="tiny-test", weights=weights.name, sha256=sha256_file(weights),
        architecture=Architecture(base_width=base_width, align_corners=False),
        normalisation=Normalisation(method="standardize", mean=[0.1] * 15, std=[0.1] * 15),
        classes=DEFAULT_CLASSES, tile_size=128, overlap=64,
    )
    path = folder / "tiny.json"
    write_card(card, path)
    return path


_LOADED: dict[tuple, LoadedModel] = {}


def load_once(path=None, *args, **kwargs) -> LoadedModel:
    """:func:`~urbanseg_core.model.loading.load_model`, loaded once per session for each
    model file (keyed on the card's path, size and modification time)."""
    card = Path(path) if path is not None else loading.default_model_path()
    stat = card.stat() if card.exists() else None
    key = (str(card.resolve()), stat and (stat.st_size, stat.st_mtime_ns), args,
           tuple(sorted(kwargs.items())))
    if key not in _LOADED:
        _LOADED[key] = load_model(card, *args, **kwargs)
    return _LOADED[key]


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A tiny random model (card path), written once per session; do not modify it."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path) -> LoadedModel:
    """The tiny model, loaded once per session."""
    return load_once(tiny_model_path)


@pytest.fixture(scope="session")
def bundled_model() -> LoadedModel:
    """The bundled model, loaded once per session."""
    return load_once()


@dataclass
class CliResult:
    """What an in-process ``urbanseg`` run gave (the fields of ``subprocess.run``'s result)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch):
    """Run ``urbanseg ARGS...`` in-process with typer's ``CliRunner``; models are loaded once
    per session. Unexpected exceptions are raised, not turned into an exit code."""
    for module in ("urbanseg_core.cli.predict", "urbanseg_core.cli.evaluate"):
        monkeypatch.setattr(f"{module}.load_model", load_once)
    runner = CliRunner()

    def run(*args) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def textured_reflectance(height: int, width: int, seed: int = 0) -> np.ndarray:
    """``(11, H, W)`` float32 reflectance with 16 px blocks plus noise, values 0-0.35."""
    rng = np.random.default_rng(seed)
    hb, wb = -(-height // 16), -(-width // 16)
    blocks = np.kron(rng.random((11, hb, wb)), np.ones((16, 16)))[:, :height, :width]
    return (blocks * 0.3 + rng.random((11, height, width)) * 0.05).astype("float32")


def write_geotiff(path: Path, data: np.ndarray, descriptions=None, crs="EPSG:32633",
                  nodata=None, transform=None) -> Path:
    """Write a ``(C, H, W)`` array as a GeoTIFF (10 m pixels by default)."""
    count, height, width = data.shape
    profile = dict(driver="GTiff", height=height, width=width, count=count, dtype=data.dtype,
                   crs=crs, transform=transform or from_origin(330000, 5822040, 10, 10),
                   nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


@pytest.fixture
def s2_geotiff(tmp_path) -> Path:
    """A 200 x 300 px, 11-band uint16 DN GeoTIFF with B2..B12 band descriptions."""
    refl = textured_reflectance(200, 300)
    dn = (refl * 10000).astype("uint16") + 1
    return write_geotiff(tmp_path / "scene.tif", dn, list(MODEL_BANDS))


#: Spectra (reflectance of the 11 model bands) of the three classes of :func:`learnable_scene`:
#: vegetation, bright flat roofs, darker mixed housing.
CLASS_SPECTRA = np.array([
    [0.03, 0.06, 0.04, 0.10, 0.25, 0.30, 0.34, 0.35, 0.30, 0.18, 0.09],
    [0.26, 0.27, 0.28, 0.29, 0.30, 0.30, 0.31, 0.31, 0.30, 0.33, 0.30],
    [0.09, 0.11, 0.13, 0.15, 0.17, 0.18, 0.19, 0.20, 0.19, 0.22, 0.19],
], dtype="float32")


def learnable_scene(size: int = 192, block: int = 16, seed: int = 0):
    """A synthetic image whose classes are easy to learn, with its reference.

    Returns:
        ``(dn (11, size, size) uint16 with B2..B12 descriptions intended, labels (size, size)
        uint8 index classes)``: blocks of ``block`` px of the three classes (about 50 % other,
        20 % non-residential, 30 % residential) with the spectra of :data:`CLASS_SPECTRA`
        and 1 % noise.
    """
    rng = np.random.default_rng(seed)
    n = -(-size // block)
    classes = rng.choice(3, size=(n, n), p=[0.5, 0.2, 0.3]).astype("uint8")
    labels = np.kron(classes, np.ones((block, block), dtype="uint8"))[:size, :size]
    refl = CLASS_SPECTRA[labels].transpose(2, 0, 1)
    refl = refl + rng.normal(0, 0.01, refl.shape).astype("float32")
    dn = (np.clip(refl, 0.001, 1) * 10000).astype("uint16")
    return dn, labels


@pytest.fixture
def learnable_files(tmp_path) -> tuple[Path, Path]:
    """``(image, reference)`` GeoTIFFs of :func:`learnable_scene` on one 10 m UTM grid; the
    reference in ESM codes (1 other, 250 non-residential, 255 residential, 0 nodata)."""
    dn, labels = learnable_scene()
    image = write_geotiff(tmp_path / "region.tif", dn, list(MODEL_BANDS))
    esm = np.array([1, 250, 255], dtype="uint8")[labels][None]
    reference = write_geotiff(tmp_path / "region_esm.tif", esm, nodata=0)
    return image, reference


def fresh_python(code: str, timeout: float = 180) -> str:
    """Run ``python -c code`` in a fresh interpreter (nothing imported yet) and return its
    stripped stdout; raises ``CalledProcessError`` when it fails. For tests of what a process
    imports (PyTorch, dask...)."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=timeout, check=True)
    return res.stdout.strip()
