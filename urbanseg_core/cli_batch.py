"""``urbanseg batch``: segment whole regions tile by tile on dask.distributed, resumably.

Registers itself on :data:`urbanseg_core.cli.app` when imported (``cli.main`` imports it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer

from .cli import (BandsOption, DnOffsetOption, ModelOption, app, band_list, fail,
                  stack_band_folder)
from .errors import UrbansegError


@app.command(short_help="Segment whole regions tile by tile (Dask).")
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
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes "
                                          "(default: the CPU count)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Use a running dask "
                                            "scheduler, e.g. tcp://HOST:8786."),
    model: ModelOption = None,
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
) -> None:
    """Segment whole regions: tiles on dask, tile GeoTIFFs, a COG mosaic and a stats table."""
    from .batch import aoi_input, file_input, run_batch
    from .inference.pipeline import SAMPLE_SCENE

    sources = sum([bool(inputs), sample, aoi is not None or gee])
    if sources != 1:
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
        import distributed  # noqa: F401
    except ImportError:
        fail("`urbanseg batch` needs dask.distributed: pip install 'dask[distributed]'.")
    band_order = band_list(bands)
    if gee:
        options = {k: v for k, v in (("start", start), ("end", end)) if v}
        batch_inputs = [aoi_input(aoi, options=options)]
    else:
        paths = [SAMPLE_SCENE] if sample else list(inputs or [])
        missing = [p for p in paths if not p.exists()]
        if missing:
            fail(f"{missing[0]} does not exist. Check the path.")
        if bands and any(p.is_dir() for p in paths):
            fail("--bands does not apply to a folder of band files: each file's band is read "
                 "from its name. Leave --bands out, or batch the folders separately.")
        if len({p.resolve().name for p in paths if p.is_dir()}) < sum(p.is_dir() for p in paths):
            fail("Two of the folders have the same name; their stacks would overwrite each "
                 "other. Rename one, or run them as separate batches.")
        batch_inputs = []
        for path in paths:
            if not path.is_dir():
                batch_inputs.append(file_input(path, band_order=band_order,
                                               dn_offset=dn_offset or 0.0))
                continue
            created = [f for f in (output, output / "stacked") if not f.exists()]
            _make_folder(output / "stacked")  # a band folder: stacked into the output folder
            try:
                stack, offset = stack_band_folder(
                    path, output / "stacked" / f"{path.resolve().name}.tif", dn_offset=dn_offset)
            except UrbansegError:
                for folder in reversed(created):  # leave no empty folders behind
                    if not any(folder.iterdir()):
                        folder.rmdir()
                raise
            inp = file_input(stack, dn_offset=offset)
            inp.description["band_folder"] = str(path.resolve())
            batch_inputs.append(inp)

    for inp in batch_inputs:
        warped = inp.description.get("warped")
        if warped:
            typer.echo(f"Note: {inp.name}: {warped['reason']}; it is read through a warped VRT "
                       f"on the {warped['transform'][0]:g} m grid of {warped['crs']}, and the "
                       "mosaic is on that grid.", err=True)
    _make_folder(output)
    result = run_batch(batch_inputs, output, model=model, tile_km=tile_km, workers=workers,
                       scheduler=scheduler, gee_concurrency=gee_concurrency)
    rate = (f", {result.computed_km2 / result.compute_seconds:.2f} km²/s"
            if result.compute_seconds else "")
    typer.echo(f"{result.tiles} tile{'s' * (result.tiles != 1)}: {result.computed} computed, "
               f"{result.skipped} reused "
               f"(verified) in {result.seconds:.1f} s{rate}.")
    for name, path in result.mosaics.items():
        typer.echo(f"Mosaic of {name}: {path}")
    typer.echo(f"Statistics: {result.stats_csv}; run manifest: {result.manifest}")
    _print_totals(result.rows)


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
    classes = [k[:-4] for k in totals[0] if k.endswith("_km2") and k not in ("valid_km2", "nodata_km2")]
    typer.echo(f"{'input':<28}{'valid km²':>12}" + "".join(f"{c + ' %':>20}" for c in classes))
    for r in totals:
        shares = "".join(f"{100 * float(r[c + '_share'] or 'nan'):>20.2f}" for c in classes)
        typer.echo(f"{r['input'][:27]:<28}{float(r['valid_km2']):>12.3f}{shares}")
