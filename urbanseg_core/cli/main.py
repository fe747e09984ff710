"""The ``urbanseg`` group: every command registered in one place (:data:`COMMANDS`).

Each command lives in its own module of this package and imports only
:mod:`~urbanseg_core.cli.options` and :mod:`~urbanseg_core.cli.errors`; none imports this
module. As ``rio`` loads its subcommands, a command's module is imported only when that
command runs or shows its help (:class:`LazyCommands`, through
:func:`~urbanseg_core.lazy.lazy_import`): the modules import rasterio, which ``urbanseg
--help`` does not need. No command imports PyTorch but ``train``, ``crossval`` and
``export-onnx``, and those only when they run (not for their ``--help``). Every command is
wrapped by :func:`~urbanseg_core.cli.errors.plain_errors`, so a user error is one plain line
on stderr with exit code 2, never a traceback, from the console script and in-process
(``CliRunner``).
"""

from __future__ import annotations

import gc
import sys

import click
import typer
from typer.core import TyperCommand, TyperGroup

from ..lazy import lazy_import
from .errors import plain_errors

#: Command name -> (module in this package, function, short help), in ``--help`` order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "predict": ("predict", "predict", "Segment one scene (GeoTIFF or band folder)."),
    "stack": ("stack", "stack", "Stack single-band files into one GeoTIFF."),
    "train": ("train", "train", "Train the UNet from a YAML config."),
    "crossval": ("crossval", "crossval",
                 "Leave-one-city-out cross-validation of a training config."),
    "export-onnx": ("export", "export_onnx",
                    "Write a model's ONNX graph (after retraining)."),
    "evaluate": ("evaluate", "evaluate", "Score a segmentation against a reference."),
    "adapt": ("adapt", "adapt", "Fine-tune the model to your region from a reference."),
    "change": ("change", "change", "Change between two dates: from-to map and km²."),
    "batch": ("batch", "batch", "Segment whole regions tile by tile (Dask)."),
    "gee-status": ("gee", "gee_status", "Show the Earth Engine connection and tasks."),
    "gee-fetch": ("gee", "gee_fetch", "Fetch an AOI's composite from Earth Engine."),
    "gee-export": ("gee", "gee_export", "Export a large AOI's composite to Drive/GCS."),
    "gee-export-pairs": ("gee", "gee_export_pairs", "Export composite + GHSL training pairs."),
}

_SETTINGS = {"add_completion": False, "pretty_exceptions_enable": False,
             # plain text: usage errors are short lines, not boxed panels
             "rich_markup_mode": None}


class PlainCommand(TyperCommand):
    """A command whose bad option values (a range, a choice, a missing option) are one plain
    line, ``Error: Invalid value for '--x': ...``, with exit code 2, like every other user
    error (click would print the usage block above it)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.BadParameter as exc:  # typer's click: also a missing option
            typer.echo(f"Error: {exc.format_message()}", err=True)
            raise typer.Exit(code=2) from None


def load_command(name: str) -> click.Command:
    """The click command ``name`` of :data:`COMMANDS`, its module imported now."""
    module, function, short_help = COMMANDS[name]
    command = getattr(lazy_import(f"{__package__}.{module}"), function)
    single = typer.Typer(**_SETTINGS)
    single.command(name, short_help=short_help, cls=PlainCommand)(plain_errors(command))
    return typer.main.get_command(single)


class LazyCommands(TyperGroup):
    """The group of :data:`COMMANDS`, each loaded on first use (:func:`load_command`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help) for name, (_, _, help) in COMMANDS.items()])


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, **_SETTINGS,
                  help="Map residential and non-residential built-up areas in Sentinel-2 "
                       "imagery.")


@app.callback()
def _root() -> None:
    """Map residential and non-residential built-up areas in Sentinel-2 imagery."""


def main() -> None:
    """Console-script entry point (``urbanseg``): run the group; Ctrl-C exits with 130.

    When the command is over (its files written and closed), the objects it leaves are frozen
    (:func:`gc.freeze`) so that the interpreter's shutdown does not search them for reference
    cycles again and again: the process ends about 0.2 s sooner (``urbanseg predict --sample``,
    ``benchmarks/bench_cold_start.py``) and the operating system reclaims the memory, as in
    Instagram's "Dismissing Python Garbage Collection" (2017).
    """
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    finally:
        gc.freeze()
