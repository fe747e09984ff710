"""The ``urbanseg`` group: every command registered in one place (:data:`COMMANDS`).

Each command lives in its own module of this package and imports only
:mod:`~urbanseg_core.cli.options` and :mod:`~urbanseg_core.cli.errors`; none imports this
module. Every command is wrapped by :func:`~urbanseg_core.cli.errors.plain_errors`, so a user
error is one plain line on stderr with exit code 2, never a traceback, whether the command
runs from the console script or in-process (typer's ``CliRunner``).
"""

from __future__ import annotations

import sys
from typing import Callable

import typer

from . import batch, evaluate, gee, predict, stack, train
from .errors import plain_errors

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain text: usage errors are short lines, not boxed panels
    help="Map residential and non-residential built-up areas in Sentinel-2 imagery.",
)

#: ``(name, function, short help)`` of every command, in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, Callable, str], ...] = (
    ("predict", predict.predict, predict.SHORT_HELP),
    ("stack", stack.stack, stack.SHORT_HELP),
    ("train", train.train, train.SHORT_HELP),
    ("evaluate", evaluate.evaluate, evaluate.SHORT_HELP),
    ("batch", batch.batch, batch.SHORT_HELP),
    ("gee-status", gee.gee_status, gee.SHORT_HELPS["gee-status"]),
    ("gee-fetch", gee.gee_fetch, gee.SHORT_HELPS["gee-fetch"]),
    ("gee-export", gee.gee_export, gee.SHORT_HELPS["gee-export"]),
    ("gee-export-pairs", gee.gee_export_pairs, gee.SHORT_HELPS["gee-export-pairs"]),
)


@app.callback()
def _root() -> None:
    """Map residential and non-residential built-up areas in Sentinel-2 imagery."""


for _name, _command, _help in COMMANDS:
    app.command(_name, short_help=_help)(plain_errors(_command))


def main() -> None:
    """Console-script entry point (``urbanseg``): run the group; Ctrl-C exits with 130."""
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
