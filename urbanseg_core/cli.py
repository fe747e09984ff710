"""The ``urbanseg`` command line: predict, evaluate, train, batch.

Every user error is one plain line on stderr with exit code 2, never a traceback. Commands
other than ``predict`` live in their own modules and register themselves on :data:`app`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from .errors import UrbansegError

#: Largest raster ``predict`` accepts by default (pixels): 15000 x 10000 px, a 150 MB uint8
#: class map in memory; larger areas belong to ``urbanseg batch``.
DEFAULT_MAX_PIXELS = 150_000_000

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain text: usage errors are short lines, not boxed panels
    help="Map residential and non-residential built-up areas in Sentinel-2 imagery.",
)


# Options shared by several commands (predict, evaluate, batch).
ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", help="Model card (.json) or weights (.pt/.pth); default: the bundled model.")]
BandsOption = Annotated[Optional[str], typer.Option(
    "--bands", help="Band order of the file(s), comma-separated, e.g. B2,B3,B4,...")]
DnOffsetOption = Annotated[Optional[float], typer.Option(
    "--dn-offset", help="Add to DN before /10000 (-1000 for non-harmonised products since "
                        "2022-01-25). Default 0; for a band folder, the offset its product "
                        "metadata (MTD_MSIL*.xml) declares.")]


def band_list(bands: str | None) -> list[str] | None:
    """``"B2,B3,..."`` -> ``["B2", "B3", ...]`` (``None`` stays ``None``)."""
    return [b.strip() for b in bands.split(",")] if bands else None


@app.callback()
def _root() -> None:
    """Map residential and non-residential built-up areas in Sentinel-2 imagery."""


def fail(message: str) -> None:
    """Print one plain error line on stderr and exit with code 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)


def check_writable(path: Path, example: str = "mask.tif") -> None:
    """Fail early (before any work) when an output file cannot be written; ``example``: a
    file name to suggest when ``path`` is a folder."""
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail(f"{path} is a folder; give a file name such as {path / example}.")
    if not folder.is_dir():
        fail(f"The output folder {folder} does not exist. Create it first.")
    if not os.access(folder, os.W_OK):
        fail(f"The output folder {folder} is not writable. Choose another location.")


#: Said when a band folder looks like Level-2A and no --dn-offset was given.
LEVEL2A_HINT = ("This looks like a Level-2A product. Products of processing baseline 04.00 "
                "or later (all since 25 January 2022, and older scenes reprocessed since) "
                "store reflectance + 0.1: add --dn-offset -1000 (the product's "
                "BOA_ADD_OFFSET in MTD_MSIL2A.xml), or built-up area is underestimated.")


def stack_band_folder(path: Path, output: Path, max_pixels: int | None = None,
                      bands: str | None = None,
                      dn_offset: float | None = None) -> tuple[Path, float]:
    """Stack a folder of single-band files into the GeoTIFF ``output`` and choose its DN
    offset, printing what was done on stderr.

    The offset is ``dn_offset`` if given, else the one the folder's product metadata
    declares (:func:`~urbanseg_core.bandfolder.product_offset`), else 0 with a note when the
    folder looks like Level-2A. ``max_pixels``: refuse larger stacks; ``bands``: refused (a
    band file's band is read from its name).

    Returns:
        ``(stack path, DN offset)``.

    Raises:
        InputError: the folder cannot be stacked (see
            :func:`~urbanseg_core.bandfolder.stack_folder`).
    """
    from .bandfolder import looks_level2a, product_offset, stack_folder

    if bands:
        fail("--bands does not apply to a folder of band files: each file's band is read "
             "from its name. Leave --bands out.")
    stack, notes = stack_folder(path, output, max_pixels=max_pixels)
    typer.echo(f"Stacked the band files of {path} onto a 10 m grid (nearest neighbour).",
               err=True)
    if dn_offset is None:
        declared = product_offset(path)
        if declared is not None:
            dn_offset = declared[0]
            notes.append(f"DN offset {dn_offset:g} as declared in {declared[1].name} "
                         "(--dn-offset overrides it).")
        elif looks_level2a(path):
            notes.append(LEVEL2A_HINT)
    for note in notes:
        typer.echo(f"Note: {note}", err=True)
    return stack, dn_offset or 0.0


@contextmanager
def image_input(path: Path, max_pixels: int | None = None, bands: str | None = None,
                dn_offset: float | None = None) -> Iterator[tuple[Path, float]]:
    """The raster to read for an INPUT/IMAGE argument and the DN offset to read it with.

    A file is used as it is (offset: ``dn_offset`` or 0). A folder of single-band files is
    stacked by :func:`stack_band_folder` into a temporary folder (removed afterwards;
    ``urbanseg stack`` keeps one)."""
    if not path.is_dir():
        yield path, dn_offset or 0.0
        return
    with tempfile.TemporaryDirectory(prefix="urbanseg-stack-") as tmp:
        yield stack_band_folder(path, Path(tmp) / f"{path.name or 'bands'}.tif", max_pixels,
                                bands, dn_offset)


def user_notes(notes, from_folder: bool) -> list[str]:
    """Notes worth printing: for a band folder, not how the (generated) stack's bands were
    found."""
    from .bands import HOW_DESCRIPTIONS, how_note

    return [n for n in notes if not (from_folder and n == how_note(HOW_DESCRIPTIONS))]


def progress_bar(label: str):
    """A tqdm progress callback ``(done, total)`` on stderr, closed at the end."""
    from tqdm import tqdm

    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, desc=label, unit="tile", file=sys.stderr,
                                      leave=False, disable=None)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def print_areas(seg) -> None:
    """Print the class-area table of a :class:`~urbanseg_core.pipeline.Segmentation`."""
    stats = seg.stats
    typer.echo(f"{'class':<18}{'pixels':>12}{'km²':>12}{'% of valid':>12}")
    for c in stats.classes:
        typer.echo(f"{c.name:<18}{c.pixels:>12,}{c.area_km2:>12.3f}{100 * c.share_of_valid:>11.2f}%")
    typer.echo(f"{'valid area':<18}{'':>12}{stats.valid_km2:>12.3f}")
    if stats.nodata_km2:
        area = f"{stats.nodata_km2:.3f}" if stats.nodata_km2 >= 0.0005 else "<0.001"
        typer.echo(f"{'nodata':<18}{'':>12}{area:>12}")
    typer.echo(f"built-up share (non-residential + residential): {100 * stats.built_up_share:.2f}%")


@app.command(short_help="Segment one scene (GeoTIFF or band folder).")
def predict(
    input: Optional[Path] = typer.Argument(None, help="Sentinel-2 GeoTIFF (11 model bands, "
                                            "named bands, or 13 L1C bands), or a folder "
                                            "of single-band files."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mask GeoTIFF."),
    sample: bool = typer.Option(False, "--sample", help="Use the bundled sample scene."),
    model: ModelOption = None,
    codes: str = typer.Option("index", "--codes", help="index (0/1/2, 255 nodata) or esm "
                              "(1/250/255, 0 nodata)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the "
                                             "statistics as JSON here."),
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
    tile_size: Optional[int] = typer.Option(None, "--tile-size", help="Tile side in px "
                                            "(default: the model card's)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tile overlap in px."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", envvar="URBANSEG_MAX_PIXELS",
                                   help="Refuse larger rasters before reading them."),
) -> None:
    """Segment a Sentinel-2 scene into other / non-residential / residential."""
    from .loading import load_model
    from .pipeline import SAMPLE_SCENE, segment_file

    if codes not in ("index", "esm"):
        fail(f"--codes must be 'index' or 'esm', not {codes!r}.")
    if sample == (input is not None):
        fail("Give either an INPUT file or --sample (one of the two).")
    source = SAMPLE_SCENE if sample else input
    check_writable(output)
    if json_path:
        check_writable(json_path)
    loaded = load_model(model)
    with image_input(source, max_pixels, bands, dn_offset) as (raster, offset):
        seg = segment_file(raster, loaded, band_order=band_list(bands),
                           dn_offset=offset, progress=progress_bar("predict"),
                           max_pixels=max_pixels,
                           tile_size=tile_size, overlap=overlap)
    if seg.stats.valid_km2 == 0:
        fail(f"{source} has no valid pixels (every pixel is nodata: DN 0 or missing in "
             "some band), so there is nothing to segment. Check the file covers your area.")
    seg.write(output, codes=codes)  # type: ignore[arg-type]
    for note in user_notes(seg.notes, source.is_dir()):
        typer.echo(f"Note: {note}", err=True)
    typer.echo(f"Model {seg.model_name}; {seg.shape[1]} x {seg.shape[0]} px (width x height) "
               f"in {seg.seconds:.1f} s; mask written to {output} ({codes} codes).")
    print_areas(seg)
    if json_path:
        payload = {"input": str(source), "output": str(output), "codes": codes,
                   "model": seg.model_name, "model_sha256": seg.model_sha256,
                   "seconds": round(seg.seconds, 3), **seg.stats.to_dict()}
        try:
            json_path.write_text(json.dumps(payload, indent=2))
        except OSError as exc:
            fail(f"Cannot write {json_path}: {exc.strerror}. Choose a writable location.")


@app.command(short_help="Stack single-band files into one GeoTIFF.")
def stack(
    folder: Path = typer.Argument(..., help="Folder of single-band Sentinel-2 files "
                                  "(..._B02.tif, ..._B8A_20m.jp2; searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output 11-band GeoTIFF."),
) -> None:
    """Stack single-band files (10/20/60 m, any CRS) into one 11-band 10 m GeoTIFF."""
    import rasterio

    from .bandfolder import looks_level2a, product_offset, stack_folder

    if not folder.is_dir():
        fail(f"{folder} is not a folder. Give the folder that holds the band files.")
    check_writable(output, example=f"{folder.name or 'scene'}_stack.tif")
    if output.suffix.lower() not in (".tif", ".tiff"):
        fail(f"Give the stack a GeoTIFF name ending in .tif, e.g. {output}.tif.")
    path, notes = stack_folder(folder, output)
    for note in notes:
        typer.echo(f"Note: {note}", err=True)
    with rasterio.open(path) as src:
        typer.echo(f"Wrote {path}: {src.count} bands (B2...B12), {src.width} x {src.height} px "
                   f"(width x height) of {src.res[0]:g} m, {src.crs.to_string()}, "
                   "nearest-neighbour resampling.")
    declared = product_offset(folder)
    if declared is not None and declared[0]:
        typer.echo(f"Note: {declared[1].name} declares a DN offset of {declared[0]:g}; the "
                   f"stack keeps the DN as stored: give --dn-offset {declared[0]:g} when you "
                   "segment it.", err=True)
    elif declared is None and looks_level2a(folder):
        typer.echo(f"Note: {LEVEL2A_HINT} (The stack keeps the DN as stored; give the offset "
                   "when you segment it.)", err=True)


def _register_optional_commands() -> None:
    """Attach the commands that live in their own modules (each registers on :data:`app`)."""
    import importlib

    for module in ("cli_train", "cli_batch", "cli_gee", "cli_change"):
        try:
            importlib.import_module(f"urbanseg_core.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"urbanseg_core.{module}":
                raise


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line + exit 2."""
    _register_optional_commands()
    try:
        app(standalone_mode=True)
    except UrbansegError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    # ``python -m urbanseg_core.cli``: run the package module's app, the one the other
    # command modules register on (this file runs as ``__main__``, a second copy).
    from urbanseg_core.cli import main as package_main

    package_main()
