"""``urbanseg crossval``: leave-one-city-out cross-validation of a training config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..lazy import lazy_import
from ..model.loading import load_model
from ..training.config import load_config
from ..util import write_bytes_atomic
from .options import ModelOption

#: Imported when the command runs (it imports PyTorch), not for ``--help``.
CROSSVAL_MODULE = "urbanseg_core.training.crossval"

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
    cv = lazy_import(CROSSVAL_MODULE)

    def log(message: str) -> None:
        typer.echo(message, err=True)

    if model is not None:
        result = cv.score_model(load_model(model), cfg, log=log)
        output_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(output_dir / "scores.json", json.dumps(result, indent=1).encode())
    else:
        result = cv.crossval(cfg, output_dir, city or None, log=log, progress=not no_progress)
    typer.echo(cv.markdown_table(result["cities"], result["mean"]))
