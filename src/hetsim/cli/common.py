"""The Typer app shared by all command modules, and small shared helpers."""

from __future__ import annotations

import json
import math
from typing import Any

import typer
from rich.console import Console

app = typer.Typer(
    name="hetsim",
    help="Co-design lab for LLM inference on heterogeneous memory and compute.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if __import__("sys").stdout.isatty() else 120)
err_console = Console(stderr=True)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalar
        return _clean(obj.item())
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (non-finite floats become null)."""
    typer.echo(json.dumps(_clean(obj), indent=2))
