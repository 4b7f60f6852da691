"""`hetsim calibrate`: fit the shared kernel parameters on measurements and write calibrated
overlays, measure a GPU with ``--device cuda``, or refit the knobs, folds and bands with
``--folds``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hetsim.api.validation import DEFAULT_FIT_FILES, DEFAULT_FIT_HARDWARE
from hetsim.cli.common import app, console, print_json, progress
from hetsim.cli.outputs import ForceOption
from hetsim.cli.validate import ExtraCsvs, _files, render_report
from hetsim.errors import ConfigError, MeasurementError
from hetsim.outfiles import check_new_file

if TYPE_CHECKING:
    from hetsim.api.validation import Calibration


def _check_overlay_target(out_dir: Path | None, into_package: bool) -> None:
    """Overlays go where the user said: a folder (--out-dir), or the package (--into-package)."""
    if into_package and out_dir is not None:
        raise ConfigError("choose one of --out-dir and --into-package")
    if not into_package and out_dir is None:
        raise ConfigError(
            "say where the overlays go: --out-dir FOLDER, "
            "or --into-package to replace the committed ones; --dry-run writes nothing"
        )
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out-dir {out_dir} is a file; give a folder")
        if not out_dir.exists():
            parent = out_dir.parent
            if not parent.is_dir():
                raise ConfigError(f"--out-dir {out_dir}: folder {parent} does not exist; create it first")
            out_dir.mkdir()


@app.command("calibrate")
def calibrate_cmd(
    from_measurements: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-measurements",
            help="Measurement CSV(s) to fit on and score "
            "(default: every CSV of data/measurements/published/).",
        ),
    ] = None,
    extra: ExtraCsvs = None,
    fit_hardware: Annotated[
        list[str] | None,
        typer.Option(
            "--fit-hardware",
            help=f"Hardware whose rows are fitted (default: {', '.join(DEFAULT_FIT_HARDWARE)}); "
            "all others are held out.",
        ),
    ] = None,
    fit_file: Annotated[
        list[str] | None,
        typer.Option(
            "--fit-file", help=f"File names whose rows are fitted (default: {', '.join(DEFAULT_FIT_FILES)})."
        ),
    ] = None,
    transfer_to: Annotated[
        list[str] | None,
        typer.Option(
            "--transfer-to",
            help="Hardware to receive the shared parameters "
            "(default: every other known hardware in the files).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Folder to write the overlays into (required unless --dry-run)."),
    ] = None,
    into_package: Annotated[
        bool,
        typer.Option(
            "--into-package",
            help="Replace the committed overlays in hetsim/hardware/calibrated/ (instead of --out-dir).",
        ),
    ] = False,
    force: ForceOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fit and score, write nothing.")] = False,
    refit: Annotated[
        str,
        typer.Option(
            "--refit",
            help="all: fit every shared parameter; vector: only the vector-kernel ones (norms, "
            "activations, residual adds), the others held at the committed overlays' values.",
        ),
    ] = "all",
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="'cuda': run the microbenchmarks on this machine's GPU (needs PyTorch) "
            "and write a measurement CSV.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="CSV written by --device cuda.")] = Path(
        "data/measurements/gpu_microbench.csv"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="With --device: a small sweep.")] = False,
    folds: Annotated[
        bool,
        typer.Option(
            "--folds",
            help="Fit the shared knobs on the project's own data (../shared/realdata and "
            "data/measurements), refit them without each source and each hardware, and commit the "
            "knob values, the folds and the uncertainty bands into the package (needs --into-package; "
            "minutes).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fit the shared kernel-model parameters on measurements and write calibrated overlays
    (with provenance) into --out-dir; or, with --device cuda, measure this GPU into a CSV; or,
    with --folds, fit the knobs leave-one-out and commit folds and uncertainty bands."""
    if folds:
        from hetsim.cli.folds_view import folds_cmd

        if not into_package:
            raise ConfigError(
                "--folds replaces the committed knob values, folds and bands: add --into-package"
            )
        folds_cmd((from_measurements or []) + (extra or []), as_json)
        return
    if device is not None:
        _measure(device, out, force, quick)
        return
    from hetsim.api.validation import calibrate

    if not dry_run:
        _check_overlay_target(out_dir, into_package)
    with progress("calibrate: fitting the shared kernel parameters"):
        cal = calibrate(
            _files((from_measurements or []) + (extra or [])),
            fit_hardware=fit_hardware or DEFAULT_FIT_HARDWARE,
            fit_files=fit_file or DEFAULT_FIT_FILES,
            transfer_to=transfer_to,
            out_dir=out_dir,
            write=not dry_run,
            force=force,
            refit=refit,
        )
    _render_fit(cal, as_json)


def _measure(device: str, out: Path, force: bool, quick: bool) -> None:
    """``--device cuda``: the microbenchmarks on this machine's GPU, into a measurement CSV."""
    from hetsim.api.validation import run_microbenchmarks, torch_backend

    if device != "cuda":
        raise MeasurementError(f"--device {device!r}: only 'cuda' is supported")
    check_new_file(out, force, "--out")
    path = run_microbenchmarks(torch_backend(), out, quick=quick)
    console.print(f"measurements written to {path}; score them with: hetsim validate --measurements {path}")


def _render_fit(cal: Calibration, as_json: bool) -> None:
    """The fitted shared parameters, the overlays written and the new parameters' report."""
    shared = cal.collective_fit.params if cal.collective_fit else {}
    fitted: dict[str, Any] = {**cal.kernel_fit.params, **shared}
    if as_json:
        print_json({"params": fitted, "fit_rows": cal.kernel_fit.rows,
                    "overlays": {k: str(v) for k, v in cal.overlays.items()},
                    **cal.report.to_json()})  # fmt: skip
        return
    from rich.table import Table

    t = Table(title="fitted shared parameters", title_justify="left")
    t.add_column("parameter")
    t.add_column("value", justify="right")
    for k, v in fitted.items():
        t.add_row(k, f"{v * 1e6:.2f} us" if k.endswith("_s") else f"{v:.4g}")
    console.print(t)
    for name, path in cal.overlays.items():
        console.print(f"overlay written: {path} ({name})")
    render_report(cal.report, "calibrate (new parameters)")
