"""``urbanseg change``: a from-to map between two dates."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..change.decide import ChangeParams
from ..change.output import atomic_write
from ..change.pipeline import DEFAULT_MAX_PIXELS, ChangeResult, detect_change
from ..model.loading import load_model
from .errors import fail
from .options import (BandsOption, DnOffsetOption, ModelOption, band_list, check_writable,
                      progress_bar)

SHORT_HELP = "Change between two dates: from-to map and km²."
_DEFAULTS = ChangeParams()


def _check_paths(before: Path, after: Path, outputs: list[Path]) -> None:
    """Plain errors for missing inputs, one date given twice, and outputs that would
    overwrite an input or each other."""
    for label, path in (("BEFORE", before), ("AFTER", after)):
        if not path.exists():
            fail(f"{label} not found: {path}. Give a Sentinel-2 GeoTIFF or a folder of band "
                 "files.")
    if before.resolve() == after.resolve():
        fail(f"BEFORE and AFTER are the same {'folder' if before.is_dir() else 'file'} "
             f"({before}): give the images of two dates.")
    inputs = {before.resolve(), after.resolve()}
    seen: set[Path] = set()
    for out in outputs:
        resolved = out.resolve()
        if resolved in inputs:
            fail(f"The output {out} is one of the inputs; choose another name so the input "
                 "is not overwritten.")
        if resolved in seen:
            fail(f"{out} is given for two outputs; give each output its own file.")
        seen.add(resolved)
        check_writable(out, example="change.tif" if out.suffix.lower() in (".tif", ".tiff")
                       else "stats.json")


def print_change(result: ChangeResult) -> None:
    """Print the from-to table and the net change per class (km²)."""
    s = result.stats
    typer.echo(f"{'from':<18}{'to':<18}{'code':>5}{'pixels':>12}{'km²':>11}{'% of overlap':>14}")
    for p in s.pairs:
        to = "(unchanged)" if p.before == p.after else p.after
        typer.echo(f"{p.before:<18}{to:<18}{p.code:>5}{p.pixels:>12,}{p.area_km2:>11.3f}"
                   f"{100 * p.share_of_overlap:>13.2f}%")
    typer.echo(f"compared (both dates have data): {s.overlap_km2:.3f} km²; changed class: "
               f"{s.changed_km2:.3f} km² ({100 * s.changed_share:.2f}%)")
    typer.echo("net change (after - before): " + ", ".join(
        f"{name} {value:+.3f} km²" for name, value in s.net_change_km2.items()))


def change(
    before: Path = typer.Argument(..., help="The earlier image: Sentinel-2 GeoTIFF or folder "
                                  "of single-band files (as predict takes)."),
    after: Path = typer.Argument(..., help="The later image of the same area (any grid or "
                                 "CRS: warped onto BEFORE's grid)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output from-to GeoTIFF (uint8 "
                                "3 * before + after, 255 nodata)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write km² per "
                                             "from-to pair, net change and the method here."),
    geojson: Optional[Path] = typer.Option(None, "--geojson", help="Also write the areas "
                                           "that became built up as GeoJSON (EPSG:4326)."),
    model: ModelOption = None,
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
    dn_offset_after: Optional[float] = typer.Option(
        None, "--dn-offset-after", help="DN offset of AFTER when it differs from BEFORE's "
        "(e.g. -1000 for a Level-2A product of 2022 or later); default: --dn-offset."),
    min_magnitude: float = typer.Option(
        _DEFAULTS.min_magnitude, "--min-magnitude", help="Spectral change needed, in robust "
        "standard deviations of the scene's date-to-date difference."),
    min_area: float = typer.Option(
        _DEFAULTS.min_area_m2, "--min-area", help="Minimum mapping unit of a changed area, "
        "m² (2500 = 0.25 ha)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels",
                                   help="Refuse larger rasters before reading them."),
) -> None:
    """Change between two dates of one area, both segmented with the same model.

    Writes a from-to map (code = 3 * before + after: 0 other, 1 non-residential,
    2 residential; 255 outside the overlap) and prints km² per from-to pair and the net
    change of each class. A pixel changes class only where its spectrum changed beyond the
    scene's normal date-to-date difference, the model sees built-up area at one date at
    least, and the changed area is at least --min-area.
    """
    outputs = [p for p in (output, json_path, geojson) if p is not None]
    _check_paths(before, after, outputs)
    if min_magnitude <= 0 or min_area < 0:
        fail("--min-magnitude must be positive and --min-area at least 0.")
    params = ChangeParams(min_magnitude=min_magnitude, min_area_m2=min_area)
    loaded = load_model(model)
    result = detect_change(before, after, loaded, params, band_order=band_list(bands),
                           dn_offset=dn_offset, dn_offset_after=dn_offset_after,
                           max_pixels=max_pixels, progress=progress_bar("change"))
    result.write(output)
    if json_path:
        atomic_write(json_path, lambda tmp: tmp.write_bytes(result.json_bytes()))
    if geojson:
        atomic_write(geojson, lambda tmp: tmp.write_bytes(result.geojson_bytes()))
    for note in result.notes:
        typer.echo(f"Note: {note}", err=True)
    h, w = result.shape
    typer.echo(f"Model {result.model_name} on both dates; {w} x {h} px (width x height) in "
               f"{result.seconds:.1f} s; from-to map written to {output}.")
    print_change(result)
