"""Earth Engine commands: ``gee-status``, ``gee-fetch``, ``gee-export``, ``gee-export-pairs``.

Credentials and AOI files: see :mod:`urbanseg_core.cli.earthengine`. No command ever starts an
interactive login.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from ..aoi import AOI, parse_collection, validate
from ..errors import UrbansegError
from ..gee.composite import DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START
from ..gee.download import fetch_reference, fetch_scene
from ..gee.export import (export_composite, export_pair, recent_tasks, task_status, write_image,
                          write_pair, write_reference)
from .earthengine import connect, read_aoi
from .errors import fail
from .options import (CloudOption, EndOption, OverwriteOption, ReducerOption, StartOption,
                      check_paths, note, number_check, progress_bar)

_km2_check = number_check("give a positive area in km²", lambda v: v > 0)

#: Command name -> short help, for the main group.
SHORT_HELPS = {
    "gee-status": "Show the Earth Engine connection and tasks.",
    "gee-fetch": "Fetch an AOI's composite from Earth Engine.",
    "gee-export": "Export a large AOI's composite to Drive/GCS.",
    "gee-export-pairs": "Export composite + GHSL training pairs.",
}


def gee_status(
    task_ids: Optional[List[str]] = typer.Argument(None, metavar="TASK_ID",
                                                   help="Export task ids to check "
                                                   "(default: the 10 most recent tasks)."),
) -> None:
    """Show the Earth Engine connection and the state of export tasks."""
    connect()
    statuses = task_status(task_ids) if task_ids else recent_tasks(10)
    if not statuses:
        typer.echo("No export tasks in this project.")
    for st in statuses:
        typer.echo(f"{st.id:<26}{st.state:<11}{st.message}")


def gee_fetch(
    aoi_path: Path = typer.Argument(..., help="GeoJSON file with the AOI polygon (EPSG:4326)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output 11-band GeoTIFF "
                                "(reflectance float32)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Also write the GHSL "
                                             "reference mask (uint8 0/1/2, 255 nodata) here."),
    start: StartOption = DEFAULT_START,
    end: EndOption = DEFAULT_END,
    cloud_threshold: CloudOption = DEFAULT_CLOUD_THRESHOLD,
    reducer: ReducerOption = "median",
    max_km2: float = typer.Option(500.0, "--max-km2", callback=_km2_check,
                                  help="Refuse larger AOIs (km²)."),
    overwrite: OverwriteOption = False,
) -> None:
    """Fetch the Sentinel-2 composite (and GHSL reference) of an AOI in process."""
    check_paths([output, reference], [aoi_path], overwrite, example="scene.tif")
    aoi = read_aoi(aoi_path, max_km2)
    connect()
    t0 = time.perf_counter()
    scene = fetch_scene(aoi, start, end, cloud_threshold, reducer,
                        progress=progress_bar("composite"))
    ref = fetch_reference(scene, progress=progress_bar("reference")) if reference else None
    write_image(output, scene)
    if ref is not None:
        write_reference(reference, ref, scene)
    for text in scene.notes:
        note(text)
    typer.echo(f"{scene.shape[0]} x {scene.shape[1]} px ({scene.crs}) fetched in "
               f"{time.perf_counter() - t0:.1f} s; written to {output}"
               + (f" and {reference}" if reference else "") + ".")


def gee_export(
    aoi_path: Path = typer.Argument(..., help="GeoJSON file with the AOI polygon."),
    name: Optional[str] = typer.Option(None, help="Export name (default: the file name)."),
    out_folder: str = typer.Option("urbanseg", "--out-folder", help="Drive folder, or "
                                   "object prefix with --bucket."),
    bucket: Optional[str] = typer.Option(None, "--bucket", help="Export to this Cloud "
                                         "Storage bucket instead of Google Drive."),
    start: StartOption = DEFAULT_START,
    end: EndOption = DEFAULT_END,
    cloud_threshold: CloudOption = DEFAULT_CLOUD_THRESHOLD,
    reducer: ReducerOption = "median",
    max_km2: float = typer.Option(50_000.0, "--max-km2", callback=_km2_check,
                                  help="Refuse larger AOIs (km²)."),
) -> None:
    """Export the composite of a large AOI to Drive or Cloud Storage (an Earth Engine task)."""
    aoi = read_aoi(aoi_path, max_km2)
    connect()
    task = export_composite(aoi, name or aoi_path.stem, "gcs" if bucket else "drive",
                            out_folder, bucket, start, end, cloud_threshold, reducer)
    typer.echo(f"Started export {task.description} (task {task.id}) to {task.location}. "
               f"Check it with: urbanseg gee-status {task.id}")


def gee_export_pairs(
    aois_path: Path = typer.Argument(..., help="GeoJSON FeatureCollection: one polygon per "
                                     "AOI, named by its 'name' property."),
    out_folder: str = typer.Option(..., "--out-folder", help="Drive folder, object prefix "
                                   "with --bucket, or a local folder with --local."),
    bucket: Optional[str] = typer.Option(None, "--bucket", help="Export to this Cloud "
                                         "Storage bucket instead of Google Drive."),
    local: bool = typer.Option(False, "--local", help="Fetch in process and write the pairs "
                               "to the local folder --out-folder (AOIs up to --max-km2)."),
    start: StartOption = DEFAULT_START,
    end: EndOption = DEFAULT_END,
    cloud_threshold: CloudOption = DEFAULT_CLOUD_THRESHOLD,
    reducer: ReducerOption = "median",
    max_km2: float = typer.Option(500.0, "--max-km2", callback=_km2_check,
                                  help="Refuse larger AOIs (km²)."),
) -> None:
    """Export composite + GHSL training pairs (<name>_image.tif, <name>_mask.tif) for AOIs."""
    if not aois_path.is_file():
        fail(f"AOI file not found: {aois_path}.")
    if local and bucket:
        fail("Give either --local or --bucket, not both.")
    aois = [validate(a, max_km2=max_km2) for a in
            parse_collection(aois_path.read_text(encoding="utf-8"))]
    if local:
        _make_folder(Path(out_folder))
    connect()
    composite = (start, end, cloud_threshold, reducer)
    failures = 0
    for aoi in aois:
        try:
            if local:
                _write_local_pair(aoi, out_folder, composite)
            else:
                _export_pair(aoi, out_folder, bucket, composite)
        except UrbansegError as exc:
            failures += 1
            typer.echo(f"{aoi.name}: Error: {exc}", err=True)
    if not local:
        typer.echo("Follow the tasks with `urbanseg gee-status`; when they have finished, "
                   "download the folder and train on it.")
    if failures:
        fail(f"{failures} of {len(aois)} AOIs failed (see above).")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"Cannot create {folder}: {exc.strerror}.")


def _write_local_pair(aoi: AOI, out_folder: str, composite: tuple) -> None:
    """Fetch an AOI's composite and GHSL reference in process and write them as a pair."""
    scene = fetch_scene(aoi, *composite, progress=progress_bar(aoi.name))
    img, msk = write_pair(out_folder, aoi.name, scene, fetch_reference(scene))
    typer.echo(f"{aoi.name}: wrote {img} and {msk}")


def _export_pair(aoi: AOI, out_folder: str, bucket: str | None, composite: tuple) -> None:
    """Start the two export tasks of an AOI's pair."""
    t_img, t_msk = export_pair(aoi, aoi.name, "gcs" if bucket else "drive", out_folder,
                               bucket, *composite)
    typer.echo(f"{aoi.name}: started tasks {t_img.id} ({t_img.description}) and "
               f"{t_msk.id} ({t_msk.description}) to {t_img.location}")
