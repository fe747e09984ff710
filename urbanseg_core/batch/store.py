"""Tile files on disk: atomic writes and the sidecar that makes a rerun resumable.

Every tile GeoTIFF ``<tile>.tif`` has a sidecar ``<tile>.json`` written after it. A tile is
*finished* only when the sidecar parses, its identity matches the run (format, model sha256,
input fingerprint, CRS, tile bounds and windows, model tile size and overlap) and the sha256 of
the GeoTIFF on disk equals the one recorded. Both files are written to a temporary name in the
same folder and moved into place (:func:`urbanseg_core.util.atomic_write`), so a
worker killed mid-write leaves at worst a stray ``.tmp`` file, never a half tile under the
final name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..util import atomic_write, sha256_file
from ..util import temporary_path as tmp_path

__all__ = ["FORMAT", "IDENTITY_KEYS", "atomic_write", "clean_stale_tmp", "read_sidecar",
           "remove_other_tiles", "tmp_path", "verify_tile", "write_sidecar"]

#: Sidecar format tag; bump when the tile layout changes so old tiles are recomputed.
FORMAT = "urbanseg-batch-tile/1"

#: Sidecar keys that must equal the run's expectation for a tile to be reused.
IDENTITY_KEYS: tuple[str, ...] = (
    "format", "tile", "model_sha256", "input", "crs", "bounds", "window", "read_window",
    "model_tile_size", "model_overlap",
)


def write_sidecar(path: Path, record: dict[str, Any]) -> None:
    """Write a sidecar JSON atomically (sorted keys, so equal records are equal bytes)."""
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar record, or ``None`` when it is missing or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def verify_tile(tif: Path, sidecar: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """Check that a tile on disk is finished and belongs to this run.

    Args:
        tif: the tile GeoTIFF.
        sidecar: its JSON sidecar.
        identity: the values of :data:`IDENTITY_KEYS` this run expects.

    Returns:
        The sidecar record when the tile can be reused, else ``None`` (missing, partial,
        corrupted, or from another model/input/grid).
    """
    record = read_sidecar(sidecar)
    if record is None or not tif.is_file():
        return None
    if any(record.get(k) != identity.get(k) for k in IDENTITY_KEYS):
        return None
    try:
        return record if sha256_file(tif) == record.get("sha256") else None
    except OSError:
        return None


def clean_stale_tmp(folder: Path) -> int:
    """Remove temporary files left by killed workers; returns how many were removed."""
    removed = 0
    for tmp in folder.glob(".*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


#: A tile file's name: ``r<first row>_c<first column>`` (pixel offsets, zero-padded).
TILE_NAME = re.compile(r"r\d{6}_c\d{6}\.(tif|json)")


def remove_other_tiles(folder: Path, keep: set[str]) -> int:
    """Remove tile GeoTIFFs and sidecars whose names are not in ``keep`` (tiles of an earlier
    run with another tile layout, which the mosaic never uses); returns how many files."""
    removed = 0
    for path in folder.iterdir():
        if TILE_NAME.fullmatch(path.name) and path.stem not in keep:
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed
