"""``urbanseg stack``: stack a folder of single-band files into one 11-band 10 m GeoTIFF."""

from __future__ import annotations

from pathlib import Path

import rasterio
import typer

from ..io.bandfolder import choose_offset, stack_folder
from .errors import fail
from .options import LEVEL2A_HINT, OverwriteOption, check_paths, note

SHORT_HELP = "Stack single-band files into one GeoTIFF."


def stack(
    folder: Path = typer.Argument(..., help="Folder of single-band Sentinel-2 files "
                                  "(..._B02.tif, ..._B8A_20m.jp2; searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output 11-band GeoTIFF."),
    overwrite: OverwriteOption = False,
) -> None:
    """Stack single-band files (10/20/60 m, any CRS) into one 11-band 10 m GeoTIFF."""
    if not folder.is_dir():
        fail(f"{folder} is not a folder. Give the folder that holds the band files.")
    check_paths([output], [folder], overwrite, example=f"{folder.name or 'scene'}_stack.tif")
    if output.suffix.lower() not in (".tif", ".tiff"):
        fail(f"Give the stack a GeoTIFF name ending in .tif, e.g. {output}.tif.")
    path, notes = stack_folder(folder, output)
    for text in notes:
        note(text)
    with rasterio.open(path) as src:
        typer.echo(f"Wrote {path}: {src.count} bands (B2...B12), {src.width} x {src.height} px "
                   f"(width x height) of {src.res[0]:g} m, {src.crs.to_string()}, "
                   "nearest-neighbour resampling.")
    choice = choose_offset(folder)
    if choice.metadata is not None and choice.offset:
        note(f"{choice.metadata.name} declares a DN offset of {choice.offset:g}; the stack keeps "
             f"the DN as stored: give --dn-offset {choice.offset:g} when you segment it.")
    elif choice.looks_level2a:
        note(f"{LEVEL2A_HINT} (The stack keeps the DN as stored; give the offset when you "
             "segment it.)")
