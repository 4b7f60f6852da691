"""Shared CLI options and checks for the files a command writes (rules in :mod:`hetsim.outfiles`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hetsim.errors import ConfigError
from hetsim.outfiles import check_new_file

ForceOption = Annotated[bool, typer.Option("--force", "-f", help="Replace output files that already exist.")]
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: Path, force: bool, option: str = "--plot") -> Path:
    """A plot file name with a known suffix, under an existing folder, not replacing a file
    unless ``force``."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"{option} {path}: use a .png, .svg or .pdf file name")
    return check_new_file(path, force, option)
