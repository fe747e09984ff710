"""``urbanseg evaluate``: segment an image and score it against a reference mask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import rasterio
import typer
from rasterio.errors import RasterioIOError

from ..errors import BandOrderError
from ..evaluation.metrics import evaluate_maps, json_safe
from ..evaluation.plots import evaluation_figure
from ..inference.pipeline import segment_scene
from ..io.references import CODE_NAMES, read_reference
from ..io.scene import Scene, read_scene
from ..model.loading import load_model
from .errors import fail
from ..sentinel2 import CLASS_NAMES, NODATA
from .options import (BandsOption, DnOffsetOption, ModelOption, OverwriteOption, band_list,
                      check_paths, choice_check, image_input, note, progress_bar)

SHORT_HELP = "Score a segmentation against a reference."


def table(m: dict) -> str:
    """The scores of :func:`~urbanseg_core.evaluation.metrics.evaluate_maps` as a text table."""
    def f(v):
        return "   n/a" if v is None or v != v else f"{v:6.3f}"

    lines = [f"{'class':<18}{'dice':>8}{'iou':>8}{'prec.':>8}{'recall':>8}{'ref px':>12}"]
    for name, c in m["per_class"].items():
        lines.append(f"{name:<18}{f(c['dice']):>8}{f(c['iou']):>8}{f(c['precision']):>8}"
                     f"{f(c['recall']):>8}{c['support_px']:>12,}")
    lines += [
        f"macro built-up Dice (residential and non-residential): "
        f"{f(m['dice_macro_builtup']).strip()}   binary built-up Dice: "
        f"{f(m['dice_binary_builtup']).strip()}   weighted Dice (every pixel, mostly other): "
        f"{f(m['dice_weighted']).strip()}",
        f"built-up share: predicted {100 * m['built_up_share_pred']:.2f}%, reference "
        f"{100 * m['built_up_share_ref']:.2f}% of {m['valid_px']:,} px valid in both",
        "confusion matrix, pixels (rows = reference, columns = prediction):",
    ]
    names = list(m["per_class"])
    width = max(12, *(len(n) + 2 for n in names))
    lines.append(" " * 18 + "".join(f"{n:>{width}}" for n in names))
    lines += [f"{name:<18}" + "".join(f"{v:>{width},}" for v in row)
              for name, row in zip(names, m["confusion_matrix"])]
    return "\n".join(lines)


#: Class words of --reference-values: a class name or index, or "nodata".
_CLASS_WORDS = {**{n: i for i, n in enumerate(CLASS_NAMES)},
                **{str(i): i for i in range(len(CLASS_NAMES))}, "nodata": NODATA}


def parse_values(text: str | None) -> dict[int, int] | None:
    """``"0=other,1=residential,2=non-residential"`` -> ``{0: 0, 1: 2, 2: 1}`` (a typer
    callback: a bad table is one plain line).

    Raises:
        typer.BadParameter: a pair that is not ``VALUE=CLASS``.
    """
    if text is None:
        return None
    table = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        value, _, word = pair.partition("=")
        if not value.strip().lstrip("-").isdigit() or word.strip() not in _CLASS_WORDS:
            raise typer.BadParameter(
                f"{pair!r}: give VALUE=CLASS pairs, CLASS one of {', '.join(CLASS_NAMES)} or "
                "nodata, e.g. 0=other,1=residential,2=non-residential.")
        table[int(value)] = _CLASS_WORDS[word.strip()]
    return table


def _swap_note(metrics: dict) -> None:
    hint = metrics.get("swapped_builtup")
    if hint:
        note(f"the reference's residential and non-residential classes look swapped: "
             f"built-up Dice {hint['dice_macro_builtup']:.3f} as read, "
             f"{hint['if_swapped']:.3f} with the two exchanged. Check its codes, or give "
             "them with --reference-values.")


def _band_count(path: Path) -> int | None:
    """Bands in a raster file, or ``None`` when it is not one."""
    try:
        with rasterio.open(path) as src:
            return src.count
    except (RasterioIOError, OSError):
        return None


def _read_image(image: Path, reference: Path, bands: str | None,
                dn_offset: float | None) -> Scene:
    """The image to segment; a one-band image beside a multi-band reference is refused as
    swapped arguments."""
    with image_input(image, bands=bands, dn_offset=dn_offset) as (raster, offset):
        try:
            return read_scene(raster, band_order=band_list(bands), dn_offset=offset)
        except BandOrderError:
            if _band_count(raster) == 1 and (_band_count(reference) or 0) > 1:
                fail(f"{image.name} has one band and {reference.name} several: the arguments "
                     "look swapped. Give the Sentinel-2 image first, then the reference "
                     f"mask: urbanseg evaluate {reference} {image}")
            raise


def evaluate(
    image: Path = typer.Argument(..., help="Sentinel-2 GeoTIFF to segment, or a folder of "
                                 "single-band files."),
    reference: Path = typer.Argument(..., help="Reference mask GeoTIFF (any CRS; "
                                     "reprojected onto the image grid, nearest)."),
    model: ModelOption = None,
    reference_codes: str = typer.Option("auto", "--reference-codes",
                                        callback=choice_check(CODE_NAMES),
                                        help="auto, index, esm, ghsl or corine."),
    reference_values: Optional[str] = typer.Option(
        None, "--reference-values", callback=parse_values,
        help="The class of each value of the reference, e.g. "
             "0=other,1=residential,2=non-residential (values not listed are not compared); "
             "replaces --reference-codes."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG with image, "
                                        "reference, prediction and confusion matrix."),
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Segment IMAGE and score it against REFERENCE (Dice, IoU, confusion matrix)."""
    check_paths([plot], [image, reference, model], overwrite, example="report.png")
    scene = _read_image(image, reference, bands, dn_offset)
    ref = read_reference(reference, scene, reference_codes, values=reference_values)
    loaded = load_model(model)
    seg = segment_scene(scene, loaded, progress=None if as_json else progress_bar("predict"))
    metrics = evaluate_maps(seg.classes, ref, loaded.card.class_names)
    _swap_note(metrics)
    if plot:
        evaluation_figure(scene, ref, seg.classes, metrics, loaded.card, plot)
    if as_json:
        payload = {"image": str(image), "reference": str(reference),
                   "model": seg.model_name, "model_sha256": seg.model_sha256, **metrics}
        typer.echo(json.dumps(json_safe(payload), allow_nan=False))
        if plot:  # stdout stays one JSON object
            typer.echo(f"Plot written to {plot}", err=True)
        return
    typer.echo(f"Model {seg.model_name} on {image.name} vs {reference.name}")
    typer.echo(table(metrics))
    if plot:
        typer.echo(f"Plot written to {plot}")
