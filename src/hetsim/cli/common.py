"""The Typer app shared by all command modules, and small shared helpers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.console import Console

from hetsim.errors import ConfigError
from hetsim.outfiles import strict_json

app = typer.Typer(
    name="hetsim",
    help="Co-design lab for LLM inference on heterogeneous memory and compute.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from hetsim import __version__

        typer.echo(f"hetsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Co-design lab for LLM inference on heterogeneous memory and compute."""


def positive(value: int, name: str, *, maximum: int = 2**31) -> int:
    """``value`` if it is a whole number in [1, ``maximum``] (the option is ``--name``)."""
    if not 1 <= value <= maximum:
        raise ConfigError(f"--{name} must be a positive whole number (1 to {maximum:,}), got {value}")
    return value


def print_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON on stdout (non-finite floats become null, never NaN)."""
    typer.echo(strict_json(obj, indent=2))


@contextlib.contextmanager
def progress(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time on stderr for a long command (shown only on a terminal,
    gone when done). Yields ``step(label)`` to say what is running now."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=err_console, transient=True)  # fmt: skip
    with bar:
        task = bar.add_task(title, total=None)
        yield lambda label: bar.update(task, description=f"{title}: {label}")
