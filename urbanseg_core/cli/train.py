"""``urbanseg train``: train the UNet from a YAML config (see ``models/urbanseg-unet.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..lazy import lazy_import
from ..training.config import load_config

#: Imported when the command runs (it imports PyTorch), not for ``--help``.
LOOP_MODULE = "urbanseg_core.training.loop"

SHORT_HELP = "Train the UNet from a YAML config."


def train(
    config: Path = typer.Option(..., "--config", help="Training config YAML (see "
                                "models/urbanseg-unet.yaml)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write weights and "
                                              "card here instead of the config's output_dir."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Train the UNet from a YAML config; writes weights and a model card."""
    cfg = load_config(config)
    if output_dir is not None:
        cfg.output_dir = str(output_dir.resolve())
    loop = lazy_import(LOOP_MODULE)
    card_path, card = loop.train(cfg, log=lambda m: typer.echo(m, err=True),
                                 progress=not no_progress)
    typer.echo(f"Model written: {card_path} (weights {card_path.parent / card.weights})")
