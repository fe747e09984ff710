"""Small rules used across layers: safe file names, colours, digests."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 100, default: str = "") -> str:
    """A name safe in file names and Earth Engine task names: runs of characters other than
    ASCII letters, digits, ``.``, ``_`` and ``-`` become one ``_``; leading and trailing
    ``._-`` are dropped; at most ``limit`` characters; ``default`` when nothing is left.

    Examples: ``"Bercy, Paris"`` -> ``"Bercy_Paris"``; ``"../x.tif"`` -> ``"x.tif"``.
    """
    return _UNSAFE.sub("_", str(text)).strip("._-")[:limit] or default


def safe_file_name(name: str, limit: int = 80, default: str = "file") -> str:
    """:func:`safe_name` of a file's name (its folder dropped) that keeps the extension when
    the name is cut to ``limit`` characters."""
    path = Path(str(name).replace("\\", "/"))
    suffix = safe_name(path.suffix, 10)
    stem = safe_name(path.stem if suffix else path.name, max(1, limit - len(suffix) - 1),
                     default)
    return f"{stem}.{suffix}" if suffix else stem


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#0072B2"`` (or ``"0072B2"``) -> ``(0, 114, 178)``."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_digest(obj: Any) -> str:
    """Hex sha256 of ``obj`` as sorted-key JSON (``str()`` for other types): a stable key."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
