"""One call from a scene (or file) to a class map on the input's grid: what the CLI and app run.

source (sample | file | Earth Engine) -> Scene (11, H, W) reflectance -> [warp to the model's
10 m grid if needed] -> predict (tiled UNet) -> class map (H, W) uint8 on the input's grid.
Areas, scores and files are the next steps (:mod:`urbanseg_core.evaluation`,
:mod:`urbanseg_core.io.outputs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from rasterio.crs import CRS

from ..io.outputs import Codes, mask_bytes, write_mask
from ..io.regrid import classes_to_grid, regrid_reason, to_model_grid
from ..io.scene import BandFile, Scene, read_scene
from ..model.loading import LoadedModel, load_model
from ..sentinel2 import NODATA
from .predict import (ArraySource, ProgressCallback, class_confidence_head, predict_layers,
                      tiling_for)


@dataclass
class Segmentation:
    """The result of one run.

    Attributes:
        classes: ``(H, W)`` uint8 class map, 0 other, 1 non-residential, 2 residential,
            255 nodata, on the input's grid.
        crs, transform: the input's georeference (``crs`` may be ``None``).
        model_name, model_sha256: which model made it.
        class_names, class_colours: from the model card, index order.
        seconds: wall time of the prediction.
        notes: plain-language remarks for the user (how bands were read, warnings).
        scene: the scene it was made from, when it was read whole.
        source: where the input came from (path or label).
        confidence: ``(H, W)`` uint8 split confidence on the same grid: how sure the model is
            of residential vs non-residential on built-up pixels, in percent
            (:func:`~urbanseg_core.inference.predict.split_confidence`); 255 where the class is
            "other" or there is no data.
        tiling: ``(tile side, overlap)`` in px used on the model's grid.
    """

    classes: np.ndarray
    crs: CRS | None
    transform: object
    model_name: str
    model_sha256: str
    class_names: list[str]
    class_colours: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)
    scene: Scene | None = None
    source: str = ""
    confidence: np.ndarray | None = None
    tiling: tuple[int, int] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the class map."""
        return tuple(self.classes.shape)  # type: ignore[return-value]

    def write(self, path: str | Path, codes: Codes = "index", confidence: bool = False) -> Path:
        """Write the class map as a GeoTIFF (see :func:`urbanseg_core.io.outputs.write_mask`),
        with the split confidence as band 2 when ``confidence``.

        Raises:
            InputError: the folder is missing or not writable.
        """
        return write_mask(path, self.classes, self.crs, self.transform, self.class_names,
                          self.class_colours, codes, self._confidence_band(confidence))

    def geotiff_bytes(self, codes: Codes = "index", confidence: bool = False) -> bytes:
        """The class-map GeoTIFF as bytes (band 2 the split confidence when asked)."""
        return mask_bytes(self.classes, self.crs, self.transform, self.class_names,
                          self.class_colours, codes, self._confidence_band(confidence))

    def _confidence_band(self, wanted: bool) -> np.ndarray | None:
        return self.confidence if wanted else None


def _finish(layers: np.ndarray, crs, transform, loaded: LoadedModel, seconds: float,
            notes: list[str], scene: Scene | None, source: str,
            tiling: tuple[int, int]) -> Segmentation:
    """A :class:`Segmentation` from ``(2, H, W)`` layers: classes, split confidence;
    ``tiling`` the ``(tile side, overlap)`` used."""
    card = loaded.card
    classes, confidence = layers[0], layers[1].copy()
    confidence[(classes == 0) | (classes == NODATA)] = NODATA  # built-up pixels only
    notes = list(notes)
    if not (classes != NODATA).any():
        notes.append("The input has no valid pixels: every pixel is nodata, nothing was "
                     "predicted.")
    return Segmentation(classes, crs, transform, card.name, loaded.sha256,
                        card.class_names, card.class_colours, seconds, notes, scene, source,
                        confidence, tiling)


def _layers(source, loaded: LoadedModel, progress, predict_kwargs: dict) -> np.ndarray:
    """``(2, H, W)`` uint8 classes and split confidence of a tile source."""
    return predict_layers(source, loaded, class_confidence_head, progress=progress,
                          **predict_kwargs)


def _tiling(loaded: LoadedModel, shape: tuple[int, int], kwargs: dict) -> tuple[int, int]:
    """The tile side and overlap the prediction uses on a grid of ``shape``."""
    return tiling_for(loaded.card, *shape, kwargs.get("tile_size"), kwargs.get("overlap"))


def segment_scene(scene: Scene, loaded: LoadedModel | None = None,
                  progress: ProgressCallback | None = None, **predict_kwargs) -> Segmentation:
    """Predict classes for an in-memory scene and compute their areas.

    A scene in a geographic CRS or with pixels far from 10 m is warped to a 10 m UTM grid for
    the model and the class map is warped back (see :mod:`urbanseg_core.io.regrid`).

    Args:
        scene: an 11-band reflectance :class:`~urbanseg_core.io.scene.Scene`.
        loaded: a loaded model (default: the bundled model).
        progress: ``progress(done_tiles, total_tiles)``.
        **predict_kwargs: ``tile_size``, ``overlap``, ``batch_size`` for
            :func:`~urbanseg_core.inference.predict.predict_source`.

    Returns:
        A :class:`Segmentation` on the scene's grid.
    """
    loaded = loaded or load_model()
    notes = list(scene.notes)
    start = time.perf_counter()
    reason = regrid_reason(scene.crs, scene.transform, loaded.card.pixel_size_m)
    work = to_model_grid(scene, loaded.card.pixel_size_m) if reason else scene
    tiling = _tiling(loaded, work.shape, predict_kwargs)
    if reason:
        notes.append(f"The image was warped to a {loaded.card.pixel_size_m:g} m UTM grid for the "
                     f"model because {reason}; the mask is on the original grid.")
        layers = _layers(ArraySource(work), loaded, progress, predict_kwargs)
        layers = np.stack([classes_to_grid(layer, work, scene) for layer in layers])
    else:
        layers = _layers(ArraySource(scene), loaded, progress, predict_kwargs)
    seconds = time.perf_counter() - start
    return _finish(layers, scene.crs, scene.transform, loaded, seconds, notes, scene,
                   scene.source, tiling)


def segment_file(path: str | Path, loaded: LoadedModel | None = None,
                 band_order: Sequence[str] | None = None, dn_offset: float = 0.0,
                 progress: ProgressCallback | None = None, max_pixels: int | None = None,
                 keep_scene: bool = False, **predict_kwargs) -> Segmentation:
    """Segment a Sentinel-2 GeoTIFF (see :class:`~urbanseg_core.io.scene.BandFile`).

    Files on a metric grid near 10 m are read tile by tile, so memory stays bounded (the
    class map is 1 byte per pixel); other grids are read whole and warped (see
    :func:`segment_scene`).

    Args:
        path: the raster file.
        loaded: a loaded model (default: the bundled model).
        band_order, dn_offset, max_pixels: as for :class:`~urbanseg_core.io.scene.BandFile`.
        progress: ``progress(done_tiles, total_tiles)``.
        keep_scene: also read the whole scene into ``Segmentation.scene`` (for displays).
        **predict_kwargs: ``tile_size``, ``overlap``, ``batch_size``.

    Raises:
        InputError, BandOrderError: the file cannot be used (plain-language message).
    """
    loaded = loaded or load_model()
    source = BandFile(path, band_order=band_order, dn_offset=dn_offset, max_pixels=max_pixels)
    if keep_scene or regrid_reason(source.crs, source.transform, loaded.card.pixel_size_m):
        scene = read_scene(path, band_order=band_order, dn_offset=dn_offset)
        return segment_scene(scene, loaded, progress=progress, **predict_kwargs)
    start = time.perf_counter()
    layers = _layers(source, loaded, progress, predict_kwargs)
    seconds = time.perf_counter() - start
    return _finish(layers, source.crs, source.transform, loaded, seconds, source.notes, None,
                   str(path), _tiling(loaded, source.shape, predict_kwargs))
