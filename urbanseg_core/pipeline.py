"""One call from a scene (or file) to a class map with statistics: what the CLI and app run.

source (sample | file | Earth Engine) -> Scene (11, H, W) reflectance -> predict (tiled UNet)
-> class map (H, W) uint8 -> AreaStats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .bands import Scene, read_scene
from .loading import LoadedModel, load_model
from .outputs import Codes, mask_bytes, write_mask
from .predict import ProgressCallback, predict_scene
from .stats import AreaStats, class_areas

#: The bundled sample scene (Sentinel-2 L1C, T33UUU, 2017-02-16, west of Berlin).
SAMPLE_SCENE = Path(__file__).resolve().parent / "sample_data" / "sample_t33uuu_2017-02-16.tif"


@dataclass
class Segmentation:
    """The result of one run.

    Attributes:
        classes: ``(H, W)`` uint8 class map, 0 other, 1 non-residential, 2 residential,
            255 nodata.
        scene: the input scene (reflectance and georeference).
        stats: per-class areas (km²) and shares.
        model_name, model_sha256: which model made it.
        seconds: wall time of the prediction.
        notes: plain-language remarks for the user (how bands were read, warnings).
    """

    classes: np.ndarray
    scene: Scene
    stats: AreaStats
    model_name: str
    model_sha256: str
    class_names: list[str]
    class_colours: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def write(self, path: str | Path, codes: Codes = "index") -> Path:
        """Write the class map as a GeoTIFF (see :func:`urbanseg_core.outputs.write_mask`)."""
        return write_mask(path, self.classes, self.scene.crs, self.scene.transform,
                          self.class_names, self.class_colours, codes)

    def geotiff_bytes(self, codes: Codes = "index") -> bytes:
        """The class-map GeoTIFF as bytes."""
        return mask_bytes(self.classes, self.scene.crs, self.scene.transform,
                          self.class_names, self.class_colours, codes)


def segment_scene(scene: Scene, loaded: LoadedModel | None = None,
                  progress: ProgressCallback | None = None, **predict_kwargs) -> Segmentation:
    """Predict classes for a scene and compute their areas.

    Args:
        scene: an 11-band reflectance :class:`~urbanseg_core.bands.Scene`.
        loaded: a loaded model (default: the bundled model).
        progress: ``progress(done_tiles, total_tiles)``.
        **predict_kwargs: ``tile_size``, ``overlap``, ``batch_size`` for
            :func:`~urbanseg_core.predict.predict_source`.

    Returns:
        A :class:`Segmentation`.
    """
    loaded = loaded or load_model()
    card = loaded.card
    start = time.perf_counter()
    classes = predict_scene(scene, loaded, progress=progress, **predict_kwargs)
    seconds = time.perf_counter() - start
    stats = class_areas(classes, scene.crs, scene.transform, card.class_names)
    notes = list(scene.notes)
    if not scene.valid.any():
        notes.append("The input has no valid pixels: every pixel is nodata.")
    return Segmentation(classes, scene, stats, card.name, loaded.sha256, card.class_names,
                        card.class_colours, seconds, notes)


def segment_file(path: str | Path, loaded: LoadedModel | None = None,
                 band_order: Sequence[str] | None = None, dn_offset: float = 0.0,
                 progress: ProgressCallback | None = None, max_pixels: int | None = None,
                 **predict_kwargs) -> Segmentation:
    """Read a Sentinel-2 GeoTIFF (see :func:`~urbanseg_core.bands.read_scene`) and segment it.

    Raises:
        InputError, BandOrderError: the file cannot be used (plain-language message).
    """
    scene = read_scene(path, band_order=band_order, dn_offset=dn_offset, max_pixels=max_pixels)
    return segment_scene(scene, loaded, progress=progress, **predict_kwargs)


def load_sample() -> Scene:
    """The bundled sample scene as a :class:`~urbanseg_core.bands.Scene`."""
    return read_scene(SAMPLE_SCENE)
