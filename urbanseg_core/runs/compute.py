"""A run, start to end: read the source, segment it, compare with a reference, build the result.

::

    RunRequest (runs.request)
      -> source: the sample, an uploaded file, or a remote source the caller supplies (the
         app's Earth Engine fetch, :class:`~urbanseg_core.runs.request.RemoteSource`)
      -> Segmentation (inference.pipeline): files on a 10 m grid are read tile by tile
         (segment_file: memory for the class map, not the band stack), others whole
      -> reference on the scene's grid (io.references: by codes or by the user's value table)
      -> RunResult: areas, scores, map layers from a decimated preview, downloads, manifest

No Streamlit and no caching here: the app (:mod:`urbanseg_core.app.runner`) caches
:func:`compute` per :meth:`~urbanseg_core.runs.request.RunRequest.key`, admits it through
the run queue (:mod:`urbanseg_core.runs.load`, sized by :func:`memory_need`) and shows its
progress.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from ..evaluation.manifest import model_record
from ..inference.pipeline import Segmentation, segment_file, segment_scene
from ..io.display import ImageLayer
from ..io.grid import wgs84_bounds
from ..io.references import detect_codes, read_reference
from ..io.regrid import regrid_reason
from ..io.scene import BandFile, Scene, read_scene
from ..model.card import training_areas
from ..model.loading import LoadedModel
from .load import run_bytes
from .request import RemoteSource, RunRequest
from .result import RunResult, build_result
from .uploads import MAX_PIXELS

__all__ = ["RemoteSource", "StageProgress", "compute", "memory_need"]

#: ``progress(stage, fraction)``: stage is "read", "predict", "maps" or "reference" (and
#: "queue" with the number of runs ahead, from the app's run queue).
StageProgress = Callable[[str, float], None]
#: Pixels of the bundled sample scene (768 x 1024).
SAMPLE_PIXELS = 768 * 1024


def _quiet(_stage: str, _fraction: float) -> None:
    """The progress callback that reports nothing."""


def _predict_progress(progress: StageProgress):
    return lambda done, total: progress("predict", done / max(total, 1))


def _run_sample(request: RunRequest, loaded: LoadedModel, sample: Scene | None,
                remote: RemoteSource | None, progress: StageProgress
                ) -> tuple[Segmentation, Scene]:
    scene = read_request_scene(request, sample)
    return segment_scene(scene, loaded, progress=_predict_progress(progress)), scene


def _run_upload(request: RunRequest, loaded: LoadedModel, sample: Scene | None,
                remote: RemoteSource | None, progress: StageProgress
                ) -> tuple[Segmentation, Scene]:
    """A file: tile by tile on a 10 m grid, whole otherwise; its preview for the pictures."""
    seg = segment_file(request.path, loaded, band_order=request.band_order,
                       dn_offset=request.dn_offset, progress=_predict_progress(progress),
                       max_pixels=MAX_PIXELS)
    if seg.scene is not None:
        return seg, seg.scene
    return seg, BandFile(request.path, band_order=request.band_order,
                         dn_offset=request.dn_offset).preview()


def _run_remote(request: RunRequest, loaded: LoadedModel, sample: Scene | None,
                remote: RemoteSource | None, progress: StageProgress
                ) -> tuple[Segmentation, Scene]:
    scene = read_request_scene(request, remote=remote, progress=progress)
    return segment_scene(scene, loaded, progress=_predict_progress(progress)), scene


#: Source kind -> ``run(request, loaded, sample, remote, progress) -> (segmentation,
#: preview scene)``.
RUNNERS = {"sample": _run_sample, "upload": _run_upload, "earthengine": _run_remote}
#: Kinds fetched from a :class:`~urbanseg_core.runs.request.RemoteSource`.
REMOTE_KINDS = ("earthengine",)


def read_request_scene(request: RunRequest, sample: Scene | None = None,
                       remote: RemoteSource | None = None,
                       progress: StageProgress | None = None) -> Scene:
    """The whole image of a request as a run reads it, on the grid its reference was put
    on (the sample, the uploaded file, or the Earth Engine composite): for work that needs
    the pixels again after a run, such as adapting the model (``(11, H, W)`` reflectance).

    Raises:
        InputError: the file cannot be read; ValueError: an Earth Engine request without
        ``remote``.
    """
    progress = progress or _quiet
    if request.kind == "sample":
        return sample if sample is not None else read_scene(request.path)
    if request.kind in REMOTE_KINDS:
        if remote is None:
            raise ValueError(f"a {request.kind} request needs a remote source")
        return remote.scene(request, lambda f: progress("read", f))
    return read_scene(request.path, band_order=request.band_order,
                      dn_offset=request.dn_offset)


def memory_need(request: RunRequest, loaded: LoadedModel,
                remote: RemoteSource | None = None) -> int:
    """The memory a request's run needs (bytes, :func:`~urbanseg_core.runs.load.run_bytes`):
    files on a 10 m grid are read tile by tile; the sample, remote composites (their size
    from ``remote.pixels``) and files that must be warped are held whole.

    Raises:
        InputError: the file cannot be read (plain message).
    """
    if request.kind == "upload":
        source = BandFile(request.path, band_order=request.band_order,
                          dn_offset=request.dn_offset, max_pixels=MAX_PIXELS)
        whole = bool(regrid_reason(source.crs, source.transform, loaded.card.pixel_size_m))
        return run_bytes(source.shape[0] * source.shape[1], whole)
    if request.kind in REMOTE_KINDS and remote is not None:
        return run_bytes(remote.pixels(request), True)
    return run_bytes(SAMPLE_PIXELS, True)


def _codes_label(path: str, codes: str) -> str:
    """The reference codes as the result names them: ``"auto (esm)"`` for detected codes."""
    if codes != "auto":
        return codes
    try:
        with rasterio.open(path) as src:
            return f"auto ({detect_codes(src.read(1))})"
    except (RasterioIOError, ValueError):  # only a label
        return "auto"


def _reference(request: RunRequest, seg: Segmentation, remote: RemoteSource | None,
               progress: StageProgress) -> tuple[np.ndarray | None, str | None]:
    """``(reference classes on the segmentation's grid, codes label)``, or ``(None, None)``."""
    if request.reference_path:
        progress("reference", 0.0)
        if request.reference_values is not None:
            values = dict(request.reference_values)
            codes = _codes_label(request.reference_path, request.reference_codes)
            return (read_reference(request.reference_path, seg, values=values),
                    f"{codes} codes, classes as in the value table")
        reference = read_reference(request.reference_path, seg, request.reference_codes)
        return reference, _codes_label(request.reference_path, request.reference_codes)
    if request.kind == "earthengine" and remote is not None:
        reference = remote.reference(request, seg.scene)
        return reference, remote.reference_codes if reference is not None else None
    return None, None


def _source_record(request: RunRequest, seg: Segmentation, preview: Scene,
                   codes: str | None) -> dict[str, Any]:
    """The manifest's ``source`` section."""
    bounds = rasterio.transform.array_bounds(*seg.shape, seg.transform)
    source: dict[str, Any] = {
        "kind": request.kind, "name": request.name, "sha256": request.sha256,
        "shape_px": list(seg.shape), "crs": seg.crs.to_string() if seg.crs else None,
        "bounds": [round(v, 3) for v in bounds],
        "bands_read": list(preview.band_names),
    }
    if request.reference_path:
        source["reference"] = {"sha256": request.reference_sha256, "codes": codes}
        if request.reference_values is not None:
            source["reference"]["values"] = {str(v): c for v, c in request.reference_values}
    return source


def _parameters(request: RunRequest, loaded: LoadedModel, seg) -> dict[str, Any]:
    """The manifest's ``parameters`` section: the tile size and overlap are the ones the
    prediction used (:attr:`~urbanseg_core.inference.pipeline.Segmentation.tiling`)."""
    card = loaded.card
    tile_size, overlap = seg.tiling or (card.tile_size, card.overlap)
    return {
        "tile_size": tile_size, "overlap": overlap, "seam_blending": "cosine, edge crop",
        "band_order": list(request.band_order) if request.band_order else "from file",
        "dn_offset": request.dn_offset, "normalisation": card.normalisation.method,
        "device": str(loaded.device),
    }


def _earth_engine_records(request: RunRequest) -> tuple[dict | None, dict | None]:
    """The manifest's ``aoi`` and ``dates`` sections of an Earth Engine run."""
    if request.kind != "earthengine":
        return None, None
    aoi = {"geometry": json.loads(request.aoi) if request.aoi else None}
    dates = {"start": request.start, "end_excluded": request.end,
             "cloud_score_plus_threshold": request.cloud_threshold}
    return aoi, dates


def compute(request: RunRequest, loaded: LoadedModel, progress: StageProgress | None = None,
            sample: Scene | None = None, true_colour: ImageLayer | None = None,
            remote: RemoteSource | None = None) -> RunResult:
    """Run the whole chain for a request (no caching, no Streamlit calls).

    Args:
        request: the inputs.
        loaded: the model.
        progress: ``progress(stage, fraction)``.
        sample: the already-read sample scene, for ``kind == "sample"``.
        true_colour: its precomputed true-colour layer.
        remote: where ``"earthengine"`` requests are fetched from.

    Returns:
        The :class:`~urbanseg_core.runs.result.RunResult`.

    Raises:
        UrbansegError: a plain-language problem with the inputs.
        ValueError: an unknown request kind, or a remote request without ``remote``.
    """
    progress = progress or _quiet
    if request.kind not in RUNNERS:
        raise ValueError(f"unknown source kind {request.kind!r}")
    progress("read", 0.0)
    seg, preview = RUNNERS[request.kind](request, loaded, sample, remote, progress)
    reference, codes = _reference(request, seg, remote, progress)
    progress("maps", 0.0)
    aoi, dates = _earth_engine_records(request)
    result = build_result(seg, run_id=request.key(loaded.sha256),
                          source=_source_record(request, seg, preview, codes),
                          model=model_record(loaded, weights=loaded.path.name),
                          parameters=_parameters(request, loaded, seg), reference=reference,
                          reference_codes=codes, aoi=aoi, dates=dates,
                          true_colour=true_colour, preview=preview,
                          trained_here=training_areas(loaded.card, wgs84_bounds(
                              seg.crs, seg.transform, seg.classes.shape)))
    progress("maps", 1.0)
    return result
