"""Small rules used across layers: safe file names, atomic writes, colours, digests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

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


def temporary_path(final: str | Path) -> Path:
    """A unique hidden temporary name beside ``final`` (same folder, hence same file system):
    ``.<name>.<pid>-<random>.tmp``. Writers name the format themselves (``driver="GTiff"``,
    ``format="png"``), since the temporary name ends in ``.tmp``."""
    final = Path(final)
    return final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write a file so that ``path`` is either the old file or the complete new one.

    Calls ``write(tmp)`` with a temporary path in ``path``'s folder (:func:`temporary_path`),
    then renames it onto ``path`` with :func:`os.replace` (atomic on POSIX and Windows file
    systems). A failed or interrupted ``write`` removes the temporary file and leaves the old
    ``path`` untouched. The writer creates the file, so it gets the usual permissions. This is
    the one way urbanseg writes a file: command outputs, batch tiles, stacks, uploads.

    Args:
        path: the final file.
        write: creates the file at the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the folder is missing or not writable, or the disk is full (plain
            message; the temporary file is removed).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"The output folder {folder} does not exist.", "Create it first.")
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"Cannot write {path}: {exc.strerror or exc}.",
                         "Choose a writable location with free space.") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """:func:`atomic_write` of ``data`` to ``path``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
