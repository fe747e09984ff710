"""The run controller: inputs -> (cached) result, with progress and plain-language errors.

A run is described by a :class:`RunRequest`. Its :meth:`~RunRequest.key` hashes what
determines the answer (source content sha256, band order, DN offset, reference, AOI, dates,
model sha256), and the work is cached with ``st.cache_data`` under that key: the same inputs
re-run instantly, in any session. Concurrent sessions asking for the same key wait for one
computation (Streamlit's per-key compute lock).

The cached computation runs in a worker thread while the script thread shows its progress
(stage and fraction from a queue), so a cached function never writes to the page itself
(which ``st.cache_data`` could not replay).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import streamlit as st

from ..io.scene import Scene, read_scene
from ..model.loading import LoadedModel
from ..inference.pipeline import segment_scene
from ..runs.result import RunResult, build_result

#: ``progress(stage, fraction)``: stage is "read", "predict", "maps" or "reference".
StageProgress = Callable[[str, float], None]


@dataclass(frozen=True)
class RunRequest:
    """Everything that determines a run's answer.

    Attributes:
        kind: ``"sample"``, ``"upload"`` or ``"earthengine"``.
        name: a label for the source (file name, "sample").
        path: the input raster (``None`` for Earth Engine).
        sha256: sha256 of the input file (identifies the content for the cache).
        band_order: names of the file's bands from the band form, or ``None``.
        dn_offset: DN offset (-1000 for non-harmonised Level-2A since 2022-01-25).
        reference_path, reference_sha256, reference_codes: an optional reference mask.
        aoi: GeoJSON geometry (EPSG:4326) for Earth Engine runs.
        start, end: date range (ISO dates, end excluded) for Earth Engine composites.
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1: pixels at least this
            likely to be clear are kept.
    """

    kind: str
    name: str
    path: str | None = None
    sha256: str | None = None
    band_order: tuple[str, ...] | None = None
    dn_offset: float = 0.0
    reference_path: str | None = None
    reference_sha256: str | None = None
    reference_codes: str = "auto"
    aoi: str | None = None  # GeoJSON text (hashable)
    start: str | None = None
    end: str | None = None
    cloud_threshold: float | None = None

    def key(self, model_sha256: str) -> str:
        """Hex sha256 of the inputs that determine the answer (paths excluded)."""
        fields = asdict(self)
        fields.pop("path")
        fields.pop("reference_path")
        fields["model_sha256"] = model_sha256
        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(request: RunRequest, sample: Scene | None, progress: StageProgress) -> Scene:
    progress("read", 0.0)
    if request.kind == "sample" and sample is not None:
        scene = sample
    elif request.kind in ("sample", "upload"):
        from ..runs.uploads import MAX_PIXELS

        scene = read_scene(request.path, band_order=request.band_order,
                           dn_offset=request.dn_offset, max_pixels=MAX_PIXELS)
    elif request.kind == "earthengine":
        from .earthengine import fetch_scene

        scene = fetch_scene(request, lambda f: progress("read", f))
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown source kind {request.kind!r}")
    progress("read", 1.0)
    return scene


def compute(request: RunRequest, loaded: LoadedModel, progress: StageProgress | None = None,
            sample: Scene | None = None, true_colour=None) -> RunResult:
    """Run the whole chain for a request (no caching, no Streamlit calls).

    Args:
        request: the inputs.
        loaded: the model.
        progress: ``progress(stage, fraction)``.
        sample: the already-read sample scene, for ``kind == "sample"``.
        true_colour: its precomputed true-colour layer.

    Raises:
        UrbansegError: a plain-language problem with the inputs.
    """
    progress = progress or (lambda _s, _f: None)
    scene = _read(request, sample, progress)
    card = loaded.card
    seg = segment_scene(scene, loaded,
                        progress=lambda done, total: progress("predict", done / max(total, 1)))
    reference = None
    codes = None
    if request.reference_path:
        from ..io.references import detect_codes, read_reference

        progress("reference", 0.0)
        reference = read_reference(request.reference_path, scene, request.reference_codes)
        codes = request.reference_codes
        if codes == "auto":
            try:
                import rasterio

                with rasterio.open(request.reference_path) as src:
                    codes = f"auto ({detect_codes(src.read(1))})"
            except Exception:  # noqa: BLE001 - only a label
                codes = "auto"
    if request.kind == "earthengine" and reference is None:
        from .earthengine import fetch_reference

        reference = fetch_reference(request, scene)
        codes = "GHSL GHS-BUILT-C (Earth Engine)" if reference is not None else None
    progress("maps", 0.0)
    source: dict[str, Any] = {
        "kind": request.kind, "name": request.name, "sha256": request.sha256,
        "shape_px": list(scene.shape), "crs": scene.crs.to_string() if scene.crs else None,
        "bounds": [round(v, 3) for v in scene.bounds],
        "bands_read": list(scene.band_names),
    }
    if request.reference_path:
        source["reference"] = {"sha256": request.reference_sha256, "codes": codes}
    parameters = {
        "tile_size": card.tile_size, "overlap": card.overlap,
        "band_order": list(request.band_order) if request.band_order else "from file",
        "dn_offset": request.dn_offset, "normalisation": card.normalisation.method,
        "device": str(loaded.device),
    }
    model = {"name": card.name, "version": card.version, "sha256": loaded.sha256,
             "weights": loaded.path.name}
    aoi = dates = None
    if request.kind == "earthengine":
        aoi = {"geometry": json.loads(request.aoi) if request.aoi else None}
        dates = {"start": request.start, "end_excluded": request.end,
                 "cloud_score_plus_threshold": request.cloud_threshold}
    result = build_result(seg, run_id=request.key(loaded.sha256), source=source, model=model,
                          parameters=parameters, reference=reference, reference_codes=codes,
                          aoi=aoi, dates=dates, true_colour=true_colour)
    progress("maps", 1.0)
    return result


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_compute(key: str, _request: RunRequest, _loaded: LoadedModel,  # noqa: ARG001
                    _progress: StageProgress, _sample: Scene | None,
                    _true_colour) -> RunResult:
    return compute(_request, _loaded, _progress, _sample, _true_colour)


def run(request: RunRequest, loaded: LoadedModel, on_progress: StageProgress,
        sample: Scene | None = None, true_colour=None) -> tuple[RunResult, bool]:
    """Run (or fetch from the cache) a request, reporting progress from the script thread.

    Args:
        request: the inputs.
        loaded: the model.
        on_progress: called in the script thread as ``on_progress(stage, fraction)``.
        sample, true_colour: the shared sample scene and its layer (for the sample).

    Returns:
        ``(result, from_cache)``.

    Raises:
        UrbansegError: from the computation (plain-language message).
    """
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    key = request.key(loaded.sha256)
    updates: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}
    started = time.perf_counter()

    def work() -> None:
        try:
            box["result"] = _cached_compute(key, request, loaded,
                                            lambda s, f: updates.put((s, f)), sample,
                                            true_colour)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the script thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="urbanseg-run", daemon=True)
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(worker, ctx)
    worker.start()
    seen = False
    while worker.is_alive() or not updates.empty():
        try:
            stage, fraction = updates.get(timeout=0.05)
        except queue.Empty:
            continue
        seen = True
        on_progress(stage, fraction)
    worker.join()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    from_cache = not seen and time.perf_counter() - started < 1.0
    return result, from_cache
