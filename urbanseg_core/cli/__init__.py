"""The ``urbanseg`` command line: one module per command, shared options, one group.

``urbanseg = "urbanseg_core.cli:main"`` (pyproject); ``python -m urbanseg_core.cli`` runs the
same. See :mod:`.main` for the commands.
"""

from .main import app, main

__all__ = ["app", "main"]
