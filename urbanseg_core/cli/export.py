"""``urbanseg export-onnx``: write the ONNX graph of a model's weights and record it in its card.

``urbanseg train`` writes the graph itself; this command is for weights that were replaced or
trained before graphs were shipped. Predictions then run with ONNX Runtime, without PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..lazy import lazy_import
from ..model.card import read_card
from ..model.loading import NETWORK_MODULE, default_model_path
from .errors import fail

SHORT_HELP = "Write a model's ONNX graph (after retraining)."


def export_onnx(
    model: Optional[Path] = typer.Argument(None, metavar="[CARD]", help="Model card (.json), "
                                           "or weights (.pt) with a card of the same name; "
                                           "default: the bundled model."),
) -> None:
    """Write the ONNX graph of a model's weights beside them and record it in the card."""
    path = model or default_model_path()
    card_path = path if path.suffix.lower() == ".json" else path.with_suffix(".json")
    if not card_path.is_file():
        fail(f"{path} has no model card ({card_path.name} not found). The graph is recorded "
             "in the card: give a card written by `urbanseg train`.")
    graph = lazy_import(NETWORK_MODULE).export_card(card_path)  # PyTorch: not for --help
    card = read_card(card_path)
    typer.echo(f"Wrote {graph} (sha256 {card.onnx_sha256[:12]}...) from {card.weights} and "
               f"recorded it in {card_path}.")
