"""Earth Engine in the app: connection status, AOI sizing, fetching a scene and a reference.

Everything here degrades gracefully: without the earthengine-api package or credentials, the
app says plainly "Not connected" and how to connect, and keeps working on the sample and
uploads. The connection is checked in a background thread with a short patience
(:data:`CHECK_TIMEOUT_S`), so the page never freezes when the network is down.
:data:`EARTH_ENGINE` is the remote source the run controller fetches Earth Engine requests
from.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import streamlit as st

from .. import aoi as aoi_mod
from ..errors import EarthEngineError, InputError, UrbansegError
from ..gee import auth, download, export
from ..gee.grid import estimate
from ..gee.layers import TileLayer
from ..io.scene import Scene
from ..runs.request import RemoteSource, RunRequest
from . import eelayers
from .messages import describe

#: How long the page waits for Earth Engine to answer before saying it did not (seconds).
CHECK_TIMEOUT_S = 8.0


def _secrets() -> dict:
    """``st.secrets`` as a plain dict, ``{}`` when there is no secrets file."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # noqa: BLE001 - no secrets.toml, or a malformed one
        return {}


def _connect(secrets: dict) -> Any:
    try:
        return auth.connect(secrets)
    except Exception:  # noqa: BLE001 - connect() should not raise; never show its details
        return None


_CHECK: dict[str, Any] = {}
_CHECK_LOCK = threading.Lock()


def start_check(again: bool = False) -> None:
    """Check the connection in a background thread (once per process, or ``again``), so the
    page never waits for Earth Engine: with credentials but no network the check can take
    a minute."""
    secrets = _secrets()  # read in the script thread
    with _CHECK_LOCK:
        if _CHECK and not again:
            return
        future: Future = Future()

        def check() -> None:
            future.set_result(_connect(secrets))

        _CHECK.update(future=future, started=time.monotonic())
        threading.Thread(target=check, name="urbanseg-ee-check", daemon=True).start()


@dataclass(frozen=True)
class Status:
    """The connection as the page shows it.

    Attributes:
        state: ``"checking"``, ``"connected"``, ``"not connected"`` or ``"no answer"``.
        detail: the technical reason (for an expander; never a key).
    """

    state: str
    detail: str = ""

    @property
    def connected(self) -> bool:
        return self.state == "connected"


#: How long a page run waits for a quick answer before showing "checking" (seconds).
QUICK_ANSWER_S = 0.5


def status() -> Status:
    """The connection's state now: a quick answer (within :data:`QUICK_ANSWER_S`), else
    ``"checking"`` while the background check runs (see :func:`start_check`)."""
    start_check()
    future, started = _CHECK["future"], _CHECK["started"]
    try:
        future.result(timeout=QUICK_ANSWER_S)
    except FutureTimeout:
        pass
    if not future.done():
        waited = time.monotonic() - started
        return Status("checking" if waited < CHECK_TIMEOUT_S else "no answer",
                      f"No answer from Earth Engine after {waited:.0f} s.")
    conn = future.result()
    if conn is None:
        return Status("not connected", "The Earth Engine support could not start here.")
    return Status("connected" if conn.connected else "not connected", conn.message)


def recheck() -> None:
    """Check the connection again (the button "Check the connection again")."""
    start_check(again=True)


def aoi_summary(geometry: dict, max_km2: float = 500.0,
                px_per_s: float | None = None) -> dict[str, Any]:
    """Area and size/time estimate of a drawn or uploaded AOI.

    Args:
        geometry: GeoJSON geometry (EPSG:4326).
        max_km2: largest area fetched interactively.
        px_per_s: model throughput measured on this computer (pixels per second), if known.

    Returns:
        ``{"area_km2", "pixels", "megabytes", "seconds", "error"}``; ``error`` is a plain
        sentence when the AOI cannot be used (too large, invalid), else ``None``.
    """
    out: dict[str, Any] = {"area_km2": None, "pixels": None, "megabytes": None,
                           "seconds": None, "error": None}
    try:
        area = aoi_mod.parse_geojson(geometry)
    except InputError as exc:
        out["error"] = describe(exc)
        return out
    out["area_km2"] = area.area_km2
    try:
        aoi_mod.validate(area, max_km2=max_km2)
    except InputError as exc:
        out["error"] = describe(exc)
    try:
        est = (estimate(area, inference_px_per_s=px_per_s) if px_per_s else estimate(area))
        out.update(pixels=est["pixels"], megabytes=est["megabytes"],
                   seconds=est["total_seconds"])
    except ValueError:  # outside UTM's latitudes (already said above): a rough figure
        pixels = int(area.area_km2 * 1e4)  # 10 m pixels
        out.update(pixels=pixels, megabytes=round(pixels * 50 / 1e6, 1),
                   seconds=round(pixels / (px_per_s or 150_000) + 10, 1))
    return out


def parse_drawing(drawings: Any) -> dict:
    """The last drawn polygon as a GeoJSON geometry (EPSG:4326).

    Raises:
        InputError: nothing usable is drawn.
    """
    return aoi_mod.from_folium_drawing(drawings).to_geojson()


def parse_upload(data: bytes) -> dict:
    """An uploaded GeoJSON file as one geometry (EPSG:4326).

    Raises:
        InputError: not GeoJSON or no polygon in it.
    """
    return aoi_mod.parse_geojson(data).to_geojson()


def fetch_scene(request: RunRequest, progress: Callable[[float], None]) -> Scene:
    """Fetch the Sentinel-2 composite of an Earth Engine request as a Scene (runs in the
    run controller's worker thread: no Streamlit calls here).

    Raises:
        EarthEngineError: not connected or the fetch failed (plain message).
        InputError: the AOI cannot be used.
    """
    area = aoi_mod.validate(aoi_mod.parse_geojson(json.loads(request.aoi)))
    return download.fetch_scene(area, start=request.start, end=request.end,
                                cloud_threshold=request.cloud_threshold,
                                progress=lambda done, total: progress(done / max(total, 1)))


def fetch_reference(request: RunRequest, scene: Scene) -> np.ndarray | None:  # noqa: ARG001
    """The GHSL reference on the scene's grid as index classes, or ``None`` when it cannot
    be fetched (the run still succeeds without it; the scene knows its AOI and grid)."""
    try:
        return download.fetch_reference(scene)
    except UrbansegError:  # the reference is optional
        return None


def request_pixels(request: RunRequest) -> int:
    """10 m pixels of an Earth Engine request's AOI (for the run's memory need)."""
    area = aoi_mod.parse_geojson(json.loads(request.aoi)) if request.aoi else None
    return int(area.area_km2 * 1e4) if area is not None else 0


#: Earth Engine as the remote source of ``"earthengine"`` run requests.
EARTH_ENGINE = RemoteSource(fetch_scene, fetch_reference, "GHSL GHS-BUILT-C (Earth Engine)",
                            request_pixels)


@st.cache_data(ttl=3600, show_spinner="Loading Earth Engine map layers...")
def tile_layers(geometry_json: str, start: str, end: str,
                cloud_threshold: float) -> tuple[list[TileLayer], str | None]:
    """Earth Engine tile layers for the map (made with geemap): the composite's true colour
    and GHSL.

    Args:
        geometry_json: the AOI as GeoJSON text (EPSG:4326; text so the cache can hash it).
        start, end: the composite's date range (ISO dates, end excluded).
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold.

    Returns:
        ``([TileLayer, ...], problem)``; ``problem`` is a plain sentence when the layers
        could not be made (the map then shows the AOI only).
    """
    try:
        made = eelayers.map_layers(aoi_mod.parse_geojson(geometry_json), start, end,
                                   cloud_threshold)
    except UrbansegError as exc:  # not connected, refused, bad AOI, geemap missing
        return [], describe(exc)
    except Exception:  # noqa: BLE001 - map context is optional; never show internals
        return [], "The Earth Engine map layers could not be loaded; the run still works."
    return made, None


def start_export(geometry: dict, start: str, end: str, cloud_threshold: float,
                 destination: str = "drive", bucket: str | None = None) -> tuple[str, str]:
    """Start an Earth Engine export of a (large) AOI's composite.

    Returns:
        ``(task_id, message)``: the message says where the GeoTIFF will appear.

    Raises:
        EarthEngineError: not connected, no permission, or Earth Engine refused.
        InputError: the AOI or the destination cannot be used.
    """
    area = aoi_mod.parse_geojson(geometry)
    dest = export.check_destination(destination, bucket)
    name = export.safe_name(f"urbanseg_{start[:4]}_{round(area.area_km2)}km2")
    task = export.export_composite(area, name, destination=dest, bucket=bucket, start=start,
                                   end=end, cloud_threshold=cloud_threshold)
    where = (f"Cloud Storage bucket {bucket}" if dest != "drive"
             else "the Google Drive folder 'urbanseg' of the connected account")
    return task.id, (f"Export started (task {task.id}). The GeoTIFF {name}_image.tif will "
                     f"appear in {where}; then segment it with `urbanseg batch`.")


def export_messages(task_ids: list[str]) -> list[str]:
    """One plain sentence per export task (state, error or output location)."""
    if not task_ids:
        return []
    try:
        return [s.message for s in export.task_status(list(task_ids))]
    except (EarthEngineError, InputError) as exc:
        return [str(exc)]
    except Exception:  # noqa: BLE001 - status is informational
        return ["The export status could not be read right now; try again in a minute."]
