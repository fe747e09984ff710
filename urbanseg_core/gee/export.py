"""Export tasks for areas too large to fetch interactively, and training pairs.

Earth Engine batch exports (``ee.batch.Export.image.toDrive`` / ``toCloudStorage``) write
GeoTIFFs on the AOI's UTM grid (same grid as :func:`~urbanseg_core.gee.grid.grid_for_aoi`,
given as ``crs`` + ``crsTransform`` + ``dimensions``, so pixel edges match an in-process
fetch exactly). They run on Google's side and can take minutes to hours; poll them with
:func:`task_status`.

Training pairs use the layout the training command reads, one folder holding for each AOI:

* ``<name>_image.tif``: 11 bands B2..B12 (model order), float32 reflectance 0-1, nodata 0;
* ``<name>_mask.tif``: uint8 index codes 0 other, 1 non-residential, 2 residential (GHSL
  GHS-BUILT-C 2018), 255 nodata.

Pairs can be exported by Earth Engine (:func:`export_pair`, Drive folder or Cloud Storage
prefix; download the folder afterwards) or fetched in process and written locally
(:func:`write_pair`), which is quicker for a few small AOIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio

from ..aoi import AOI
from ..errors import EarthEngineError, InputError
from ..io.grid import Grid
from ..lazy import lazy_import
from ..sentinel2 import MODEL_BANDS, NODATA
from ..util import atomic_write
from ..util import safe_name as _safe
from .auth import require_initialized
from .composite import DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START, composite, ee_geometry
from .download import RetryPolicy, call_with_retries
from .grid import crs_transform, grid_for_aoi
from .reference import ghsl_reference

Destination = Literal["drive", "gcs"]

#: Task states that will not change any more.
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class ExportTask:
    """A started export.

    Attributes:
        id: Earth Engine task id (show it; poll with :func:`task_status`).
        description: the task's name in the Earth Engine Tasks list.
        destination: ``"drive"`` or ``"gcs"``.
        location: Drive folder name, or ``gs://bucket/prefix`` for Cloud Storage.
        file_prefix: output file name without ``.tif``.
    """

    id: str
    description: str
    destination: str
    location: str
    file_prefix: str


@dataclass(frozen=True)
class TaskStatus:
    """An export's state: READY, RUNNING, COMPLETED, FAILED, CANCELLED or UNKNOWN."""

    id: str
    state: str
    description: str = ""
    error: str = ""
    uris: tuple[str, ...] = field(default_factory=tuple)

    @property
    def done(self) -> bool:
        """``True`` once the task can no longer change."""
        return self.state in FINAL_STATES

    @property
    def message(self) -> str:
        """A plain sentence for the user."""
        text = {"READY": "is waiting in Earth Engine's queue",
                "RUNNING": "is running",
                "COMPLETED": "has finished",
                "FAILED": "failed",
                "CANCELLED": "was cancelled",
                "CANCEL_REQUESTED": "is being cancelled"}.get(self.state, "is unknown to Earth Engine")
        out = f"Export {self.description or self.id} {text}."
        if self.error:
            out += f" Earth Engine said: {self.error}"
        if self.uris:
            out += " Output: " + ", ".join(self.uris)
        return out


def safe_name(text: str, limit: int = 100) -> str:
    """A task description / file prefix Earth Engine accepts (letters, digits, ``_-.``;
    :func:`urbanseg_core.util.safe_name`).

    Raises:
        InputError: nothing is left of ``text``.
    """
    name = _safe(text, limit)
    if not name:
        raise InputError("Give a name with letters or digits for the export.")
    return name


def start_image_export(image, grid: Grid, name: str, destination: Destination = "drive",
                       folder: str = "urbanseg", bucket: str | None = None,
                       no_data: float | None = None) -> ExportTask:
    """Start a GeoTIFF export of ``image`` on ``grid``.

    Args:
        image: the ``ee.Image`` to export.
        grid: output grid (its CRS, 10 m transform and size are used exactly).
        name: task description and file prefix (made safe, see :func:`safe_name`).
        destination: ``"drive"`` (``folder`` in the account's Google Drive; for a service
            account, its own Drive) or ``"gcs"`` (``bucket``, under the prefix ``folder/``).
        folder: Drive folder, or object prefix in the bucket.
        bucket: Cloud Storage bucket (required for ``"gcs"``).
        no_data: value written as the GeoTIFF's nodata.

    Returns:
        The started :class:`ExportTask`.

    Raises:
        InputError: bad destination or missing bucket.
        EarthEngineError: not connected or Earth Engine refused the task.
    """
    ee = lazy_import("ee")
    require_initialized()
    name = safe_name(name)
    common = dict(image=image, description=name, dimensions=f"{grid.width}x{grid.height}",
                  crs=grid.crs_code, crsTransform=crs_transform(grid), maxPixels=int(1e13),
                  fileFormat="GeoTIFF")
    if no_data is not None:
        common["formatOptions"] = {"noData": float(no_data)}
    folder = folder.strip("/")
    if destination == "drive":
        task = ee.batch.Export.image.toDrive(folder=folder, fileNamePrefix=name, **common)
        location = folder
    elif destination == "gcs":
        if not bucket:
            raise InputError("An export to Cloud Storage needs a bucket.",
                             "Give a Cloud Storage bucket.")
        prefix = f"{folder}/{name}" if folder else name
        task = ee.batch.Export.image.toCloudStorage(bucket=bucket, fileNamePrefix=prefix,
                                                    **common)
        location = f"gs://{bucket}/{folder}" if folder else f"gs://{bucket}"
    else:
        raise InputError(f"The export destination must be 'drive' or 'gcs', not {destination!r}.")
    call_with_retries(task.start, f"starting the export {name}", RetryPolicy(3))
    return ExportTask(str(task.id), name, destination, location, name)


def export_composite(aoi: AOI, name: str, destination: Destination = "drive",
                     folder: str = "urbanseg", bucket: str | None = None,
                     start: str = DEFAULT_START, end: str = DEFAULT_END,
                     cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD, reducer: str = "median",
                     resolution: float = 10.0) -> ExportTask:
    """Export the composite's 11 bands (float32 reflectance, nodata 0) of a large AOI.

    The output ``<name>_image.tif`` reads with :func:`urbanseg_core.io.scene.read_scene` and
    segments like any GeoTIFF (whole regions with :func:`urbanseg_core.batch.run_batch`).
    """
    geometry = ee_geometry(aoi)
    image = composite(geometry, start, end, cloud_threshold, reducer).select(list(MODEL_BANDS))
    return start_image_export(image, grid_for_aoi(aoi, resolution), f"{name}_image",
                              destination, folder, bucket, no_data=0)


def export_pair(aoi: AOI, name: str | None = None, destination: Destination = "drive",
                folder: str = "urbanseg_pairs", bucket: str | None = None,
                start: str = DEFAULT_START, end: str = DEFAULT_END,
                cloud_threshold: float = DEFAULT_CLOUD_THRESHOLD, reducer: str = "median",
                resolution: float = 10.0) -> tuple[ExportTask, ExportTask]:
    """Start the two exports of a training pair: ``<name>_image`` and ``<name>_mask``.

    Both use the same grid. Returns ``(image_task, mask_task)``.
    """
    name = safe_name(name or aoi.name)
    grid = grid_for_aoi(aoi, resolution)
    geometry = ee_geometry(aoi)
    image = composite(geometry, start, end, cloud_threshold, reducer).select(list(MODEL_BANDS))
    image_task = start_image_export(image, grid, f"{name}_image", destination, folder, bucket,
                                    no_data=0)
    mask_task = start_image_export(ghsl_reference(geometry), grid, f"{name}_mask", destination,
                                   folder, bucket, no_data=NODATA)
    return image_task, mask_task


def task_status(task_ids: str | list[str]) -> list[TaskStatus]:
    """The status of export tasks.

    Raises:
        EarthEngineError: not connected or Earth Engine refused.
    """
    ee = lazy_import("ee")
    require_initialized()
    ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
    raw = call_with_retries(lambda: ee.data.getTaskStatus(ids), "the task status", RetryPolicy(3))
    return [_to_status(t) for t in raw]


def recent_tasks(limit: int = 10) -> list[TaskStatus]:
    """The project's most recent tasks, newest first."""
    ee = lazy_import("ee")
    require_initialized()
    raw = call_with_retries(ee.data.getTaskList, "the task list", RetryPolicy(3))
    return [_to_status(t) for t in list(raw)[:limit]]


def _to_status(task: dict) -> TaskStatus:
    return TaskStatus(str(task.get("id", "")), str(task.get("state", "UNKNOWN")),
                      str(task.get("description", "")), str(task.get("error_message", "")),
                      tuple(task.get("destination_uris") or ()))


def write_pair(folder: str | Path, name: str, scene, reference: np.ndarray) -> tuple[Path, Path]:
    """Write a fetched scene and its reference as a training pair.

    Args:
        folder: output folder (created if missing).
        name: pair name (made file-name safe).
        scene: a :class:`~urbanseg_core.gee.download.GeeScene` (or any 11-band Scene).
        reference: ``(H, W)`` uint8 index codes on the scene's grid, 255 nodata.

    Returns:
        ``(image_path, mask_path)``.

    Raises:
        InputError: shapes differ or the folder cannot be written.
    """
    if reference.shape != scene.shape:
        raise InputError(f"The reference is {reference.shape} px but the scene is {scene.shape} px.")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create {folder}: {exc.strerror}.") from None
    name = safe_name(name)
    image_path, mask_path = folder / f"{name}_image.tif", folder / f"{name}_mask.tif"
    write_image(image_path, scene)
    write_reference(mask_path, reference, scene)
    return image_path, mask_path


def _base_profile(scene) -> dict:
    height, width = scene.shape
    return {"driver": "GTiff", "height": height, "width": width, "crs": scene.crs,
            "transform": scene.transform, "compress": "deflate", "tiled": True,
            "blockxsize": 256, "blockysize": 256}


def write_image(path: str | Path, scene) -> Path:
    """Write a scene's ``(11, H, W)`` reflectance as float32 GeoTIFF, nodata 0, band
    descriptions B2..B12 (readable by :func:`urbanseg_core.io.scene.read_scene`)."""
    path = Path(path)
    data = scene.reflectance.astype("float32", copy=True)
    data[:, ~scene.valid] = 0.0
    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", count=len(MODEL_BANDS), dtype="float32", nodata=0,
                           **_base_profile(scene)) as dst:
            dst.write(data)
            for i, band in enumerate(MODEL_BANDS, start=1):
                dst.set_band_description(i, band)

    return atomic_write(path, write)


def write_reference(path: str | Path, reference: np.ndarray, scene) -> Path:
    """Write an ``(H, W)`` uint8 reference (0/1/2, 255 nodata) on a scene's grid."""
    path = Path(path)
    if reference.shape != scene.shape:
        raise InputError(f"The reference is {reference.shape} px but the scene is {scene.shape} px.")
    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", count=1, dtype="uint8", nodata=NODATA,
                           **_base_profile(scene)) as dst:
            dst.write(reference.astype("uint8"), 1)
            dst.set_band_description(1, "class: 0 other, 1 non-residential, 2 residential")

    return atomic_write(path, write)


def check_destination(destination: str, bucket: str | None) -> Destination:
    """Validate a destination/bucket pair early (before any request).

    Raises:
        EarthEngineError: ``gcs`` without a bucket, or an unknown destination.
    """
    if destination not in ("drive", "gcs"):
        raise EarthEngineError(f"The export destination must be 'drive' or 'gcs', not {destination!r}.")
    if destination == "gcs" and not bucket:
        raise EarthEngineError("Give a Cloud Storage bucket for an export to Cloud Storage.")
    return destination  # type: ignore[return-value]
