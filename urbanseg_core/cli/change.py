"""``urbanseg change``: a from-to map between two dates."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..change.decide import ChangeParams
from ..change.pipeline import DEFAULT_MAX_PIXELS, ChangeResult, detect_change
from ..model.loading import load_model
from ..util import write_bytes_atomic
from .errors import fail
from .options import (BandsOption, DnOffsetOption, ModelOption, OverwriteOption, band_list,
                      check_geotiff_name, check_paths, dn_offset_check, number_check,
                      pixels_check, progress_bar)

SHORT_HELP = "Change between two dates: from-to map and km²."
_DEFAULTS = ChangeParams()


def _check_paths(before: Path, after: Path, outputs: list[Path], model: Path | None,
                 overwrite: bool) -> None:
    """Plain errors for missing inputs, one date given twice, and outputs that would
    overwrite an input, each other, or (without --overwrite) an existing file."""
    for label, path in (("BEFORE", before), ("AFTER", after)):
        if not path.exists():
            fail(f"{label} not found: {path}. Give a Sentinel-2 GeoTIFF or a folder of band "
                 "files.")
    if before.resolve() == after.resolve():
        fail(f"BEFORE and AFTER are the same {'folder' if before.is_dir() else 'file'} "
             f"({before}): give the images of two dates.")
    check_paths(outputs, [before, after, model], overwrite, example="change.tif")


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
        None, "--dn-offset-after", callback=dn_offset_check,
        help="DN offset of AFTER when it differs from BEFORE's "
        "(e.g. -1000 for a Level-2A product of 2022 or later); default: --dn-offset."),
    min_magnitude: float = typer.Option(
        _DEFAULTS.min_magnitude, "--min-magnitude", callback=number_check(
            "give a positive number of standard deviations, e.g. 5.5", lambda v: v > 0),
        help="Spectral change needed, in robust standard deviations of the scene's "
             "date-to-date difference."),
    min_area: float = typer.Option(
        _DEFAULTS.min_area_m2, "--min-area", callback=number_check(
            "give an area in m² of at least 0, e.g. 2500", lambda v: v >= 0),
        help="Minimum mapping unit of a changed area, m² (2500 = 0.25 ha)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", callback=pixels_check,
                                   help="Refuse larger rasters before reading them."),
    overwrite: OverwriteOption = False,
) -> None:
    """Change between two dates of one area, both segmented with the same model.

    Writes a from-to map (code = 3 * before + after: 0 other, 1 non-residential,
    2 residential; 255 outside the overlap) and prints km² per from-to pair and the net
    change of each class. A pixel changes class only where its spectrum changed beyond the
    scene's normal date-to-date difference, the model sees built-up area at one date at
    least, and the changed area is at least --min-area.
    """
    check_geotiff_name(output, "change map")
    _check_paths(before, after, [output, json_path, geojson], model, overwrite)
    params = ChangeParams(min_magnitude=min_magnitude, min_area_m2=min_area)
    loaded = load_model(model)
    result = detect_change(before, after, loaded, params, band_order=band_list(bands),
                           dn_offset=dn_offset, dn_offset_after=dn_offset_after,
                           max_pixels=max_pixels, progress=progress_bar("change"))
    result.write(output)
    if json_path:
        write_bytes_atomic(json_path, result.json_bytes())
    if geojson:
        write_bytes_atomic(geojson, result.geojson_bytes())
    for note in result.notes:
        typer.echo(f"Note: {note}", err=True)
    h, w = result.shape
    typer.echo(f"Model {result.model_name} on both dates; {w} x {h} px (width x height) in "
               f"{result.seconds:.1f} s; from-to map written to {output}.")
    print_change(result)
