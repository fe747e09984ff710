"""Training data as torch Datasets: EuroSAT-MS mosaics, the Islamabad scene, image/mask pairs.

Every *source* serves random crops as :class:`Sample` (reflectance, valid mask, index label);
:class:`MixtureDataset` draws from several sources by weight and applies the augmentation and
normalisation, deterministically from ``(seed, epoch, index)``.

Label codes are the model's index classes: 0 other, 1 non-residential, 2 residential,
255 ignore.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
import rasterio.windows
import torch
from rasterio.enums import Resampling
from rasterio.warp import reproject
from torch.utils.data import Dataset

from ..io.bandfolder import find_band_files
from ..io.scene import Scene, read_scene
from ..sentinel2 import MODEL_BANDS, SUBSTITUTES
from ..errors import InputError
from ..io.references import read_reference
from ..io.regrid import regrid_reason, to_model_grid
from ..io.stacking import stack_bands
from .config import HoldoutBlock

IGNORE = 255
#: 0-based indices of the model's 11 bands in a EuroSAT-MS file (B1..B12, then B8A).
EUROSAT_BAND_INDEX: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 12, 8, 10, 11)
#: EuroSAT class -> model index class.
EUROSAT_LABELS: dict[str, int] = {"Residential": 2, "Industrial": 1}
#: Islamabad label file order (0 not built, 1 residential, 2 non-residential) -> model index.
ISLAMABAD_REMAP = np.array([0, 2, 1] + [IGNORE] * 253, dtype="uint8")


@dataclass
class Sample:
    """One training crop.

    Attributes:
        reflectance: ``(11, h, w)`` float32 reflectance 0-1 in model band order.
        valid: ``(h, w)`` bool.
        label: ``(h, w)`` uint8 index classes, 255 ignore.
        has_b8: whether band 7 (B8) is a real 10 m B8 (``False`` when it is B8A already).
    """

    reflectance: np.ndarray
    valid: np.ndarray
    label: np.ndarray
    has_b8: bool = True


def _pad_to(sample: Sample, size: int) -> Sample:
    h, w = sample.label.shape
    if h >= size and w >= size:
        return sample
    H, W = max(h, size), max(w, size)
    refl = np.zeros((sample.reflectance.shape[0], H, W), "float32")
    valid = np.zeros((H, W), bool)
    label = np.full((H, W), IGNORE, "uint8")
    refl[:, :h, :w] = sample.reflectance
    valid[:h, :w] = sample.valid
    label[:h, :w] = sample.label
    return Sample(refl, valid, label, sample.has_b8)


def ignore_boundaries(label: np.ndarray, distance: int) -> np.ndarray:
    """Set label pixels within ``distance`` px of a different label to 255 (ignored).

    Coarse references (100 m LCZ blocks, zoning polygons that include streets) are least
    trustworthy along their edges; leaving a band of ``distance`` pixels out of the loss
    keeps the network from learning the blocks' outlines.

    Args:
        label: ``(H, W)`` uint8 index classes, 255 unlabelled (unlabelled neighbours do not
            count as a different label).
        distance: pixels; 0 returns ``label`` unchanged.

    Returns:
        ``(H, W)`` uint8, a new array when ``distance > 0``.
    """
    if distance <= 0:
        return label
    H, W = label.shape
    padded = np.pad(label, distance, constant_values=IGNORE)
    differs = np.zeros(label.shape, dtype=bool)
    for dr in range(2 * distance + 1):
        for dc in range(2 * distance + 1):
            other = padded[dr:dr + H, dc:dc + W]
            differs |= (other != label) & (other != IGNORE)
    out = label.copy()
    out[differs & (label != IGNORE)] = IGNORE
    return out


class SceneSource:
    """Random crops from one labelled scene, many centred on built-up pixels.

    Args:
        dn: ``(11, H, W)`` uint16 DN (or float reflectance when ``scale`` is 1).
        label: ``(H, W)`` uint8 index classes (255 ignore).
        dn_offset, scale: reflectance = (DN + dn_offset) / scale.
        exclude: ``(row0, row1, col0, col1)`` rectangle (with buffer) crops must avoid.
        positive_fraction: share of crops centred on a built-up pixel.
        non_residential_fraction: of those, share centred on a non-residential pixel.
        has_b8: whether the B8 band is a real B8.
        haze: ``(11,)`` reflectance subtracted from every crop (the scene's haze, see
            :func:`~urbanseg_core.normalise.estimate_haze`); ``None``: none.
        ignore_boundary_px: label pixels within this distance of another label are set to
            255 (coarse labels; see :func:`ignore_boundaries`).
    """

    def __init__(self, dn: np.ndarray, label: np.ndarray, dn_offset: float = 0.0,
                 scale: float = 10000.0, exclude: tuple[int, int, int, int] | None = None,
                 positive_fraction: float = 0.6, non_residential_fraction: float = 0.5,
                 has_b8: bool = True, name: str = "scene", haze: np.ndarray | None = None,
                 ignore_boundary_px: int = 0):
        self.dn = dn
        self.label = ignore_boundaries(label, ignore_boundary_px)
        label = self.label
        self.dn_offset = dn_offset
        self.scale = scale
        self.haze = None if haze is None else np.asarray(haze, "float32")[:, None, None]
        self.exclude = exclude
        self.positive_fraction = positive_fraction
        self.non_residential_fraction = non_residential_fraction
        self.has_b8 = has_b8
        self.name = name
        usable = label != IGNORE
        if exclude is not None:
            r0, r1, c0, c1 = exclude
            usable[r0:r1, c0:c1] = False
        step = 2  # thin the candidate lists (memory); crops still move freely
        thin = np.zeros_like(usable)
        thin[::step, ::step] = True
        self._centres = {
            c: np.flatnonzero((label == c) & usable & thin) for c in (1, 2)
        }

    @property
    def shape(self) -> tuple[int, int]:
        return self.label.shape

    def _window(self, rng: np.random.Generator, size: int) -> tuple[int, int]:
        H, W = self.shape
        r = rng.random()
        centre = None
        if r < self.positive_fraction:
            cls = 1 if rng.random() < self.non_residential_fraction else 2
            cands = self._centres[cls] if self._centres[cls].size else self._centres[3 - cls]
            if cands.size:
                idx = int(cands[rng.integers(cands.size)])
                centre = (idx // W, idx % W)
        if centre is None:
            centre = (int(rng.integers(H)), int(rng.integers(W)))
        jitter = rng.integers(-size // 4, size // 4 + 1, size=2)
        row = int(np.clip(centre[0] - size // 2 + jitter[0], 0, max(0, H - size)))
        col = int(np.clip(centre[1] - size // 2 + jitter[1], 0, max(0, W - size)))
        if self.exclude is not None:
            r0, r1, c0, c1 = self.exclude
            if row < r1 and row + size > r0 and col < c1 and col + size > c0:
                # move out of the held-out rectangle by the shortest shift that stays inside
                moves = []
                if r0 - size >= 0:
                    moves.append((row - (r0 - size), r0 - size, col))
                if r1 + size <= H:
                    moves.append(((r1) - row, r1, col))
                if c0 - size >= 0:
                    moves.append((col - (c0 - size), row, c0 - size))
                if c1 + size <= W:
                    moves.append((c1 - col, row, c1))
                if moves:  # else the held-out pixels are blanked in sample()
                    _, row, col = min(moves)
        return row, col

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        row, col = self._window(rng, size)
        dn = self.dn[:, row:row + size, col:col + size]
        label = self.label[row:row + size, col:col + size].copy()
        valid = ((dn != 0).all(axis=0) if dn.dtype.kind in "ui"
                 else np.isfinite(dn).all(axis=0) & (dn != 0).any(axis=0))
        refl = (dn.astype("float32") + np.float32(self.dn_offset)) / np.float32(self.scale)
        if self.haze is not None:
            np.maximum(refl - self.haze, 0.0, out=refl)
        refl[:, ~valid] = 0
        label[~valid] = IGNORE
        if self.exclude is not None:  # belt and braces: never learn from held-out pixels
            r0, r1, c0, c1 = self.exclude
            rr0, rr1 = max(r0 - row, 0), min(r1 - row, size)
            cc0, cc1 = max(c0 - col, 0), min(c1 - col, size)
            if rr0 < rr1 and cc0 < cc1:
                label[rr0:rr1, cc0:cc1] = IGNORE
        return _pad_to(Sample(refl, valid, label, self.has_b8), size)


# --------------------------------------------------------------------------- Islamabad


@dataclass
class IslamabadScene:
    """The Islamabad L2A scene on the 10 m label grid (3660 x 3660 px, EPSG:32643).

    Attributes:
        dn: ``(11, H, W)`` uint16 DN in model band order, B8 = B8A (B8 is absent), 20 m bands
            (B9 60 m) resampled to 10 m with nearest neighbour.
        label: ``(H, W)`` uint8 index classes (GHSL: 0 other, 1 non-residential,
            2 residential).
        crs, transform: the label grid.
    """

    dn: np.ndarray
    label: np.ndarray
    crs: object
    transform: object
    dn_offset: float = -1000.0

    def scene(self, rows: slice, cols: slice) -> Scene:
        """A reflectance :class:`Scene` of a block (for evaluation with the predictor)."""
        dn = self.dn[:, rows, cols]
        valid = (dn != 0).all(axis=0)
        refl = (dn.astype("float32") + np.float32(self.dn_offset)) / np.float32(10000)
        refl[:, ~valid] = 0
        transform = self.transform * rasterio.Affine.translation(cols.start or 0, rows.start or 0)
        return Scene(refl, valid, self.crs, transform, "islamabad block", MODEL_BANDS,
                     ["B8 replaced by B8A (B8 absent from the scene)."])


def load_islamabad(root: Path, rows: slice | None = None,
                   cols: slice | None = None) -> IslamabadScene:
    """Read the Islamabad scene (see ``../shared/data/README.md``) onto its 10 m label grid.

    Reflectance = (DN - 1000) / 10000 (processing baseline 05.00). B8 is absent: B8A is used
    in its place. ``rows``/``cols`` (slices of the 10 m grid) read only that block.

    Raises:
        InputError: files are missing.
    """
    folder = Path(root) / "islamabad_ghsl"
    label_path = folder / "ghs_built_c_3class_10m.tif"
    if not label_path.exists():
        raise InputError(f"Islamabad labels not found at {label_path}.")
    with rasterio.open(label_path) as src:
        H, W = src.shape
        r0, r1, _ = (rows or slice(0, H)).indices(H)
        c0, c1, _ = (cols or slice(0, W)).indices(W)
        window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
        raw = src.read(1, window=window)
        crs, transform, shape = src.crs, src.window_transform(window), raw.shape
    files = find_band_files(folder)
    dn = np.zeros((len(MODEL_BANDS), *shape), dtype="uint16")
    for i, band in enumerate(MODEL_BANDS):
        name = band if band in files else SUBSTITUTES.get(band)
        if name not in files:
            raise InputError(f"Islamabad band {band} missing in {folder}.")
        with rasterio.open(files[name]) as src:
            reproject(rasterio.band(src, 1), dn[i], dst_transform=transform, dst_crs=crs,
                      resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
    return IslamabadScene(dn, ISLAMABAD_REMAP[raw], crs, transform)


def holdout_rect(block: HoldoutBlock, shape: tuple[int, int], buffer: bool = True):
    """``(row0, row1, col0, col1)`` of the held-out block, with its buffer if asked."""
    H, W = shape
    b = block.buffer if buffer else 0
    return (max(block.row0 - b, 0), min((block.row1 or H) + b, H),
            max(block.col0 - b, 0), min((block.col1 or W) + b, W))


# --------------------------------------------------------------------------- EuroSAT


@dataclass
class EurosatPatch:
    """One 64 x 64 EuroSAT-MS patch: ``(11, 64, 64)`` float32 reflectance and its class."""

    reflectance: np.ndarray
    class_name: str
    path: str

    @property
    def label(self) -> int:
        return EUROSAT_LABELS.get(self.class_name, 0)


def load_eurosat(root: Path) -> list[EurosatPatch]:
    """Read every EuroSAT-MS patch under ``root/eurosat_ms/<Class>/*.tif`` (L1C, DN/10000).

    Raises:
        InputError: no patches found.
    """
    folder = Path(root) / "eurosat_ms"
    paths = sorted(glob.glob(str(folder / "*" / "*.tif")))
    if not paths:
        raise InputError(f"No EuroSAT-MS patches under {folder}.")
    patches = []
    for p in paths:
        with rasterio.open(p) as src:
            data = src.read([i + 1 for i in EUROSAT_BAND_INDEX]).astype("float32") / 10000
        patches.append(EurosatPatch(data, Path(p).parent.name, p))
    return patches


def split_eurosat(patches: Sequence[EurosatPatch], fraction: float, seed: int):
    """Stratified split by class with a fixed seed: ``(train, held_out)``."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for cls in sorted({p.class_name for p in patches}):
        group = [p for p in patches if p.class_name == cls]
        order = rng.permutation(len(group))
        n_held = int(round(fraction * len(group)))
        held += [group[i] for i in order[:n_held]]
        train += [group[i] for i in order[n_held:]]
    return train, held


class EurosatMosaicSource:
    """Mosaics of ``mosaic`` x ``mosaic`` EuroSAT patches, randomly cropped.

    Each patch's label fills the patch (Residential -> 2, Industrial -> 1, others -> 0), so
    the model sees class boundaries at patch edges; the crop cuts patches at random places.
    Patch classes are drawn with ``class_probabilities`` (keys "Residential", "Industrial",
    "other").
    """

    def __init__(self, patches: Sequence[EurosatPatch], mosaic: int = 3,
                 class_probabilities: dict[str, float] | None = None, name: str = "eurosat",
                 haze: np.ndarray | None = None):
        if not patches:
            raise InputError("No EuroSAT patches to train on.")
        self.mosaic = mosaic
        self.name = name
        self.haze = None if haze is None else np.asarray(haze, "float32")[:, None, None]
        probs = class_probabilities or {"Residential": 0.3, "Industrial": 0.3, "other": 0.4}
        self.groups = {
            "Residential": [p for p in patches if p.class_name == "Residential"],
            "Industrial": [p for p in patches if p.class_name == "Industrial"],
            "other": [p for p in patches if p.label == 0],
        }
        keys = [k for k in self.groups if self.groups[k] and probs.get(k, 0) > 0]
        w = np.array([probs[k] for k in keys], dtype="float64")
        self.keys, self.probs = keys, w / w.sum()

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        m = self.mosaic
        p = 64
        refl = np.zeros((len(MODEL_BANDS), m * p, m * p), "float32")
        label = np.zeros((m * p, m * p), "uint8")
        for i in range(m):
            for j in range(m):
                group = self.groups[self.keys[rng.choice(len(self.keys), p=self.probs)]]
                patch = group[rng.integers(len(group))]
                refl[:, i * p:(i + 1) * p, j * p:(j + 1) * p] = patch.reflectance
                label[i * p:(i + 1) * p, j * p:(j + 1) * p] = patch.label
        valid = (refl > 0).all(axis=0)
        if self.haze is not None:
            np.maximum(refl - self.haze, 0.0, out=refl)
            refl[:, ~valid] = 0
        label[~valid] = IGNORE
        if m * p > size:
            r, c = rng.integers(0, m * p - size + 1, size=2)
            refl, valid, label = (refl[:, r:r + size, c:c + size], valid[r:r + size, c:c + size],
                                  label[r:r + size, c:c + size])
        return _pad_to(Sample(refl, valid, label, True), size)


# --------------------------------------------------------------------------- pairs


def find_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """Image/mask pairs in a folder, in either layout:

    - Earth Engine export: ``<name>_image.tif`` + ``<name>_mask.tif`` side by side;
    - the original project's: ``images/<name>.tif`` + ``masks/<name>.tif`` (``image/``,
      ``mask/`` also accepted; a mask may carry a ``_mask`` suffix).

    Raises:
        InputError: the folder is missing or holds no pair.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"Pairs folder not found: {folder}.")
    pairs = []
    for img in sorted(folder.glob("*_image.tif")):
        mask = img.with_name(img.name[: -len("_image.tif")] + "_mask.tif")
        if mask.exists():
            pairs.append((img, mask))
    for img_dir in ("images", "image"):
        for mask_dir in ("masks", "mask"):
            if (folder / img_dir).is_dir() and (folder / mask_dir).is_dir():
                for img in sorted((folder / img_dir).glob("*.tif")):
                    for cand in (folder / mask_dir / img.name,
                                 folder / mask_dir / f"{img.stem}_mask.tif"):
                        if cand.exists():
                            pairs.append((img, cand))
                            break
    if not pairs:
        raise InputError(
            f"No image/mask pairs in {folder}: expected <name>_image.tif with <name>_mask.tif, "
            "or images/<name>.tif with masks/<name>.tif."
        )
    return pairs


def load_pair(image: Path, mask: Path, codes: str = "auto", dn_offset: float | None = None,
              max_pixels: int | None = None) -> tuple[Scene, np.ndarray]:
    """Read an image (any band layout :func:`~urbanseg_core.bands.read_scene` accepts) and
    its mask, reprojected with nearest neighbour onto the image grid as index classes."""
    scene = read_scene(image, dn_offset=dn_offset or 0.0, max_pixels=max_pixels)
    label = read_reference(mask, scene, codes)
    label[~scene.valid] = IGNORE
    return scene, label


def pair_sources(folder: str | Path, codes: str = "auto", dn_offset: float | None = None,
                 positive_fraction: float = 0.6, non_residential_fraction: float = 0.5,
                 max_pixels: int | None = None) -> list[SceneSource]:
    """One :class:`SceneSource` per image/mask pair of a folder (see :func:`find_pairs`)."""
    out = []
    for image, mask in find_pairs(folder):
        scene, label = load_pair(image, mask, codes, dn_offset, max_pixels)
        has_b8 = "B8" in scene.band_names
        out.append(SceneSource(scene.reflectance, label, 0.0, 1.0, None, positive_fraction,
                               non_residential_fraction, has_b8, image.name))
    return out


# --------------------------------------------------------------------------- city folders


@dataclass
class LabelledImage:
    """One labelled image of a city.

    Attributes:
        name: a short label (file or date folder).
        scene: 11-band reflectance on a 10 m UTM grid (warped with nearest neighbour when
            the file is in degrees, as ``urbanseg predict`` does).
        label: ``(H, W)`` uint8 index classes on the scene grid, 255 unlabelled.
    """

    name: str
    scene: Scene
    label: np.ndarray


def find_city_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """``(image, label)`` files of a labelled-city folder: every ``*image*.tif`` whose name
    with ``image`` replaced by ``label`` exists (``image_20150918.tif`` /
    ``label_20150918.tif``, ``hongkong_<scene>_image.tif`` / ``hongkong_<scene>_label.tif``).

    Raises:
        InputError: the folder is missing or holds no pair.
    """
    folder = Path(folder)
    pairs = [(img, img.with_name(img.name.replace("image", "label")))
             for img in sorted(folder.glob("*image*.tif"))]
    pairs = [(img, lab) for img, lab in pairs if lab.exists()]
    if not pairs:
        raise InputError(f"No image/label pairs (*image*.tif with *label*.tif) in {folder}.")
    return pairs


def load_city(folder: str | Path) -> list[LabelledImage]:
    """Every labelled image of a city folder (see :func:`find_city_pairs`).

    Images hold the model's 11 bands as uint16 DN (reflectance = DN / 10000, Level-1C) with
    band descriptions; labels are index classes (0 other, 1 non-residential, 2 residential,
    255 unlabelled) on the image grid (``../shared/data/README.md``, "More labelled
    cities"). Images in degrees are warped onto a 10 m UTM grid with nearest neighbour and
    the labels follow.
    """
    out = []
    for image, label in find_city_pairs(folder):
        scene = read_scene(image)
        if regrid_reason(scene.crs, scene.transform):
            scene = to_model_grid(scene)
        ref = read_reference(label, scene, "index")
        ref[~scene.valid] = IGNORE
        out.append(LabelledImage(image.stem, scene, ref))
    return out


def labelled_source(item: LabelledImage, exclude=None, positive_fraction: float = 0.6,
                    non_residential_fraction: float = 0.5, haze: np.ndarray | None = None,
                    ignore_boundary_px: int = 0, name: str | None = None) -> SceneSource:
    """A :class:`SceneSource` over a :class:`LabelledImage` (reflectance, no DN scaling)."""
    return SceneSource(item.scene.reflectance, item.label, 0.0, 1.0, exclude,
                       positive_fraction, non_residential_fraction,
                       has_b8="B8" in item.scene.band_names, name=name or item.name,
                       haze=haze, ignore_boundary_px=ignore_boundary_px)


class PoolSource:
    """Several sources drawn uniformly (e.g. all pairs of a folder), as one source."""

    def __init__(self, sources: Sequence, name: str = "pool"):
        self.sources = list(sources)
        self.name = name

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        return self.sources[rng.integers(len(self.sources))].sample(rng, size)


# --------------------------------------------------------------------------- band folders


def load_band_folder(folder: str | Path, dn_offset: float = 0.0,
                     substitute: dict[str, str] | None = None) -> Scene:
    """Stack the single-band files of one date (OSCD layout ``*_B02.tif`` ...; found by
    :func:`~urbanseg_core.bandfolder.find_band_files`) on a 10 m grid with
    :func:`~urbanseg_core.stacking.stack_bands` and return a reflectance Scene."""
    files = find_band_files(folder)
    data, crs, transform = stack_bands(files, substitute=substitute)
    valid = (data != 0).all(axis=0)
    refl = (data.astype("float32") + np.float32(dn_offset)) / np.float32(10000)
    refl[:, ~valid] = 0
    return Scene(refl, valid, crs, transform, str(folder), MODEL_BANDS)


# --------------------------------------------------------------------------- Bercy

#: The two Bercy dates (OSCD folders): 2016-11-30 and 2017-08-29.
BERCY_DATES = ("imgs_1", "imgs_2")


def load_bercy(root: Path) -> list[tuple[str, Scene, np.ndarray]]:
    """The Bercy (Paris) L1C scene of both dates with its Urban Atlas labels.

    Returns:
        ``[(date folder, Scene, (H, W) uint8 index labels, 255 unlabelled), ...]``, bands
        stacked on a 10 m UTM grid (:func:`load_band_folder`), labels reprojected onto it
        with nearest neighbour.

    Raises:
        InputError: band files are missing; ReferenceError_: the label raster is missing.
    """
    folder = Path(root) / "bercy_urban_atlas"
    out = []
    for date in BERCY_DATES:
        scene = load_band_folder(folder / date)
        out.append((date, scene,
                    read_reference(folder / "bercy_reference_10m.tif", scene, "index")))
    return out


# --------------------------------------------------------------------------- mixture


class MixtureDataset(Dataset):
    """``length`` crops per epoch drawn from sources by weight, augmented and normalised.

    ``__getitem__(i)`` is deterministic given ``(seed, epoch, i)``; call :meth:`set_epoch`
    before each epoch. Items are ``(x (15, s, s) float32 tensor, y (s, s) int64 tensor)``.
    The transform may cut crops of another size (scale jitter): it is asked
    ``transform.draw_size(rng, s)`` for the size to cut and returns ``s x s`` arrays.
    """

    def __init__(self, sources: Sequence, weights: Sequence[float], length: int, crop: int,
                 transform, seed: int = 0):
        if not sources:
            raise InputError("No training data: the config lists no usable source.")
        self.sources = list(sources)
        w = np.asarray(weights, dtype="float64")
        self.weights = w / w.sum()
        self.length = length
        self.crop = crop
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        src = self.sources[rng.choice(len(self.sources), p=self.weights)]
        size = self.transform.draw_size(rng, self.crop)
        x, y = self.transform(src.sample(rng, size), rng, self.crop)
        return torch.from_numpy(x), torch.from_numpy(y.astype("int64"))
