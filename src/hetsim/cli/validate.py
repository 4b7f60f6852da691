"""`hetsim validate`: score the cost model on measurements (`hetsim calibrate`, which fits it,
is in :mod:`hetsim.cli.calibrate` and shares this module's file options and report tables)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hetsim.api.validation import DEFAULT_SKIP_TAGS, GROUP_FIELDS
from hetsim.cli.common import app, console, print_json, progress
from hetsim.errors import ConfigError, MeasurementError

if TYPE_CHECKING:  # the calibration package (NumPy, SciPy) is imported inside the commands
    from rich.table import Table

    from hetsim.api.validation import Report

# Further CSVs after the flag's first one, so that `--measurements A.csv B.csv` (one flag,
# several files, as the issue writes it) parses on both commands.
ExtraCsvs = Annotated[
    list[Path] | None,
    typer.Argument(help="More measurement CSVs after the flag's first one.", show_default=False),
]


def _files(measurements: list[Path] | None) -> list[Path]:
    """The given CSVs, or every CSV of the measurement folder (``$HETSIM_REALDATA``, else the
    repository's ``data/measurements/published/``) when none is given."""
    from hetsim.api.validation import find_realdata

    if measurements:
        return measurements
    root = find_realdata()
    if root is None:
        raise MeasurementError(
            "no --measurements given, and this installed copy has no data/measurements/published/ "
            "beside it: pass --measurements FILE.csv or set HETSIM_REALDATA to a folder of CSVs"
        )
    files = sorted(root.glob("*.csv"))
    if not files:
        raise MeasurementError(f"{root} holds no .csv files")
    return files


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.1%}"


WIDTH = 100  # validate and calibrate tables fit a 100-column terminal


def _error_table(title: str, rows: dict[str, dict[str, float]], split: bool) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left", width=WIDTH if split else None)
    heads = ("hardware", "metric") if split else (title.split(" (")[0],)
    for col in heads:
        t.add_column(col, overflow="fold")
    for col in ("rows", "MAPE", "median APE"):
        t.add_column(col, justify="right", no_wrap=True)
    for k, v in rows.items():
        t.add_row(*(k.split("/", 1) if split else (k,)), str(v["n"]), _pct(v["mape"]), _pct(v["median_ape"]))
    return t


def render_report(rep: Report, title: str, worst: int = 10, by: list[str] | None = None) -> None:
    """The report in tables that fit :data:`WIDTH` columns: totals per role and level, then
    fitted and held-out rows in separate tables, per source, and the worst rows with units."""
    from rich.console import Console
    from rich.table import Table

    out = Console(width=min(WIDTH, console.width), highlight=False)
    j = rep.to_json(worst)
    out.print(
        f"[bold]{title}[/]: {j['rows_scored']} rows scored, MAPE {_pct(j['mape'])}, median APE "
        f"{_pct(j['median_ape'])} ({'calibrated profiles' if rep.calibrated else 'datasheet roofline'})"
    )
    if j["rows_skipped"]:
        out.print("skipped: " + ", ".join(f"{k} {v}" for k, v in j["rows_skipped"].items()))
    out.print(_error_table("role / level", j["by_role_level"], split=False))
    if any(k.endswith("/host-wall-clock") for k in j["by_role_level_timing"]):
        out.print(_error_table("role / level / timing", j["by_role_level_timing"], split=False))
    for role, label in (("fitted", "fitted rows (used by the committed fit)"), ("held-out", "held-out rows")):
        rows = {
            k.split("/", 1)[1]: v for k, v in j["by_role_hardware_metric"].items() if k.startswith(role + "/")
        }
        if rows:
            out.print(_error_table(label, rows, split=True))
    out.print(_error_table("source", j["by_source"], split=False))
    if by:
        out.print(_error_table(" / ".join(by), rep.by_fields(by), split=False))
    t = Table(title=f"worst {worst} rows", title_justify="left", width=WIDTH)
    t.add_column("role, file:line", overflow="fold", ratio=2)
    t.add_column("hardware, metric", overflow="fold", ratio=2)
    t.add_column("model", overflow="fold", ratio=2)
    for col in ("measured", "predicted", "unit", "APE"):
        t.add_column(col, justify="left" if col == "unit" else "right", no_wrap=True)
    for w in j["worst"]:
        values = (f"{w['measured']:.4g}", f"{w['predicted']:.4g}", w.get("unit", ""), _pct(w["ape"]))
        t.add_row(f"{w['role']}\n{w['row']}", f"{w['hardware']}\n{w['metric']}", w["model"], *values)
    out.print(t)
    out.print("fitted: rows of the hardware and files the committed fit used; held-out: all others")


@app.command("validate")
def validate_cmd(
    measurements: Annotated[
        list[Path] | None,
        typer.Option(
            "--measurements",
            help="Measurement CSV(s) in the shared schema "
            "(default: every CSV of data/measurements/published/, or of $HETSIM_REALDATA).",
        ),
    ] = None,
    extra: ExtraCsvs = None,
    uncalibrated: Annotated[
        bool, typer.Option("--uncalibrated", help="Score the datasheet roofline (no calibrated overlays).")
    ] = False,
    keep_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-tag",
            help="Score rows with this ambiguity tag too (default: parallel_config_unknown is skipped).",
        ),
    ] = None,
    skip_tag: Annotated[
        list[str] | None,
        typer.Option("--skip-tag", help="Leave out rows with this ambiguity tag (e.g. per_gpu_vs_total)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Also print the error per group: comma-separated fields, e.g. hardware,precision "
            f"(fields: {', '.join(GROUP_FIELDS)})."
        ),
    ] = None,
    cross_validate: Annotated[
        str | None,
        typer.Option(
            "--cross-validate",
            help="hardware (leave one GPU out) or model (leave one model out): "
            "refit the shared calibration without each fold's rows and score the fold's end-to-end "
            "rows (tens of seconds per refit).",
        ),
    ] = None,
    worst: Annotated[int, typer.Option(help="How many worst rows to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    serving: Annotated[
        bool, typer.Option("--serving", help="Score the serving rows (QPS=N) through serve-sim instead.")
    ] = False,
    no_folds: Annotated[
        bool,
        typer.Option(
            "--no-folds",
            help="Skip the leave-one-source-out and leave-one-hardware-out scores (and band coverage) "
            "the report leads with.",
        ),
    ] = False,
    serving_fit: Annotated[
        bool,
        typer.Option(
            "--serving-fit",
            help="With --serving: fit on each GPU (--cross-validate model: each model), score on the other.",
        ),
    ] = False,
) -> None:
    """Predict every measured row the cost model can, and report its error (MAPE, median APE).
    The report leads with the held-out error: every row scored by the knobs fitted without its
    source (leave one source out) and without its hardware (leave one hardware out), per level,
    source, precision and hardware, and the coverage of the uncertainty bands on held-out rows;
    then the committed profiles per source, metric, hardware and fitted vs held-out, with the
    worst rows. Power and energy rows (avg_power, energy_per_token, energy_per_request) get their
    own table (the board power model), printed whenever the files hold any, with skip reasons.
    Every row that is not scored is counted under its reason."""
    if serving:
        _validate_serving((measurements or []) + (extra or []), cross_validate, serving_fit, as_json)
        return
    from hetsim.api.validation import validate

    if not 0 <= worst <= 10_000:
        raise ConfigError(f"--worst must be a whole number from 0 to 10,000, got {worst}")
    from hetsim.api.validation import group_key

    skip = (DEFAULT_SKIP_TAGS | set(skip_tag or [])) - set(keep_tag or [])
    fields = [f.strip() for f in by.split(",")] if by else None
    if fields:
        group_key(fields)  # an unknown field fails before any work
    if cross_validate is not None and cross_validate not in ("hardware", "model"):
        raise ConfigError("--cross-validate must be 'hardware' or 'model'")
    files = _files((measurements or []) + (extra or []))
    if cross_validate is not None:
        from hetsim.api.validation import cross_validate as run_cv

        with progress(f"validate: cross-validating the rows of {len(files)} file(s) (one refit per fold)"):
            cv = run_cv(
                files, "hardware" if cross_validate == "hardware" else "model", skip_tags=frozenset(skip)
            )
        rep = cv.report
        title = f"cross-validated (leave one {'GPU' if cross_validate == 'hardware' else 'model'} out)"
        if not as_json:
            console.print(f"refitted without: {', '.join(cv.refit) or 'none'} (other folds never in the fit)")
    else:
        with progress(
            f"validate: predicting the rows of {len(files)} file(s), leave one source / hardware out"
        ):
            rep = validate(files, calibrated=not uncalibrated, skip_tags=frozenset(skip), folds=not no_folds)
        title = "validate"
    _emit(rep, files, title, worst, fields, as_json, folds=not no_folds)


def _validate_serving(files: list[Path], cross_validate: str | None, fit: bool, as_json: bool) -> None:
    """``validate --serving``: the serving rows (QPS=N) through serve-sim."""
    from hetsim.cli.serve_sim import serving_validate

    if cross_validate and not fit:
        raise ConfigError("--cross-validate with --serving needs --serving-fit (the fit it cross-validates)")
    serving_validate(_files(files), fit=fit, as_json=as_json, by=cross_validate or "hardware")


def _emit(
    rep: Report, files: list[Path], title: str, worst: int, fields: list[str] | None, as_json: bool, *,
    folds: bool,
) -> None:  # fmt: skip
    """The report, the energy rows' own table (the board power model) and the host-timed
    kernels' folds: as one JSON object or as tables."""
    from hetsim.api.validation import energy_report
    from hetsim.cli.folds_view import band_coverage, render_folds

    energy = energy_report(files, folds=folds)
    host_folds = _host_timing_folds(rep, files)
    if as_json:
        out = rep.to_json(worst)
        if rep.folds:
            out["band_coverage"] = band_coverage(rep, energy)
        if fields:
            out["by"] = {",".join(fields): rep.by_fields(fields)}
        if energy.scores or energy.skipped:
            out["energy"] = energy.to_json()
        if host_folds:
            out["host_timing_folds"] = host_folds
        print_json(out)
        return
    from hetsim.cli.energy_view import render_energy

    if rep.folds:
        render_folds(rep, band_coverage(rep, energy), WIDTH, energy)
    render_report(rep, title, worst, fields)
    render_energy(energy, WIDTH)
    if host_folds:
        _render_folds(host_folds)


def _host_timing_folds(rep: Report, files: list[Path]) -> dict[str, Any] | None:
    """The host-timed kernel rows' folds (call floors fitted on each GPU, the other held out)."""
    names = {s.row.file for s in rep.scored if s.timing == "host-wall-clock"}
    if not names:
        return None
    from hetsim.api.validation import folds_json

    return folds_json([f for f in files if f.name in names])


def _render_folds(folds: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"host-timed kernels ({folds['profile']}): call floors fitted on one GPU, the other "
              "held out", title_justify="left", width=WIDTH)  # fmt: skip
    numbers = ("rows", "MAPE", "median APE")
    t.add_column("fit on (call floors)", overflow="fold", ratio=2)
    t.add_column("role / hardware / metric", overflow="fold", ratio=4)
    for col in numbers:
        t.add_column(col, justify="right", no_wrap=True)
    for f in folds["folds"]:
        floors = ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in f["floors_s"].items())
        for i, (k, v) in enumerate(f["by_role_hardware_metric"].items()):
            head = f"{','.join(f['fit_hardware'])}\n{floors}" if i == 0 else ""
            t.add_row(head, k, str(v["n"]), _pct(v["mape"]), _pct(v["median_ape"]))
    console.print(t)
