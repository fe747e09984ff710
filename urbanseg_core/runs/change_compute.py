"""A change run, start to end: read both dates, run :func:`~urbanseg_core.change.detect_change`,
build the result the page shows (two linked maps, the from-to table, downloads).

::

    ChangeRequest (runs.change_request)
      -> two Scenes: uploaded files (change.inputs.read_input) or two Earth Engine
         composites of one AOI (a RemoteSource the caller supplies, as for runs.compute)
      -> ChangeResult (change.pipeline.detect_change): from-to codes on BEFORE's grid, km²
      -> ChangeRunResult: map layers of both dates and of the change, downloads

No Streamlit and no caching here: the app (:mod:`urbanseg_core.app.runner`) caches
:func:`compute_change` per :meth:`~urbanseg_core.runs.change_request.ChangeRequest.key` and
admits it through the run queue, sized by :func:`change_memory_need`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..change.codes import PAIR_COLOURS
from ..change.inputs import read_input
from ..change.pipeline import DEFAULT_MAX_PIXELS, ChangeResult, detect_change
from ..errors import InputError
from ..evaluation.manifest import model_record
from ..io.display import MAX_SIDE, ImageLayer, class_layer, footprint, true_colour_layer
from ..io.outputs import overlay_rgba, png_bytes
from ..io.scene import BandFile, Scene
from ..model.loading import LoadedModel
from ..sentinel2 import NODATA
from ..util import safe_name
from .change_request import WHICH, ChangeRequest
from .load import FIXED_BYTES
from .request import RemoteSource, RunRequest
from .result import DeferredDownloads

#: ``progress(stage, fraction)``: "read", "predict" (both dates), "maps" (and "queue").
StageProgress = Callable[[str, float], None]
#: Largest date the app compares, pixels: both dates, their class probabilities and the change
#: vector are held in memory (about :data:`CHANGE_BYTES_PER_PX` bytes a pixel).
MAX_CHANGE_PIXELS = DEFAULT_MAX_PIXELS
#: Memory per pixel of BEFORE's grid (the change pipeline's own estimate).
CHANGE_BYTES_PER_PX = 200

#: The downloads of a change: kind -> (file-name suffix, MIME type, how the bytes are made).
CHANGE_DOWNLOADS: dict[str, tuple[str, str, Callable[["ChangeRunResult"], bytes]]] = {
    "change-tif": ("_change.tif", "image/tiff", lambda r: r.change.geotiff_bytes()),
    "change-csv": ("_change_table.csv", "text/csv", lambda r: r.change.stats.csv_bytes()),
    "new-built-geojson": ("_new_built_up.geojson", "application/geo+json",
                          lambda r: r.change.geojson_bytes()),
    "change-json": ("_change.json", "application/json", lambda r: r.change.json_bytes()),
}


def _quiet(_stage: str, _fraction: float) -> None:
    """The progress callback that reports nothing."""


@dataclass
class ChangeRunResult(DeferredDownloads):
    """A finished change run, as the Compare two dates page shows it.

    Attributes:
        run_id: the cache key of the inputs (hex).
        change: the :class:`~urbanseg_core.change.pipeline.ChangeResult` (from-to codes
            ``(H, W)`` uint8 on BEFORE's grid, km² per pair, both dates' classes).
        dates: what each date was (kind, name, sha256, date range, size, CRS), in order.
        colours: the classes' colours (model card order).
        model: name, version, sha256 of the model used on both dates.
        seconds: the change pipeline's wall time, s.
        before_true_colour, after_true_colour: each date's image (EPSG:3857 PNGs), or
            ``None`` without a CRS.
        before_layer, after_layer: each date's classes on BEFORE's grid, as map layers.
        change_layer: the pixels whose class changed, coloured by from-to pair (unchanged
            transparent).
        outline: BEFORE's footprint (GeoJSON geometry, EPSG:4326).
    """

    run_id: str
    change: ChangeResult
    dates: list[dict[str, Any]]
    colours: list[str]
    model: dict[str, Any]
    seconds: float
    before_true_colour: ImageLayer | None = None
    after_true_colour: ImageLayer | None = None
    before_layer: ImageLayer | None = None
    after_layer: ImageLayer | None = None
    change_layer: ImageLayer | None = None
    outline: dict | None = None
    _made: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    DOWNLOADS = CHANGE_DOWNLOADS

    @property
    def stats(self):
        """The from-to areas (:class:`~urbanseg_core.change.stats.ChangeStats`)."""
        return self.change.stats

    @property
    def class_names(self) -> list[str]:
        """The model's three classes, index order."""
        return self.change.class_names

    @property
    def notes(self) -> list[str]:
        """Plain-language remarks (how the dates were read, warped, compared)."""
        return self.change.notes

    @property
    def stem(self) -> str:
        """A file-name stem, e.g. ``urbanseg_change_imgs_1_to_imgs_2``."""
        names = [safe_name(str(d["name"]).rsplit(".", 1)[0], 40, which)
                 for d, which in zip(self.dates, WHICH)]
        return f"urbanseg_change_{names[0]}_to_{names[1]}"

    @property
    def new_built_up_km2(self) -> float:
        """Area that became built up (other -> non-residential or residential), km²."""
        return sum(p.area_km2 for p in self.stats.pairs if p.code in (1, 2))

    def class_area_rows(self) -> list[dict[str, Any]]:
        """Each class's area at both dates within the compared area (km²), for charts."""
        s = self.stats
        return [{"class": name, "date": label, "area_km2": round(areas[name], 4)}
                for name in self.class_names
                for label, areas in (("before", s.before_km2), ("after", s.after_km2))]

    def picture_png(self, which: str) -> bytes:
        """``"before"``, ``"after"`` (classes, every class coloured) or ``"change"`` (changed
        pixels by pair) as an opaque PNG on BEFORE's grid, decimated to at most
        :data:`~urbanseg_core.io.display.MAX_SIDE` px a side: for images without a CRS."""
        step = max(1, -(-max(self.change.shape) // MAX_SIDE))
        if which == "change":
            rgba = overlay_rgba(changed_only(self.change.codes)[::step, ::step],
                                PAIR_COLOURS, 1.0)
        else:
            classes = getattr(self.change, f"{which}_classes")[::step, ::step]
            rgba = overlay_rgba(classes, self.colours, 1.0, show_other=True)
        return png_bytes(rgba)


def changed_only(codes: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 from-to codes with the unchanged pairs (0, 4, 8) set to nodata (255),
    so a map shows only where the class changed."""
    out = codes.copy()
    out[np.isin(codes, (0, 4, 8))] = NODATA
    return out


def _date_record(date: RunRequest, scene: Scene) -> dict[str, Any]:
    """What one date was, for the result (and its manifest-like JSON)."""
    record = {"kind": date.kind, "name": date.name, "sha256": date.sha256,
              "shape_px": list(scene.shape),
              "crs": scene.crs.to_string() if scene.crs else None,
              "band_order": list(date.band_order) if date.band_order else "from file",
              "dn_offset": date.dn_offset}
    if date.kind == "earthengine":
        record.update(start=date.start, end_excluded=date.end,
                      cloud_score_plus_threshold=date.cloud_threshold)
    return record


def read_dates(request: ChangeRequest, remote: RemoteSource | None = None,
               progress: StageProgress | None = None) -> tuple[Scene, Scene]:
    """Both dates of a request as Scenes, named as the user knows them.

    Raises:
        InputError: the same file twice, a file that cannot be read or is larger than
            :data:`MAX_CHANGE_PIXELS`; BandOrderError: bands not found; ValueError: an Earth
            Engine request without ``remote``; EarthEngineError: the fetch failed.
    """
    progress = progress or _quiet
    if request.kind == "upload" and request.before.sha256 == request.after.sha256:
        raise InputError(f"BEFORE and AFTER are the same image ({request.before.name}).",
                         "Give the images of two dates of the same area.")
    if request.kind == "earthengine" and remote is None:
        raise ValueError("an Earth Engine change request needs a remote source")
    scenes = []
    for i, date in enumerate(request.dates):
        if request.kind == "earthengine":
            scene = remote.scene(date, lambda f, i=i: progress("read", (i + f) / 2))
        else:
            scene = read_input(date.path, date.band_order, date.dn_offset, MAX_CHANGE_PIXELS)
        scene.source = date.name
        scenes.append(scene)
        progress("read", (i + 1) / 2)
    return scenes[0], scenes[1]


def change_memory_need(request: ChangeRequest, remote: RemoteSource | None = None) -> int:
    """The memory a change run needs (bytes): :data:`CHANGE_BYTES_PER_PX` per pixel of
    BEFORE (its file's size, or the Earth Engine AOI's 10 m pixels) plus the model's fixed
    share (:data:`~urbanseg_core.runs.load.FIXED_BYTES`).

    Raises:
        InputError: BEFORE cannot be read (plain message).
    """
    if request.kind == "upload":
        b = request.before
        height, width = BandFile(b.path, band_order=b.band_order, dn_offset=b.dn_offset,
                                 max_pixels=MAX_CHANGE_PIXELS).shape
        pixels = height * width
    else:
        pixels = remote.pixels(request.before) if remote is not None else 0
    return FIXED_BYTES + CHANGE_BYTES_PER_PX * pixels


def _layers(change: ChangeResult, scenes: tuple[Scene, Scene],
            colours: list[str]) -> dict[str, Any]:
    """The map layers of a change (none without a CRS: nothing to place)."""
    if change.crs is None:
        return {}
    tc = [true_colour_layer(s.reflectance, s.valid, s.crs, s.transform) for s in scenes]
    return {
        "before_true_colour": tc[0], "after_true_colour": tc[1],
        "before_layer": class_layer(change.before_classes, change.crs, change.transform,
                                    colours),
        "after_layer": class_layer(change.after_classes, change.crs, change.transform,
                                   colours),
        "change_layer": class_layer(changed_only(change.codes), change.crs, change.transform,
                                    PAIR_COLOURS),
        "outline": footprint(change.crs, change.transform, change.shape),
    }


def compute_change(request: ChangeRequest, loaded: LoadedModel,
                   progress: StageProgress | None = None,
                   remote: RemoteSource | None = None) -> ChangeRunResult:
    """Run a change request start to end (no caching, no Streamlit calls).

    Args:
        request: the two dates.
        loaded: the model (used on both dates).
        progress: ``progress(stage, fraction)``.
        remote: where ``"earthengine"`` dates are fetched from.

    Returns:
        The :class:`ChangeRunResult`.

    Raises:
        UrbansegError: a plain-language problem with the inputs (see :func:`read_dates` and
            :func:`~urbanseg_core.change.pipeline.detect_change`: no overlap, bands missing).
        ValueError: an Earth Engine request without ``remote``.
    """
    progress = progress or _quiet
    progress("read", 0.0)
    scenes = read_dates(request, remote, progress)
    change = detect_change(*scenes, loaded,
                           progress=lambda done, total: progress("predict", done / max(total, 1)))
    progress("maps", 0.0)
    colours = list(loaded.card.class_colours)
    result = ChangeRunResult(
        run_id=request.key(loaded.sha256), change=change,
        dates=[_date_record(d, s) for d, s in zip(request.dates, scenes)],
        colours=colours, model=model_record(loaded, weights=Path(loaded.path).name),
        seconds=change.seconds, **_layers(change, scenes, colours))
    progress("maps", 1.0)
    return result
