"""``urbanseg batch``: segment whole regions tile by tile on dask.distributed, resumably."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer

from ..batch import BatchInput, BatchResult, aoi_input, file_input, run_batch
from ..errors import MissingDependencyError, UrbansegError
from ..io.sample import SAMPLE_SCENE
from ..lazy import require
from .errors import fail
from .options import (BandsOption, DnOffsetOption, ModelOption, band_list, note,
                      stack_band_folder)

SHORT_HELP = "Segment whole regions tile by tile (Dask)."


def _check(inputs, sample: bool, aoi, gee: bool, workers, scheduler, gee_concurrency: int,
           output: Path, tile_km: float) -> None:
    """Refuse contradictory or impossible options before anything is created."""
    if sum([bool(inputs), sample, aoi is not None or gee]) != 1:
        fail("Give exactly one source: INPUT files, --sample, or --aoi AOI.geojson --gee.")
    if (aoi is None) != (not gee):
        fail("--aoi and --gee go together: --aoi AOI.geojson --gee fetches the AOI's "
             "composite from Earth Engine tile by tile.")
    if workers is not None and scheduler:
        fail("Give either --workers (a local cluster) or --scheduler (a running one), not both.")
    if workers is not None and workers < 1:
        fail(f"--workers must be at least 1, not {workers}.")
    if gee_concurrency < 1:
        fail(f"--gee-concurrency must be at least 1, not {gee_concurrency}.")
    if output.exists() and not output.is_dir():
        fail(f"{output} is a file; give a folder for the batch outputs.")
    if not tile_km > 0 or not math.isfinite(tile_km):
        fail(f"--tile-km must be a positive number of kilometres, not {tile_km}.")
    try:
        require("distributed")  # imported only when a cluster is started
    except MissingDependencyError:
        fail("`urbanseg batch` needs dask.distributed: pip install 'dask[distributed]'.")


def _check_paths(paths: list[Path], bands: str | None) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]} does not exist. Check the path.")
    folders = [p for p in paths if p.is_dir()]
    if bands and folders:
        fail("--bands does not apply to a folder of band files: each file's band is read "
             "from its name. Leave --bands out, or batch the folders separately.")
    if len({p.resolve().name for p in folders}) < len(folders):
        fail("Two of the folders have the same name; their stacks would overwrite each "
             "other. Rename one, or run them as separate batches.")


def _band_folder_input(path: Path, output: Path, dn_offset: float | None) -> BatchInput:
    """A band folder stacked into ``OUTDIR/stacked/<folder>.tif`` (no empty folders are left
    behind when it cannot be stacked)."""
    created = [f for f in (output, output / "stacked") if not f.exists()]
    _make_folder(output / "stacked")
    try:
        stack, offset = stack_band_folder(
            path, output / "stacked" / f"{path.resolve().name}.tif", dn_offset=dn_offset)
    except UrbansegError:
        for folder in reversed(created):
            if not any(folder.iterdir()):
                folder.rmdir()
        raise
    inp = file_input(stack, dn_offset=offset)
    inp.description["band_folder"] = str(path.resolve())
    return inp


def _file_inputs(paths: list[Path], output: Path, bands: str | None,
                 dn_offset: float | None) -> list[BatchInput]:
    _check_paths(paths, bands)
    return [_band_folder_input(p, output, dn_offset) if p.is_dir()
            else file_input(p, band_order=band_list(bands), dn_offset=dn_offset or 0.0)
            for p in paths]


def _print_result(result: BatchResult, tile_km: float) -> None:
    for name, km in result.tile_km.items():
        if abs(km - tile_km) > 0.1 * tile_km:
            note(f"{name}: tiles of {km:.2f} km, not {tile_km:g} km: a tile is a whole number "
                 "of the model's tile strides, at least one (a smaller raster is one tile).")
    rate = (f", {result.computed_km2 / result.compute_seconds:.2f} km²/s"
            if result.compute_seconds else "")
    typer.echo(f"{result.tiles} tile{'s' * (result.tiles != 1)}: {result.computed} computed, "
               f"{result.skipped} reused (verified) in {result.seconds:.1f} s{rate}.")
    for name, path in result.mosaics.items():
        typer.echo(f"Mosaic of {name}: {path}")
    typer.echo(f"Statistics: {result.stats_csv}; run manifest: {result.manifest}")
    _print_totals(result.rows)


def batch(
    inputs: Optional[List[Path]] = typer.Argument(None, metavar="INPUT",
                                                  help="Sentinel-2 GeoTIFF(s) or "
                                                  "folder(s) of single-band files, each "
                                                  "tiled on its own grid."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (created; rerun "
                                "with the same folder to resume)."),
    sample: bool = typer.Option(False, "--sample", help="Use the bundled sample scene."),
    aoi: Optional[Path] = typer.Option(None, "--aoi", help="AOI GeoJSON (EPSG:4326), with "
                                       "--gee."),
    gee: bool = typer.Option(False, "--gee", help="Fetch each tile's Sentinel-2 composite "
                             "from Earth Engine (needs --aoi and a connected account)."),
    start: Optional[str] = typer.Option(None, "--start", help="With --gee: first date of the "
                                        "composite, YYYY-MM-DD."),
    end: Optional[str] = typer.Option(None, "--end", help="With --gee: end of the composite's "
                                      "date range, YYYY-MM-DD (excluded)."),
    gee_concurrency: int = typer.Option(4, "--gee-concurrency", help="With --gee: at most "
                                        "this many Earth Engine requests at once."),
    tile_km: float = typer.Option(5.0, "--tile-km", help="Batch tile side in km (rounded to "
                                  "whole model tiles)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Tiles segmented at once "
                                          "on this machine, by threads sharing one model "
                                          "(default: the CPU count)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Use a running dask "
                                            "scheduler, e.g. tcp://HOST:8786."),
    model: ModelOption = None,
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
) -> None:
    """Segment whole regions: tiles on dask, tile GeoTIFFs, a COG mosaic and a stats table."""
    _check(inputs, sample, aoi, gee, workers, scheduler, gee_concurrency, output, tile_km)
    if gee:
        options = {k: v for k, v in (("start", start), ("end", end)) if v}
        batch_inputs = [aoi_input(aoi, options=options)]
    else:
        paths = [SAMPLE_SCENE] if sample else list(inputs or [])
        batch_inputs = _file_inputs(paths, output, bands, dn_offset)
    for inp in batch_inputs:
        warped = inp.description.get("warped")
        if warped:
            note(f"{inp.name}: {warped['reason']}; it is read through a warped VRT on the "
                 f"{warped['transform'][0]:g} m grid of {warped['crs']}, and the mosaic is on "
                 "that grid.")
    _make_folder(output)
    _print_result(run_batch(batch_inputs, output, model=model, tile_km=tile_km,
                            workers=workers, scheduler=scheduler,
                            gee_concurrency=gee_concurrency), tile_km)


def _make_folder(output: Path) -> None:
    """Create the output folder with its parents, or fail with a plain message."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"Cannot create the output folder {output} ({exc.strerror}). Choose another "
             "location.")


def _print_totals(rows) -> None:
    """The TOTAL rows of the statistics table as a small text table."""
    totals = [r for r in rows if r["tile"] == "TOTAL"]
    if not totals:
        return
    classes = [k[:-4] for k in totals[0]
               if k.endswith("_km2") and k not in ("valid_km2", "nodata_km2")]
    typer.echo(f"{'input':<28}{'valid km²':>12}" + "".join(f"{c + ' %':>20}" for c in classes))
    for r in totals:
        shares = "".join(f"{100 * float(r[c + '_share'] or 'nan'):>20.2f}" for c in classes)
        typer.echo(f"{r['input'][:27]:<28}{float(r['valid_km2']):>12.3f}{shares}")
