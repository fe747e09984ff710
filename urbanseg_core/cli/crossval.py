"""``urbanseg crossval``: leave-one-city-out cross-validation of a training config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..model.loading import load_model
from ..training.config import load_config
from ..training.crossval import crossval as run_crossval
from ..training.crossval import markdown_table, score_model
from ..util import write_bytes_atomic
from .options import ModelOption

SHORT_HELP = "Leave-one-city-out cross-validation of a training config."


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
    cfg = load_config(config)

    def log(message: str) -> None:
        typer.echo(message, err=True)

    if model is not None:
        result = score_model(load_model(model), cfg, log=log)
        output_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(output_dir / "scores.json", json.dumps(result, indent=1).encode())
    else:
        result = run_crossval(cfg, output_dir, city or None, log=log, progress=not no_progress)
    typer.echo(markdown_table(result["cities"], result["mean"]))
