"""One run's result and everything derived from it: map layers, downloads, manifest.

No Streamlit here: a :class:`RunResult` is plain data (picklable, so ``st.cache_data`` can
store it) and is built by :func:`build_result` from a
:class:`~urbanseg_core.inference.pipeline.Segmentation`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from ..evaluation.areas import AreaStats, UnsureArea, areas_of, unsure_built_up
from ..evaluation.manifest import build_manifest, manifest_bytes
from ..evaluation.metrics import evaluate_maps, json_safe
from ..evaluation.report import stats_csv
from ..io.display import (
    MAX_SIDE, ImageLayer, class_layer, copernicus_credit, figure_rgba, footprint, on_utm,
    true_colour_layer,
)
from ..io.display import true_colour as true_colour_rgba
from ..io.grid import is_geographic, pixel_size_m
from ..io.outputs import Codes, mask_bytes, overlay_rgba, png_bytes
from ..io.scene import Scene
from ..io.vectorize import class_polygons, geojson_bytes
from ..sentinel2 import acquisition_date
from ..util import safe_name

if TYPE_CHECKING:  # only a type here: this module loads without PyTorch
    from ..inference.pipeline import Segmentation

#: The downloads of a result: kind -> (file-name suffix, MIME type, how the bytes are made).
#: One name per file: the mask is ``<stem>_mask_index.tif`` wherever it is offered.
DOWNLOADS: dict[str, tuple[str, str, Callable[["RunResult"], bytes]]] = {
    "tif-index": ("_mask_index.tif", "image/tiff", lambda r: r.geotiff("index")),
    "tif-esm": ("_mask_esm.tif", "image/tiff", lambda r: r.geotiff("esm")),
    "tif-index-confidence": ("_mask_index_confidence.tif", "image/tiff",
                             lambda r: r.geotiff("index", confidence=True)),
    "tif-esm-confidence": ("_mask_esm_confidence.tif", "image/tiff",
                           lambda r: r.geotiff("esm", confidence=True)),
    "geojson": ("_builtup.geojson", "application/geo+json", lambda r: r.geojson()),
    "png": ("_overlay.png", "image/png", lambda r: r.overlay_png()),
    "figure": ("_picture.png", "image/png", lambda r: r.figure_png()),
    "csv": ("_statistics.csv", "text/csv", lambda r: r.csv()),
    "manifest": ("_manifest.json", "application/json", lambda r: r.manifest_json()),
}


class DeferredDownloads:
    """Downloads made when first asked for, once per result, and kept (thread-safe: several
    clicks, or sessions, share one making). A subclass is a dataclass with the fields
    ``_made`` (dict) and ``_lock`` (a lock), names its downloads in :attr:`DOWNLOADS` and
    gives :attr:`stem`; it stays picklable (the lock is made anew)."""

    #: kind -> (file-name suffix, MIME type, how the bytes are made from the result).
    DOWNLOADS: dict[str, tuple[str, str, Callable[[Any], bytes]]] = {}
    _made: dict
    _lock: Any

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def download(self, kind: str) -> bytes:
        """The bytes of one download (a key of :attr:`DOWNLOADS`), made once and kept.

        Raises:
            KeyError: an unknown kind.
        """
        make = self.DOWNLOADS[kind][2]
        with self._lock:
            if kind not in self._made:
                self._made[kind] = make(self)
            return self._made[kind]

    def file_name(self, kind: str) -> str:
        """The download's file name: :attr:`stem` and the kind's suffix."""
        return self.stem + self.DOWNLOADS[kind][0]

    def mime(self, kind: str) -> str:
        """The download's MIME type."""
        return self.DOWNLOADS[kind][1]

    @property
    def stem(self) -> str:
        """A file-name stem for downloads."""
        raise NotImplementedError


@dataclass
class RunResult(DeferredDownloads):
    """A finished run, as the Results page shows it.

    Attributes:
        run_id: the cache key of the inputs (hex).
        source: what was segmented (kind, name, sha256, size, CRS, bounds).
        classes: ``(H, W)`` uint8 index class map (255 nodata).
        crs, transform: georeference of ``classes``.
        stats: class areas (km²) and shares.
        class_names, colours: from the model card, index order.
        model: name, version, sha256 of the model used.
        parameters: tile size, overlap, band order, DN offset...
        seconds: inference wall time, s.
        notes: plain-language remarks for the user.
        true_colour, prediction_layer, reference_layer: map layers (EPSG:3857 PNGs).
        outline: scene footprint (GeoJSON geometry, EPSG:4326).
        reference: ``(H, W)`` uint8 reference classes on the same grid, or ``None``.
        reference_codes: the reference's code convention (detected or given).
        metrics: :func:`urbanseg_core.evaluation.metrics.evaluate_maps` output, or ``None``.
        aoi, dates: Earth Engine request details, or ``None``.
        split_confidence: ``(H, W)`` uint8, how sure the model is of residential vs
            non-residential on built-up pixels (0-100 %, 255 elsewhere), or ``None``.
        unsure: the built-up area whose split confidence is below 50 % (km², share).
        trained_here: the model's training areas this run's extent overlaps
            (:func:`~urbanseg_core.model.card.training_areas`): its agreement with a
            reference there is not independent of training.
        picture: ``(h, w, 4)`` uint8 true-colour image on the input grid, decimated like
            :meth:`classes_png` (side-by-side views), or ``None``.
    """

    run_id: str
    source: dict[str, Any]
    classes: np.ndarray
    crs: CRS | None
    transform: Any
    stats: AreaStats
    class_names: list[str]
    colours: list[str]
    model: dict[str, Any]
    parameters: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)
    true_colour: ImageLayer | None = None
    prediction_layer: ImageLayer | None = None
    reference_layer: ImageLayer | None = None
    outline: dict | None = None
    reference: np.ndarray | None = None
    reference_codes: str | None = None
    metrics: dict[str, Any] | None = None
    aoi: dict[str, Any] | None = None
    dates: dict[str, Any] | None = None
    split_confidence: np.ndarray | None = None
    unsure: UnsureArea | None = None
    trained_here: list[str] = field(default_factory=list)
    picture: np.ndarray | None = None
    _made: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    DOWNLOADS = DOWNLOADS

    # ------------------------------------------------------------------ downloads
    @property
    def stem(self) -> str:
        """A file-name stem for downloads, e.g. ``urbanseg_sample_t33uuu``."""
        name = str(self.source.get("name") or self.source.get("kind") or "run")
        return f"urbanseg_{safe_name(name.rsplit('.', 1)[0], 60, 'run')}"

    def geotiff(self, codes: Codes = "index", confidence: bool = False) -> bytes:
        """The class map as a GeoTIFF (index codes 0/1/2, 255 nodata; or ESM codes), with the
        split confidence as band 2 when ``confidence`` and the run has it."""
        return mask_bytes(self.classes, self.crs, self.transform, self.class_names,
                          self.colours, codes, self.split_confidence if confidence else None)

    def geojson(self) -> bytes:
        """Polygons of the built-up classes, EPSG:4326 GeoJSON."""
        return geojson_bytes(class_polygons(self.classes, self.crs, self.transform,
                                            self.class_names))

    @property
    def step(self) -> int:
        """Decimation of the pictures: every ``step``-th pixel, at most
        :data:`~urbanseg_core.io.display.MAX_SIDE` px a side."""
        return max(1, -(-max(self.classes.shape) // MAX_SIDE))

    def classes_png(self, reference: bool = False) -> bytes:
        """The prediction (or the reference) as an opaque PNG with every class coloured,
        nodata transparent, on the input grid decimated by :attr:`step` (side-by-side views,
        all of one size)."""
        classes = self.reference if reference else self.classes
        return png_bytes(overlay_rgba(classes[::self.step, ::self.step], self.colours, 1.0,
                                      show_other=True))

    def picture_png(self) -> bytes | None:
        """The true-colour :attr:`picture` as PNG (same size as :meth:`classes_png`)."""
        return None if self.picture is None else png_bytes(self.picture)

    def figure_png(self) -> bytes:
        """The true-colour picture with the prediction over it and a legend strip
        (:func:`~urbanseg_core.io.display.figure_rgba`), at the pictures' size; without a
        picture, the prediction alone."""
        classes = self.classes[::self.step, ::self.step]
        if self.picture is None or self.picture.shape[:2] != classes.shape:
            return self.classes_png()
        title = (f"{self.source.get('name') or 'urbanseg'} · built-up "
                 f"{100 * self.stats.built_up_share:.1f} %")
        picture, pixel_m = self.picture, None  # without a CRS: no scale bar
        if self.crs is not None and is_geographic(self.crs):  # unequal sides: redrawn
            picture, classes, pixel_m = on_utm(picture, classes, self.crs,
                                               self.transform * Affine.scale(self.step))
        elif self.crs is not None:
            pixel_m = pixel_size_m(self.crs, self.transform) * self.step
        return png_bytes(figure_rgba(picture, classes, self.colours, self.class_names,
                                     title, pixel_m=pixel_m,
                                     credit=copernicus_credit(self.imagery_years)))

    @property
    def imagery_years(self) -> list[int]:
        """The years the imagery was taken in, when known: an Earth Engine composite's date
        range, else the date written in the image's name (``..._2017-02-16``, ``20180326``)."""
        if self.dates and self.dates.get("start") and self.dates.get("end_excluded"):
            first = date.fromisoformat(str(self.dates["start"])).year
            last = (date.fromisoformat(str(self.dates["end_excluded"])) - timedelta(days=1)).year
            return list(range(first, last + 1))
        found = acquisition_date([self.source.get("name") or ""])
        return [found.year] if found else []

    def overlay_png(self) -> bytes:
        """The prediction as an RGBA PNG on the input grid ("other" transparent)."""
        return png_bytes(overlay_rgba(self.classes, self.colours, opacity=0.8))

    def csv(self) -> bytes:
        """Statistics (areas, shares, agreement with the reference) as CSV."""
        return stats_csv(self.stats, self.metrics, self.unsure)

    def manifest(self) -> dict[str, Any]:
        """The run manifest (see :mod:`urbanseg_core.evaluation.manifest`): what went in,
        which model, the parameters, and the areas and scores that came out."""
        results: dict[str, Any] = {
            "areas": self.stats.to_dict(),
            "inference_seconds": round(self.seconds, 3),
        }
        if self.unsure is not None:
            results["unsure_built_up"] = self.unsure.to_dict()
        if self.metrics is not None:
            results["agreement_with_reference"] = self.metrics
            results["reference_codes"] = self.reference_codes
        return build_manifest(source=self.source, model=self.model,
                              parameters=self.parameters, results=results,
                              aoi=self.aoi, dates=self.dates)

    def manifest_json(self) -> bytes:
        """The manifest as indented JSON bytes."""
        return manifest_bytes(self.manifest())


def _picture(preview: Scene | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The true-colour image of a preview at the pictures' size (:attr:`RunResult.step`):
    a whole scene is decimated like the class maps; a preview read decimated
    (:meth:`~urbanseg_core.io.scene.BandFile.preview`, same :data:`MAX_SIDE`) already is."""
    if preview is None:
        return None
    refl, valid = preview.reflectance, preview.valid
    if preview.shape == tuple(shape):
        step = max(1, -(-max(shape) // MAX_SIDE))
        refl, valid = refl[:, ::step, ::step], valid[::step, ::step]
    return true_colour_rgba(refl, valid)


def build_result(
    seg: Segmentation,
    *,
    run_id: str,
    source: dict[str, Any],
    model: dict[str, Any],
    parameters: dict[str, Any],
    reference: np.ndarray | None = None,
    reference_codes: str | None = None,
    aoi: dict[str, Any] | None = None,
    dates: dict[str, Any] | None = None,
    true_colour: ImageLayer | None = None,
    preview: Scene | None = None,
    trained_here: list[str] | None = None,
) -> RunResult:
    """Turn a :class:`~urbanseg_core.inference.pipeline.Segmentation` into a :class:`RunResult`.

    Builds the map layers (unless the input has no CRS) and, with a reference, the scores.

    Args:
        seg: the segmentation.
        run_id, source, model, parameters: recorded as given.
        reference: ``(H, W)`` uint8 reference classes on the scene grid, or ``None``.
        reference_codes: the reference's code convention.
        aoi, dates: Earth Engine request details.
        true_colour: a precomputed true-colour layer (the sample's is shared).
        preview: the scene or a decimated read of it (:meth:`~urbanseg_core.io.scene.
            BandFile.preview`) for the true-colour pictures; default ``seg.scene``.
        trained_here: the model's training areas the run overlaps (see
            :attr:`RunResult.trained_here`).

    Raises:
        ReferenceError_: the reference has no pixel in common with the prediction.
    """
    preview = preview if preview is not None else seg.scene
    metrics = None
    if reference is not None:
        metrics = json_safe(evaluate_maps(seg.classes, reference, seg.class_names))
    outline = pred_layer = ref_layer = None
    if seg.crs is not None:
        outline = footprint(seg.crs, seg.transform, seg.shape)
        if true_colour is None and preview is not None:
            true_colour = true_colour_layer(preview.reflectance, preview.valid, preview.crs,
                                            preview.transform)
        pred_layer = class_layer(seg.classes, seg.crs, seg.transform, seg.class_colours)
        if reference is not None:
            ref_layer = class_layer(reference, seg.crs, seg.transform, seg.class_colours)
    return RunResult(
        run_id=run_id, source=source, classes=seg.classes, crs=seg.crs,
        transform=seg.transform, stats=areas_of(seg), class_names=list(seg.class_names),
        colours=list(seg.class_colours), model=model, parameters=parameters,
        seconds=seg.seconds, notes=list(seg.notes), true_colour=true_colour,
        prediction_layer=pred_layer, reference_layer=ref_layer, outline=outline,
        reference=reference, reference_codes=reference_codes, metrics=metrics,
        aoi=aoi, dates=dates, split_confidence=seg.confidence, unsure=unsure_built_up(seg),
        picture=_picture(preview, seg.shape), trained_here=list(trained_here or []),
    )
