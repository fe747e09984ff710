"""``urbanseg adapt``: fine-tune a model to your region from your images and references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from ..errors import TooLargeError
from ..evaluation.metrics import json_safe
from ..gee.composite import DEFAULT_CLOUD_THRESHOLD, DEFAULT_END, DEFAULT_START
from ..io.references import CODE_NAMES
from ..lazy import lazy_import
from ..model.loading import load_model
from ..training.adapt.inputs import MAX_PIXELS, AdaptPair, earth_engine_pair, read_pair
from .earthengine import connect, read_aoi
from .errors import fail
from .options import (BandsOption, CloudOption, DnOffsetOption, EndOption, ModelOption,
                      OverwriteOption, StartOption, band_list, check_paths, image_input, note,
                      progress_bar)

if TYPE_CHECKING:
    from ..training.adapt.loop import AdaptResult

#: Imported when the command runs (they import PyTorch), not for ``--help``.
LOOP_MODULE = "urbanseg_core.training.adapt.loop"
CARD_MODULE = "urbanseg_core.training.adapt.card"

SHORT_HELP = "Fine-tune the model to your region from a reference."


def _read_pairs(inputs: list[Path], codes: str, bands: str | None,
                dn_offset: float | None) -> list[AdaptPair]:
    """Each IMAGE REFERENCE pair of the arguments, read onto the model's grid."""
    pairs = []
    for image, reference in zip(inputs[::2], inputs[1::2]):
        try:
            with image_input(image, MAX_PIXELS, bands, dn_offset) as (raster, offset):
                pair = read_pair(raster, reference, codes, offset, band_list(bands))
        except TooLargeError as exc:
            fail(f"{exc.problem} Adapt on a part of your region: crop the image to at most "
                 f"{MAX_PIXELS:,} pixels (2,500 km² at 10 m).")
        pair.name = image.name
        pair.provenance["image"] = image.name
        pairs.append(pair)
    return pairs


def _earth_engine_pair(aoi: Path, start: str, end: str, cloud_threshold: float,
                       max_km2: float) -> AdaptPair:
    area = read_aoi(aoi, max_km2)
    connect()
    return earth_engine_pair(area, start, end, cloud_threshold, progress_bar("Earth Engine"))


def _check_arguments(inputs: list[Path], aoi: Path | None, output: Path, codes: str,
                     overwrite: bool) -> None:
    if codes not in CODE_NAMES:
        fail(f"--reference-codes must be one of {', '.join(CODE_NAMES)}, not {codes!r}.")
    if not inputs and aoi is None:
        fail("Give at least one IMAGE REFERENCE pair, or --aoi to use Earth Engine.")
    if len(inputs) % 2:
        fail(f"Give images and references in pairs (IMAGE REFERENCE ...); got {len(inputs)} "
             f"paths, the last one ({inputs[-1]}) has no partner.")
    if output.suffix.lower() != ".json":
        fail(f"-o must name the model card, ending in .json (e.g. my-model.json), not "
             f"{output.name}; the weights are written beside it.")
    check_paths([output, output.with_suffix(".pt"), output.with_suffix(".onnx")],
                [*inputs, aoi], overwrite, example="my-model.json")


def _report(result: AdaptResult, card_path: Path, as_json: bool) -> None:
    weights = card_path.with_suffix(".pt")
    if as_json:
        typer.echo(json.dumps(json_safe({
            "model": str(card_path), "weights": str(weights), "accepted": result.accepted,
            "parent": result.parent.card.name, "minutes": result.minutes,
            "steps": result.steps, "validation_before": result.before,
            "validation_after": result.after}), allow_nan=False))
        return
    typer.echo(f"Model written: {card_path} (weights {weights}).")
    typer.echo(f"Validation block, macro built-up Dice: {result.parent.card.name} "
               f"{result.score_before:.3f} -> adapted {result.score_after:.3f} "
               f"({result.steps} steps, {result.minutes:.1f} min).")
    typer.echo(f"Use it with: urbanseg predict IMAGE -o mask.tif --model {card_path}")


def adapt(
    inputs: Optional[List[Path]] = typer.Argument(
        None, metavar="IMAGE REFERENCE [IMAGE REFERENCE ...]",
        help="Sentinel-2 images (GeoTIFF or band folder), each followed by its reference "
             "mask (any CRS; reprojected onto the image grid, nearest)."),
    output: Path = typer.Option(..., "-o", "--output", help="The adapted model's card, "
                                "MY-MODEL.json; its weights MY-MODEL.pt go beside it."),
    reference_codes: str = typer.Option("auto", "--reference-codes",
                                        help="auto, index, esm, ghsl or corine."),
    minutes: float = typer.Option(5.0, "--minutes", min=0.1, max=240,
                                  help="Time budget for training and validation."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads."),
    model: ModelOption = None,
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
    aoi: Optional[Path] = typer.Option(None, "--aoi", help="GeoJSON area: adapt on its Earth "
                                       "Engine composite with the GHSL reference (2018)."),
    start: StartOption = DEFAULT_START,
    end: EndOption = DEFAULT_END,
    cloud_threshold: CloudOption = DEFAULT_CLOUD_THRESHOLD,
    max_km2: float = typer.Option(500.0, "--max-km2", help="Refuse larger AOIs (km²)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the training crops."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    overwrite: OverwriteOption = False,
) -> None:
    """Fine-tune the model on your images and references; refuses to save a model that is no
    better than its parent on a held-back block."""
    inputs = list(inputs or [])
    _check_arguments(inputs, aoi, output, reference_codes, overwrite)
    parent = load_model(model, engine="torch")  # ONNX Runtime would only cost memory
    pairs = _read_pairs(inputs, reference_codes, bands, dn_offset)
    if aoi is not None:
        pairs.append(_earth_engine_pair(aoi, start, end, cloud_threshold, max_km2))
    loop, cards = lazy_import(LOOP_MODULE), lazy_import(CARD_MODULE)
    settings = loop.AdaptSettings(minutes=minutes, threads=threads, seed=seed)
    bar = progress_bar("adapt")
    result = loop.adapt(pairs, parent, settings,
                        progress=lambda fraction, _: bar(round(100 * fraction), 100),
                        log=lambda line: typer.echo(line, err=True))
    card_path, _ = cards.save_adapted(result, output)
    if cards.absent_note(result):
        note(cards.absent_note(result))
    _report(result, card_path, as_json)
