"""The one way to import a heavy or optional package inside a function.

Modules import what they need at the top, so the import graph shows every dependency. The
exceptions are packages that are optional (Earth Engine, dask, matplotlib, ONNX Runtime) or
too heavy for the paths that do not need them; those are imported where they are used, through
:func:`lazy_import`, which names the package to install when the import fails.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingDependencyError

#: Top-level module -> the distribution to install (when the names differ).
PACKAGES: dict[str, str] = {
    "ee": "earthengine-api",
    "dask": "dask[distributed]",
    "distributed": "dask[distributed]",
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "matplotlib": "matplotlib",
}


def lazy_import(name: str) -> ModuleType:
    """Import a module now (``"ee"``, ``"matplotlib.pyplot"``, ``"distributed"``...).

    Args:
        name: the dotted module name.

    Returns:
        The module.

    Raises:
        MissingDependencyError: the module (or a package it needs) is not installed; the
            message names the package to install. It is also an ``ImportError``.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise _missing(name, str(exc)) from exc


def require(name: str) -> None:
    """Check that a package is installed without importing it (``"distributed"``); for a
    command that needs it on only some of its paths.

    Raises:
        MissingDependencyError: as :func:`lazy_import`.
    """
    if importlib.util.find_spec(name.partition(".")[0]) is None:
        raise _missing(name, f"no module named {name!r}")


def _missing(name: str, reason: str) -> MissingDependencyError:
    top = name.partition(".")[0]
    package = PACKAGES.get(top, top)
    return MissingDependencyError(
        f"This needs the Python package {package}, which could not be imported "
        f"({reason}).", f"Install it: pip install '{package}'.",
        module=name, package=package)
