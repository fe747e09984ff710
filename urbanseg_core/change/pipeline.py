"""One call from two dates of one area to a from-to change map with its statistics.

::

    BEFORE, AFTER (Scene | GeoTIFF | band folder)          inputs.read_input
      -> one work grid (BEFORE's, or its 10 m UTM grid);
         AFTER warped onto it (nearest); overlap only      grid
      -> class probabilities of each date (same model)     probabilities
      -> change-vector magnitude (normalised, tolerant)    spectral
      -> changed pixels (magnitude, built-up, MMU)
         -> from-to codes 3 * before + after               decide
      -> back onto BEFORE's grid; km² per pair, net change stats
      -> GeoTIFF / JSON / GeoJSON bytes or files           output

``detect_change(before, after)`` is all the app or a script needs; :func:`prepare` then
:func:`decide` split it where the model has run, to try several parameters cheaply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ..io.scene import Scene
from ..errors import InputError
from ..model.loading import LoadedModel, load_model
from ..inference.predict import ProgressCallback, scene_probabilities
from ..sentinel2 import NODATA
from ..io.regrid import classes_to_grid
from .codes import check_classes, decode, pair_names
from .decide import ChangeParams, built_up_probability, candidates, from_to
from .grid import check_overlap, onto_grid, pixel_area_m2, work_grid
from .inputs import read_input
from .output import (change_geotiff_bytes, json_bytes, new_built_up_polygons,
                     write_change_geotiff)
from .spectral import change_magnitude
from .stats import ChangeStats, change_areas

#: Largest raster (pixels) compared by default: two dates, their probabilities and the change
#: vector take about 200 bytes per pixel (5 GB at this size, 2500 km² at 10 m).
DEFAULT_MAX_PIXELS = 25_000_000

#: What the from-to map means, in one sentence (JSON and GeoTIFF tags).
ENCODING = "code = 3 * before + after (0 other, 1 non-residential, 2 residential); 255 nodata"


@dataclass
class ChangeResult:
    """Change between two dates of one area, on BEFORE's grid.

    Attributes:
        codes: ``(H, W)`` uint8 from-to codes ``3 * before + after``; 255 outside the overlap.
        crs, transform: BEFORE's georeference.
        stats: km² and share per from-to pair, net change per class.
        class_names: the model's three classes, index order.
        params: the method's parameters.
        min_pixels: the minimum mapping unit in pixels of the grid the model ran on.
        before_classes, after_classes: ``(H, W)`` uint8 the model's arg-max class at each
            date (255 outside the overlap), before any change rule: for display, and the naive
            "difference of two maps".
        magnitude: ``(H, W)`` float32 change-vector magnitude (robust standard deviations).
        model_name, model_sha256: which model made both maps.
        seconds: wall time.
        notes: plain-language remarks (how inputs were read, warping, overlap).
        before_source, after_source: where the dates came from.
    """

    codes: np.ndarray
    crs: CRS | None
    transform: object
    stats: ChangeStats
    class_names: list[str]
    params: ChangeParams
    min_pixels: int
    before_classes: np.ndarray
    after_classes: np.ndarray
    magnitude: np.ndarray
    model_name: str
    model_sha256: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    before_source: str = ""
    after_source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the change map."""
        return tuple(self.codes.shape)  # type: ignore[return-value]

    @property
    def changed(self) -> np.ndarray:
        """``(H, W)`` bool: the class differs between the dates."""
        before, after = decode(self.codes)
        return (before != after) & (before != NODATA)

    @property
    def pair_names(self) -> list[str]:
        """Names of the nine codes."""
        return pair_names(self.class_names)

    def _tags(self) -> dict:
        return {"MODEL": self.model_name, "MODEL_SHA256": self.model_sha256,
                "BEFORE": self.before_source, "AFTER": self.after_source,
                "CHANGE_METHOD": self.params.to_dict()}

    def write(self, path: str | Path) -> Path:
        """Write the from-to GeoTIFF (uint8, colour table, pair names in the tags)."""
        return write_change_geotiff(path, self.codes, self.crs, self.transform,
                                    self.class_names, self._tags())

    def geotiff_bytes(self) -> bytes:
        """The from-to GeoTIFF as bytes."""
        return change_geotiff_bytes(self.codes, self.crs, self.transform, self.class_names,
                                    self._tags())

    def to_dict(self) -> dict:
        """The statistics and the method as one JSON-ready dict."""
        changed = self.changed
        agree = changed & (self.before_classes == self.after_classes)
        return {
            "before": self.before_source, "after": self.after_source,
            "model": self.model_name, "model_sha256": self.model_sha256,
            "encoding": ENCODING, "classes": list(self.class_names),
            "seconds": round(self.seconds, 3),
            **self.stats.to_dict(),
            "method": {
                **self.params.to_dict(), "min_pixels": self.min_pixels,
                "changed_share_where_per_date_classes_agree":
                    round(float(agree.sum() / changed.sum()), 4) if changed.any() else None,
                "summary": "changed where the normalised change vector exceeds min_magnitude "
                           "robust standard deviations and the model sees built-up area at "
                           "one date at least, in regions of min_area_m2 or more; from-to = "
                           "the most probable pair of different classes there, one class "
                           "for both dates elsewhere",
            },
            "notes": list(self.notes),
        }

    def json_bytes(self) -> bytes:
        """:meth:`to_dict` as indented UTF-8 JSON."""
        return json_bytes(self.to_dict())

    def new_built_up(self, min_pixels: int = 4) -> dict:
        """GeoJSON FeatureCollection (EPSG:4326) of the areas that became built up (codes 1
        and 2; polygons of fewer than ``min_pixels`` pixels are left out)."""
        return new_built_up_polygons(self.codes, self.crs, self.transform, self.class_names,
                                     min_pixels=min_pixels)

    def geojson_bytes(self) -> bytes:
        """:meth:`new_built_up` as UTF-8 GeoJSON."""
        return json_bytes(self.new_built_up())


def _two_stage(progress: ProgressCallback | None, stage: int):
    """A progress callback for one of the two dates, reporting ``(done, total)`` of both."""
    if progress is None:
        return None
    return lambda done, total: progress(stage * total + done, 2 * total)


def _to_before_grid(values: np.ndarray, work: Scene, before: Scene) -> np.ndarray:
    """A work-grid map back onto BEFORE's grid (nearest): class maps via
    :func:`~urbanseg_core.io.regrid.classes_to_grid`, floats with 0 outside."""
    if values.dtype == np.uint8:
        return classes_to_grid(values, work, before)
    out = np.zeros(before.shape, dtype=values.dtype)
    reproject(values, out, src_transform=work.transform, src_crs=work.crs,
              dst_transform=before.transform, dst_crs=before.crs,
              resampling=Resampling.nearest)
    return out


@dataclass
class TwoDates:
    """Both dates on the work grid with the model's probabilities: everything the change rule
    reads, so several :class:`ChangeParams` can be tried without running the model again.

    Attributes:
        before: BEFORE as read (its grid is the output grid).
        work: BEFORE on the work grid (itself, or warped to the model's UTM grid).
        after: AFTER on the work grid.
        overlap: ``(H', W')`` bool, data at both dates.
        p1, p2: ``(3, H', W')`` float32 class probabilities of BEFORE and AFTER.
        pixel_area_m2: area of one work-grid pixel.
        warped: ``None``, or why BEFORE was warped for the model.
        notes: plain-language remarks.
    """

    before: Scene
    work: Scene
    after: Scene
    overlap: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    pixel_area_m2: float
    warped: str | None
    notes: list[str]
    model_name: str
    model_sha256: str
    class_names: list[str]
    after_source: str
    _magnitudes: dict = field(default_factory=dict, repr=False)

    def magnitude(self, params: ChangeParams) -> np.ndarray:
        """The change-vector magnitude for ``params`` (cached: it does not depend on the
        thresholds)."""
        key = (params.bands, params.tolerance_px, params.noise_floor,
               params.built_up_probability)
        if key not in self._magnitudes:
            reference = ((built_up_probability(self.p1) > params.built_up_probability)
                         & (built_up_probability(self.p2) > params.built_up_probability))
            self._magnitudes[key] = change_magnitude(
                self.work.reflectance, self.after.reflectance, self.overlap, reference,
                params.bands, params.tolerance_px, params.noise_floor)
        return self._magnitudes[key]


def prepare(
    before: Scene | str | Path,
    after: Scene | str | Path,
    loaded: LoadedModel | None = None,
    band_order: Sequence[str] | None = None,
    dn_offset: float | None = None,
    dn_offset_after: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
) -> TwoDates:
    """Read both dates, put them on one grid and run the model on each (see
    :func:`detect_change` for the arguments and errors)."""
    loaded = loaded or load_model()
    card = loaded.card
    check_classes(card.class_names)
    b = read_input(before, band_order, dn_offset, max_pixels)
    a = read_input(after, band_order,
                   dn_offset if dn_offset_after is None else dn_offset_after, max_pixels)
    check_overlap(b, a)
    notes = [f"BEFORE: {n}" for n in b.notes] + [f"AFTER: {n}" for n in a.notes]
    work, reason = work_grid(b, card.pixel_size_m)
    if reason:
        notes.append(f"Both dates were warped to a {card.pixel_size_m:g} m UTM grid for the "
                     f"model because BEFORE's {reason}; the change map is on BEFORE's grid.")
    a_work = onto_grid(a, work)
    if a_work is not a:
        notes.append("AFTER was warped onto BEFORE's grid (nearest neighbour).")
    overlap = work.valid & a_work.valid
    if not overlap.any():
        raise InputError(
            f"BEFORE ({Path(b.source).name or 'scene'}) and AFTER "
            f"({Path(a.source).name or 'scene'}) have no pixel with data in common: their "
            "footprints touch, but where one has data the other has none. Give two images "
            "of the same area.")
    covered = overlap.sum() / max(1, work.valid.sum())
    if covered < 0.99:
        notes.append(f"Only {100 * covered:.1f} % of BEFORE's valid area has data at both "
                     "dates; the rest of the change map is nodata (255).")
    p1 = scene_probabilities(work, loaded, progress=_two_stage(progress, 0))
    p2 = scene_probabilities(a_work, loaded, progress=_two_stage(progress, 1))
    return TwoDates(b, work, a_work, overlap, p1, p2, pixel_area_m2(work, card.pixel_size_m),
                    reason, notes, card.name, loaded.sha256, list(card.class_names), a.source)


def decide(dates: TwoDates, params: ChangeParams | None = None) -> ChangeResult:
    """The change map of prepared dates under ``params`` (see :mod:`.decide`), on BEFORE's
    grid with its statistics."""
    start = time.perf_counter()
    params = params or ChangeParams()
    magnitude = dates.magnitude(params)
    changed = candidates(dates.p1, dates.p2, magnitude, dates.overlap, params,
                         dates.pixel_area_m2)
    maps = [from_to(dates.p1, dates.p2, changed, dates.overlap)]
    for p in (dates.p1, dates.p2):
        cls = p.argmax(axis=0).astype("uint8")
        cls[~dates.overlap] = NODATA
        maps.append(cls)
    notes = list(dates.notes)
    if changed.any():
        agree = float(np.mean(maps[1][changed] == maps[2][changed]))
        if agree >= 0.005:
            notes.append(f"In {100 * agree:.0f} % of the changed area the picture changed "
                         "clearly but the model's own map shows the same class at both "
                         "dates; there the from-to pair is its best guess at what changed "
                         "(less certain than where the two maps differ).")
    b = dates.before
    if dates.warped:
        maps = [_to_before_grid(m, dates.work, b) for m in maps]
        magnitude = _to_before_grid(magnitude, dates.work, b)
        for m in maps[1:]:
            m[maps[0] == NODATA] = NODATA
    codes, before_cls, after_cls = maps
    stats = change_areas(codes, b.crs, b.transform, dates.class_names)
    return ChangeResult(codes, b.crs, b.transform, stats, list(dates.class_names), params,
                        params.min_pixels(dates.pixel_area_m2), before_cls, after_cls,
                        magnitude, dates.model_name, dates.model_sha256,
                        time.perf_counter() - start, notes, b.source,
                        dates.after_source)


def detect_change(
    before: Scene | str | Path,
    after: Scene | str | Path,
    loaded: LoadedModel | None = None,
    params: ChangeParams | None = None,
    band_order: Sequence[str] | None = None,
    dn_offset: float | None = None,
    dn_offset_after: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
) -> ChangeResult:
    """Change between two dates of one area, both predicted with the same model.

    Args:
        before, after: each a :class:`~urbanseg_core.io.scene.Scene`, a Sentinel-2 GeoTIFF or a
            folder of single-band files (see :func:`~urbanseg_core.change.inputs.read_input`).
            AFTER may have another grid or CRS: it is warped onto BEFORE's.
        loaded: the model (default: the bundled one).
        params: the method's parameters (default :class:`ChangeParams`).
        band_order: band names of the GeoTIFFs' bands (both dates).
        dn_offset: DN offset of BEFORE (and of AFTER unless ``dn_offset_after`` is given);
            ``None``: 0, or what a band folder's metadata declares.
        dn_offset_after: DN offset of AFTER (e.g. -1000 for a Level-2A product of 2022 or
            later against an older BEFORE).
        max_pixels: refuse larger rasters before reading them.
        progress: ``progress(done_tiles, total_tiles)`` over both dates.

    Returns:
        A :class:`ChangeResult` on BEFORE's grid; pixels outside the overlap are 255.

    Raises:
        InputError: an input is missing or unreadable, or the dates do not overlap.
        BandOrderError: the model's bands cannot be found in an input.
        ModelLoadError: the model does not have three classes.
    """
    start = time.perf_counter()
    dates = prepare(before, after, loaded, band_order, dn_offset, dn_offset_after, max_pixels,
                    progress)
    result = decide(dates, params)
    result.seconds = time.perf_counter() - start
    return result
