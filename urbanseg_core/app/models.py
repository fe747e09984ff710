"""Uploaded model weights: store them where :func:`urbanseg_core.model.loading.load_model` finds
their card, then let it validate them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ModelLoadError
from ..runs.uploads import UPLOAD_DIR


def stage_weights(weights: bytes, name: str, card: bytes | None = None) -> Path:
    """Write uploaded weights (and card) to their own folder; return the path to load.

    With a card, the weights are saved under the file name the card names, and the card's
    path is returned; without one, the weights path is returned (read as the original 2022
    checkpoint layout by :func:`~urbanseg_core.model.loading.load_model`).

    Raises:
        ModelLoadError: the card is not JSON or names no weights file.
    """
    digest = hashlib.sha256(weights).hexdigest()
    folder = UPLOAD_DIR / f"model_{digest[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    if card is None:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).name)
        path = folder / (safe or "weights.pth")
        path.write_bytes(weights)
        return path
    try:
        data = json.loads(card.decode("utf-8"))
        weights_name = Path(str(data["weights"])).name
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelLoadError("The model card is not a valid card JSON (it must name its "
                             "weights file under \"weights\").") from exc
    (folder / weights_name).write_bytes(weights)
    card_path = folder / (Path(weights_name).stem + ".json")
    card_path.write_bytes(card)
    return card_path
