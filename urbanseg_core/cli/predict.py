"""``urbanseg predict``: segment one scene (GeoTIFF or band folder) into a mask GeoTIFF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..evaluation.areas import AreaStats, UnsureArea, areas_of, unsure_built_up
from ..inference.pipeline import Segmentation, segment_file
from ..io.sample import SAMPLE_SCENE
from ..model.loading import load_model
from ..util import write_bytes_atomic
from .errors import fail
from .options import (DEFAULT_MAX_PIXELS, BandsOption, DnOffsetOption, ModelOption,
                      OverlapOption, OverwriteOption, TileSizeOption, band_list,
                      check_geotiff_name, check_paths, choice_check, image_input, note,
                      pixels_check, progress_bar, user_notes)

SHORT_HELP = "Segment one scene (GeoTIFF or band folder)."


def print_areas(stats: AreaStats) -> None:
    """Print a class-area table: pixels, km² and share of the valid area per class."""
    typer.echo(f"{'class':<18}{'pixels':>12}{'km²':>12}{'% of valid':>12}")
    for c in stats.classes:
        share = 100 * c.share_of_valid
        typer.echo(f"{c.name:<18}{c.pixels:>12,}{c.area_km2:>12.3f}{share:>11.2f}%")
    valid_px = sum(c.pixels for c in stats.classes)
    typer.echo(f"{'valid area':<18}{valid_px:>12,}{stats.valid_km2:>12.3f}{100:>11.2f}%")
    if stats.nodata_km2:
        area = f"{stats.nodata_km2:.3f}" if stats.nodata_km2 >= 0.0005 else "<0.001"
        typer.echo(f"{'nodata':<18}{'':>12}{area:>12}")
    typer.echo(f"built-up share (non-residential + residential): {100 * stats.built_up_share:.2f}%")


def print_unsure(unsure: UnsureArea | None) -> None:
    """One line: the built-up area whose residential / non-residential call is unsure."""
    if unsure is None or not unsure.built_up_km2:
        return
    typer.echo(f"unsure residential vs non-residential (split confidence < "
               f"{unsure.threshold_pct} %): {unsure.unsure_km2:.3f} km², "
               f"{100 * unsure.share_of_built_up:.1f}% of the built-up area")


def _write_json(path: Path, payload: dict) -> None:
    write_bytes_atomic(path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))


def _report(seg: Segmentation, stats: AreaStats, source: Path, output: Path, codes: str,
            json_path: Path | None) -> None:
    """Notes on stderr, the summary and area table on stdout, the JSON statistics file."""
    for text in user_notes(seg.notes, source.is_dir()):
        note(text)
    typer.echo(f"Model {seg.model_name}; {seg.shape[1]} x {seg.shape[0]} px (width x height) "
               f"in {seg.seconds:.1f} s; mask written to {output} ({codes} codes).")
    print_areas(stats)
    unsure = unsure_built_up(seg)
    print_unsure(unsure)
    if json_path:
        _write_json(json_path, {"input": str(source), "output": str(output), "codes": codes,
                                "model": seg.model_name, "model_sha256": seg.model_sha256,
                                "seconds": round(seg.seconds, 3), **stats.to_dict(),
                                "unsure_built_up": unsure.to_dict() if unsure else None})


def predict(
    input: Optional[Path] = typer.Argument(None, help="Sentinel-2 GeoTIFF (11 model bands, "
                                            "named bands, or 13 L1C bands), or a folder "
                                            "of single-band files."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mask GeoTIFF."),
    sample: bool = typer.Option(False, "--sample", help="Use the bundled sample scene."),
    model: ModelOption = None,
    codes: str = typer.Option("index", "--codes", callback=choice_check(("index", "esm")),
                              help="index (0/1/2, 255 nodata) or esm (1/250/255, 0 nodata)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the "
                                             "statistics as JSON here."),
    confidence: bool = typer.Option(False, "--confidence", help="Add band 2: how sure the "
                                    "model is of residential vs non-residential (0-100 %) on "
                                    "built-up pixels."),
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
    tile_size: TileSizeOption = None,
    overlap: OverlapOption = None,
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", callback=pixels_check,
                                   envvar="URBANSEG_MAX_PIXELS",
                                   help="Refuse larger rasters before reading them."),
    overwrite: OverwriteOption = False,
) -> None:
    """Segment a Sentinel-2 scene into other / non-residential / residential."""
    if sample == (input is not None):
        fail("Give either an INPUT file or --sample (one of the two).")
    source = SAMPLE_SCENE if sample else input
    if not source.exists():
        fail(f"{source} not found. Give a Sentinel-2 GeoTIFF or a folder of band files.")
    check_geotiff_name(output)
    check_paths([output, json_path], [source, model], overwrite)
    loaded = load_model(model)
    with image_input(source, max_pixels, bands, dn_offset) as (raster, offset):
        seg = segment_file(raster, loaded, band_order=band_list(bands), dn_offset=offset,
                           progress=progress_bar("predict"), max_pixels=max_pixels,
                           tile_size=tile_size, overlap=overlap)
    stats = areas_of(seg)
    if stats.valid_km2 == 0:
        fail(f"{source} has no valid pixels (every pixel is nodata: DN 0 or missing in "
             "some band), so there is nothing to segment. Check the file covers your area.")
    seg.write(output, codes=codes, confidence=confidence)  # type: ignore[arg-type]
    _report(seg, stats, source, output, codes, json_path)
