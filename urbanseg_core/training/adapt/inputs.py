"""What an adaptation learns from: images with their reference, on a grid the model reads.

An image is read as ``urbanseg predict`` reads it (:func:`~urbanseg_core.io.scene.read_scene`;
warped with nearest neighbour to a 10 m UTM grid when it is in degrees or far from 10 m), and
its reference is put on that grid with :func:`~urbanseg_core.io.references.read_reference`
(codes ``auto``, ``index``, ``esm``, ``ghsl`` or ``corine``). A reference that cannot teach
the model (too few labelled pixels over the image, no built-up pixel) is refused with
:class:`~urbanseg_core.errors.ReferenceContentError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ...aoi import AOI
from ...errors import ReferenceContentError
from ...gee.composite import DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START
from ...gee.download import fetch_reference, fetch_scene
from ...gee.reference import GHSL_COLLECTION
from ...inference.predict import ProgressCallback
from ...io.references import read_reference
from ...io.regrid import classes_to_grid, regrid_reason, to_model_grid
from ...io.scene import Scene, read_scene
from ...sentinel2 import CLASS_NAMES, NODATA

#: Fewest built-up reference pixels an image must have (5 ha at 10 m): most of them train the
#: model, about a fifth validate it.
MIN_BUILT_UP_PX = 500
#: Fewest labelled reference pixels over an image's valid area (0.25 km² at 10 m).
MIN_LABELLED_PX = 2_500
#: Largest image adapted on (pixels): 2,500 km² at 10 m, about 1.1 GB of reflectance in
#: memory, as ``urbanseg predict`` holds an image it must warp.
MAX_PIXELS = 25_000_000


@dataclass
class AdaptPair:
    """One image with its reference on the image's (model) grid.

    Attributes:
        name: a short label for messages and the card (the image's file name).
        scene: 11-band reflectance on a 10 m grid the model reads, kept as float16 (half
            the memory of float32; a step of 0.0002 at reflectance 0.3, about 2 DN, is far
            below what changes a prediction).
        label: ``(H, W)`` uint8 index classes (0 other, 1 non-residential, 2 residential),
            255 where there is no reference or the image has no data.
        provenance: what the card records about it (files, codes, pixel counts).
    """

    name: str
    scene: Scene
    label: np.ndarray
    provenance: dict = field(default_factory=dict)

    @property
    def class_px(self) -> list[int]:
        """Labelled pixels per class, ``[other, non-residential, residential]``."""
        return np.bincount(self.label.ravel(), minlength=256)[:3].tolist()


def check_label(label: np.ndarray, name: str) -> None:
    """Refuse a reference that cannot teach the model.

    Args:
        label: ``(H, W)`` uint8 index classes on the image grid, 255 unlabelled.
        name: the reference's name, for the message.

    Raises:
        ReferenceContentError: fewer than :data:`MIN_LABELLED_PX` labelled pixels or fewer
            than :data:`MIN_BUILT_UP_PX` built-up pixels over the image.
    """
    counts = np.bincount(label.ravel(), minlength=256)
    labelled, built = int(counts[:3].sum()), int(counts[1:3].sum())
    data = dict(labelled_px=labelled, built_up_px=built, needed_px=MIN_BUILT_UP_PX)
    if labelled < MIN_LABELLED_PX:
        raise ReferenceContentError(
            f"{name} labels only {labelled:,} pixels over the image's valid area; adapting "
            f"needs at least {MIN_LABELLED_PX:,} (0.25 km²).",
            "Give a reference that covers the image (same area, any CRS).", **data)
    if built < MIN_BUILT_UP_PX:
        raise ReferenceContentError(
            f"{name} has {'no' if built == 0 else f'only {built:,}'} built-up pixels "
            f"(non-residential or residential) over the image; adapting needs at least "
            f"{MIN_BUILT_UP_PX:,} (5 ha).",
            "Give a reference of a built-up area, and check its codes.", **data)


def pair_from_arrays(scene: Scene, label: np.ndarray, name: str,
                     provenance: dict | None = None) -> AdaptPair:
    """An :class:`AdaptPair` from a scene and its reference on the scene's grid (an Earth
    Engine composite and its GHSL reference; a run's image and reference in the app).

    A scene in degrees or far from 10 m is warped to a 10 m UTM grid as ``predict`` warps
    it (:func:`~urbanseg_core.io.regrid.to_model_grid`, nearest neighbour), and the
    reference with it.

    Args:
        scene: 11-band reflectance.
        label: ``(H, W)`` uint8 index classes, 255 unlabelled, on ``scene``'s grid.
        name: a short label.
        provenance: extra facts for the card.

    Raises:
        ReferenceContentError: see :func:`check_label`.
        ValueError: the label's shape differs from the scene's.
    """
    if label.shape != scene.shape:
        raise ValueError(f"label {label.shape} and scene {scene.shape} differ in shape")
    if regrid_reason(scene.crs, scene.transform):
        warped = to_model_grid(replace(scene, reflectance=scene.reflectance.astype(
            np.float32, copy=False)))
        label, scene = classes_to_grid(label, scene, warped), warped
    label = np.where(scene.valid, label, NODATA).astype("uint8")
    check_label(label, name)
    scene = replace(scene, reflectance=scene.reflectance.astype(np.float16))
    pair = AdaptPair(name, scene, label, dict(provenance or {}))
    pair.provenance.setdefault("image", name)
    pair.provenance["class_px"] = dict(zip(CLASS_NAMES, pair.class_px))
    return pair


def absent_classes(pairs: Sequence[AdaptPair]) -> list[str]:
    """Names of the classes that no pair's reference labels (a map of non-residential
    buildings labels no residential; a zoning map may label no open land): the adaptation
    teaches the model nothing new about them and tends to make it predict them less."""
    total = np.sum([p.class_px for p in pairs], axis=0)
    return [name for name, n in zip(CLASS_NAMES, total) if n == 0]


def read_pair(image: str | Path, reference: str | Path, codes: str = "auto",
              dn_offset: float = 0.0, band_order: Sequence[str] | None = None,
              max_pixels: int | None = MAX_PIXELS) -> AdaptPair:
    """Read an image and its reference mask for adaptation.

    Args:
        image: an 11- or 13-band Sentinel-2 GeoTIFF (see
            :func:`~urbanseg_core.io.scene.read_scene`).
        reference: a single-band raster of class codes, any CRS (reprojected onto the
            image grid with nearest neighbour).
        codes: ``"auto"``, ``"index"``, ``"esm"``, ``"ghsl"`` or ``"corine"``.
        dn_offset: added to DN before /10000 (-1000 for Level-2A since 2022-01-25).
        band_order: the file's band names, when its descriptions do not give them.
        max_pixels: refuse larger images.

    Returns:
        An :class:`AdaptPair` on a 10 m grid the model reads.

    Raises:
        InputError, BandOrderError, TooLargeError: the image cannot be used.
        ReferenceError_: the reference cannot be read, its codes are not understood, it
            does not fit or overlap the image (:func:`read_reference`).
        ReferenceContentError: see :func:`check_label`.
    """
    image, reference = Path(image), Path(reference)
    scene = read_scene(image, band_order=band_order, dn_offset=dn_offset, max_pixels=max_pixels)
    if regrid_reason(scene.crs, scene.transform):
        scene = to_model_grid(scene)  # the reference is then read onto the 10 m grid
    label = read_reference(reference, scene, codes)
    return pair_from_arrays(scene, label, image.name, {
        "image": image.name, "reference": reference.name, "reference_codes": codes,
        "dn_offset": dn_offset})


def earth_engine_pair(aoi: AOI, start: str = DEFAULT_START, end: str = DEFAULT_END,
                      cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD,
                      progress: ProgressCallback | None = None) -> AdaptPair:
    """The Sentinel-2 composite of an AOI and its GHSL GHS-BUILT-C reference (2018), fetched
    from Earth Engine on one 10 m UTM grid (:func:`~urbanseg_core.gee.download.fetch_scene`,
    :func:`~urbanseg_core.gee.download.fetch_reference`).

    Args:
        aoi: a validated area of interest.
        start, end: the composite's dates (``YYYY-MM-DD``, end excluded).
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1.
        progress: ``progress(done_chunks, total_chunks)`` of each download.

    Raises:
        EarthEngineError: not connected, no clear pixel, or a request that failed for good.
        ReferenceContentError: GHSL has too few built-up pixels there (see
            :func:`check_label`).
    """
    scene = fetch_scene(aoi, start, end, cloud_threshold, progress=progress)
    label = fetch_reference(scene, progress=progress)
    return pair_from_arrays(scene, label, f"{aoi.name} (Earth Engine)", {
        "image": f"{aoi.name}: Earth Engine COPERNICUS/S2_SR_HARMONIZED median composite "
                 f"{start} to {end} (end excluded), Cloud Score+ cs_cdf >= {cloud_threshold}",
        "reference": f"{GHSL_COLLECTION} 2018 (JRC, CC BY 4.0)", "reference_codes": "ghsl",
        "area_km2": round(aoi.area_km2, 2)})
