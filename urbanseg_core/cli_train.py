"""``urbanseg train`` and ``urbanseg evaluate`` (registered on :data:`urbanseg_core.cli.app`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli import (BandsOption, DnOffsetOption, ModelOption, app, band_list, fail, image_input,
                  progress_bar)


@app.command(short_help="Train the UNet from a YAML config.")
def train(
    config: Path = typer.Option(..., "--config", help="Training config YAML (see "
                                "models/urbanseg-unet.yaml)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write weights and "
                                              "card here instead of the config's output_dir."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Train the UNet from a YAML config; writes weights and a model card."""
    from .training.config import load_config
    from .training.loop import train as run_training

    cfg = load_config(config)
    if output_dir is not None:
        cfg.output_dir = str(output_dir.resolve())
    card_path, card = run_training(cfg, log=lambda m: typer.echo(m, err=True),
                                   progress=not no_progress)
    typer.echo(f"Model written: {card_path} (weights {card_path.parent / card.weights})")


@app.command(short_help="Leave-one-city-out cross-validation of a training config.")
def crossval(
    config: Path = typer.Option(..., "--config", help="Training config YAML whose sources "
                                "cover several labelled cities (see models/multicity.yaml)."),
    output_dir: Path = typer.Option(Path("runs/crossval"), "--output-dir",
                                    help="Folder for each fold's model and the table."),
    city: Optional[list[str]] = typer.Option(None, "--city", help="Leave out only this city "
                                             "(repeat for several; default: every city)."),
    model: ModelOption = None,
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """For each city: train without it, score on it; print the per-city Dice table.

    With --model, no training: that model is scored on every city of the config (a baseline
    row, e.g. the bundled model).
    """
    from .loading import load_model
    from .training.config import load_config
    from .training.crossval import crossval as run_crossval, markdown_table, score_model

    cfg = load_config(config)
    log = lambda m: typer.echo(m, err=True)  # noqa: E731
    if model is not None:
        result = score_model(load_model(model), cfg, log=log)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "scores.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    else:
        result = run_crossval(cfg, output_dir, city or None, log=log, progress=not no_progress)
    typer.echo(markdown_table(result["cities"], result["mean"]))


def _table(m: dict) -> str:
    def f(v):
        return "   n/a" if v is None or v != v else f"{v:6.3f}"

    lines = [f"{'class':<18}{'dice':>8}{'iou':>8}{'prec.':>8}{'recall':>8}{'ref px':>12}"]
    for name, c in m["per_class"].items():
        lines.append(f"{name:<18}{f(c['dice']):>8}{f(c['iou']):>8}{f(c['precision']):>8}"
                     f"{f(c['recall']):>8}{c['support_px']:>12,}")
    lines += [
        f"weighted Dice: {f(m['dice_weighted']).strip()}   macro built-up Dice: "
        f"{f(m['dice_macro_builtup']).strip()}   binary built-up Dice: "
        f"{f(m['dice_binary_builtup']).strip()}",
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


def _band_count(path: Path) -> int | None:
    """Bands in a raster file, or ``None`` when it is not one."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return src.count
    except (RasterioIOError, OSError):
        return None


@app.command(short_help="Score a segmentation against a reference.")
def evaluate(
    image: Path = typer.Argument(..., help="Sentinel-2 GeoTIFF to segment, or a folder of "
                                 "single-band files."),
    reference: Path = typer.Argument(..., help="Reference mask GeoTIFF (any CRS; "
                                     "reprojected onto the image grid, nearest)."),
    model: ModelOption = None,
    reference_codes: str = typer.Option("auto", "--reference-codes",
                                        help="auto, index, esm, ghsl or corine."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG with image, "
                                        "reference, prediction and confusion matrix."),
    bands: BandsOption = None,
    dn_offset: DnOffsetOption = None,
) -> None:
    """Segment IMAGE and score it against REFERENCE (Dice, IoU, confusion matrix)."""
    from .bands import read_scene
    from .errors import BandOrderError
    from .loading import load_model
    from .metrics import evaluate_maps, json_safe
    from .pipeline import segment_scene
    from .references import CODE_NAMES, read_reference

    if reference_codes not in CODE_NAMES:
        fail(f"--reference-codes must be one of {', '.join(CODE_NAMES)}, not {reference_codes!r}.")
    if plot:
        from .cli import check_writable

        check_writable(plot)
    with image_input(image, bands=bands, dn_offset=dn_offset) as (raster, offset):
        try:
            scene = read_scene(raster, band_order=band_list(bands), dn_offset=offset)
        except BandOrderError as exc:
            if _band_count(raster) == 1 and (_band_count(reference) or 0) > 1:
                fail(f"{image.name} has one band and {reference.name} several: the arguments "
                     "look swapped. Give the Sentinel-2 image first, then the reference "
                     f"mask: urbanseg evaluate {reference} {image}")
            raise
    ref = read_reference(reference, scene, reference_codes)
    loaded = load_model(model)
    seg = segment_scene(scene, loaded, progress=None if as_json else progress_bar("predict"))
    metrics = evaluate_maps(seg.classes, ref, loaded.card.class_names)
    if plot:
        from .eval_plot import evaluation_figure

        evaluation_figure(scene, ref, seg.classes, metrics, loaded.card, plot)
    if as_json:
        payload = {"image": str(image), "reference": str(reference),
                   "model": seg.model_name, "model_sha256": seg.model_sha256, **metrics}
        typer.echo(json.dumps(json_safe(payload), allow_nan=False))
        if plot:  # stdout stays one JSON object
            typer.echo(f"Plot written to {plot}", err=True)
    else:
        typer.echo(f"Model {seg.model_name} on {image.name} vs {reference.name}")
        typer.echo(_table(metrics))
        if plot:
            typer.echo(f"Plot written to {plot}")
