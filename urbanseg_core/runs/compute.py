"""A run, start to end: read the source, segment it, compare with a reference, build the result.

::

    RunRequest (runs.request)
      -> Scene: the sample, an uploaded file (io.scene.read_scene) or a remote source the
         caller supplies (the app's Earth Engine fetch, :class:`RemoteSource`)
      -> Segmentation (inference.pipeline.segment_scene)
      -> reference on the scene's grid (io.references, or the remote source's)
      -> RunResult: areas, scores, map layers, downloads, manifest (runs.result)

No Streamlit and no caching here: the app (:mod:`urbanseg_core.app.runner`) caches
:func:`compute` per :meth:`~urbanseg_core.runs.request.RunRequest.key` and shows its
progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from ..evaluation.manifest import model_record
from ..inference.pipeline import segment_scene
from ..io.display import ImageLayer
from ..io.references import detect_codes, read_reference
from ..io.scene import Scene, read_scene
from ..model.loading import LoadedModel
from .request import RunRequest
from .result import RunResult, build_result
from .uploads import MAX_PIXELS

#: ``progress(stage, fraction)``: stage is "read", "predict", "maps" or "reference".
StageProgress = Callable[[str, float], None]


@dataclass(frozen=True)
class RemoteSource:
    """A source fetched over the network (Earth Engine), supplied by the caller.

    Attributes:
        scene: ``scene(request, progress) -> Scene``; ``progress(fraction)``.
        reference: ``reference(request, scene) -> (H, W) uint8 or None`` on the scene's grid
            (``None`` when it cannot be had: the run goes on without it).
        reference_codes: how the result names the reference's codes.
    """

    scene: Callable[[RunRequest, Callable[[float], None]], Scene]
    reference: Callable[[RunRequest, Scene], np.ndarray | None]
    reference_codes: str


def _quiet(_stage: str, _fraction: float) -> None:
    """The progress callback that reports nothing."""


def _read_file(request: RunRequest, sample: Scene | None, remote: RemoteSource | None,
               progress: StageProgress) -> Scene:
    if request.kind == "sample" and sample is not None:
        return sample
    return read_scene(request.path, band_order=request.band_order,
                      dn_offset=request.dn_offset, max_pixels=MAX_PIXELS)


def _read_remote(request: RunRequest, sample: Scene | None, remote: RemoteSource | None,
                 progress: StageProgress) -> Scene:
    if remote is None:
        raise ValueError(f"a {request.kind} request needs a remote source")
    return remote.scene(request, lambda f: progress("read", f))


#: Source kind -> reader.
READERS = {"sample": _read_file, "upload": _read_file, "earthengine": _read_remote}


def _codes_label(path: str, codes: str) -> str:
    """The reference codes as the result names them: ``"auto (esm)"`` for detected codes."""
    if codes != "auto":
        return codes
    try:
        with rasterio.open(path) as src:
            return f"auto ({detect_codes(src.read(1))})"
    except (RasterioIOError, ValueError):  # only a label
        return "auto"


def _reference(request: RunRequest, scene: Scene, remote: RemoteSource | None,
               progress: StageProgress) -> tuple[np.ndarray | None, str | None]:
    """``(reference classes on the scene's grid, codes label)``, or ``(None, None)``."""
    if request.reference_path:
        progress("reference", 0.0)
        reference = read_reference(request.reference_path, scene, request.reference_codes)
        return reference, _codes_label(request.reference_path, request.reference_codes)
    if request.kind == "earthengine" and remote is not None:
        reference = remote.reference(request, scene)
        return reference, remote.reference_codes if reference is not None else None
    return None, None


def _source_record(request: RunRequest, scene: Scene, codes: str | None) -> dict[str, Any]:
    """The manifest's ``source`` section."""
    source: dict[str, Any] = {
        "kind": request.kind, "name": request.name, "sha256": request.sha256,
        "shape_px": list(scene.shape), "crs": scene.crs.to_string() if scene.crs else None,
        "bounds": [round(v, 3) for v in scene.bounds],
        "bands_read": list(scene.band_names),
    }
    if request.reference_path:
        source["reference"] = {"sha256": request.reference_sha256, "codes": codes}
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
    if request.kind not in READERS:
        raise ValueError(f"unknown source kind {request.kind!r}")
    progress("read", 0.0)
    scene = READERS[request.kind](request, sample, remote, progress)
    progress("read", 1.0)
    seg = segment_scene(scene, loaded,
                        progress=lambda done, total: progress("predict", done / max(total, 1)))
    reference, codes = _reference(request, scene, remote, progress)
    progress("maps", 0.0)
    aoi, dates = _earth_engine_records(request)
    result = build_result(seg, run_id=request.key(loaded.sha256),
                          source=_source_record(request, scene, codes),
                          model=model_record(loaded, weights=loaded.path.name),
                          parameters=_parameters(request, loaded, seg), reference=reference,
                          reference_codes=codes, aoi=aoi, dates=dates,
                          true_colour=true_colour)
    progress("maps", 1.0)
    return result
