"""What ``hetsim validate`` leads with: the leave-one-source-out and leave-one-hardware-out
error (every knob refitted without the row's fold), the groups the targets name, and the
coverage of the uncertainty bands on held-out rows; and ``hetsim calibrate --folds``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hetsim.cli.common import console, print_json, progress

if TYPE_CHECKING:
    from hetsim.api.validation import EnergyReport, Report


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.1%}"


def band_coverage(rep: Report, energy: EnergyReport) -> dict[str, Any]:
    """Leave-one-source-out coverage of the bands on the report's rows (calibration/bands.py)."""
    from hetsim.api.validation import DEFAULT_FIT_HARDWARE, coverage, residual

    res = [residual(s.row, s.predicted, s.level) for s in rep.folds.get("source", [])]
    for e in energy.folds.get("source", ()):
        res.append(residual(e.row, e.predicted, "power" if e.row.metric == "avg_power" else "energy"))
    return coverage(res, DEFAULT_FIT_HARDWARE) if res else {}


def _energy_levels(energy: EnergyReport, by: str) -> dict[str, dict[str, float]]:
    import numpy as np

    out: dict[str, list[float]] = {}
    for s in energy.folds.get(by, ()):
        out.setdefault("power" if s.row.metric == "avg_power" else "energy", []).append(s.ape)
    return {
        k: {"n": len(v), "mape": float(np.mean(v)), "median_ape": float(np.median(v))} for k, v in out.items()
    }


def render_folds(
    rep: Report, cov: dict[str, Any], width: int = 100, energy: EnergyReport | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(width=min(width, console.width), highlight=False)

    t = Table(title="held out: every knob refitted without the row's source / hardware", title_justify="left",
              width=width)  # fmt: skip
    for col in ("fold", "level"):
        t.add_column(col)
    for col in ("rows", "MAPE", "median APE"):
        t.add_column(col, justify="right")
    for by, label in (("source", "leave one source out"), ("hardware", "leave one hardware out")):
        j = rep.fold_json(by)
        levels = dict(j["by_level"])
        if energy is not None:
            levels.update(_energy_levels(energy, by))
        for level, v in levels.items():
            t.add_row(label, level, str(v["n"]), _pct(v["mape"]), _pct(v["median_ape"]))
    out.print(t)
    j = rep.fold_json("source")
    g = Table(title="leave one source out, end to end: per source, precision and hardware",
              title_justify="left", width=width)  # fmt: skip
    g.add_column("group", overflow="fold")
    for col in ("rows", "MAPE", "median APE"):
        g.add_column(col, justify="right")
    for key in ("by_source", "by_precision", "by_hardware"):
        for k, v in j[key].items():
            if k.startswith("e2e/"):
                g.add_row(f"{key[3:]}: {k[4:]}", str(v["n"]), _pct(v["mape"]), _pct(v["median_ape"]))
    out.print(g)
    if cov:
        parts = ", ".join(f"{k.split(':', 1)[-1]} {v['coverage']:.0%} of {v['n']} ({v['sources']} sources, "
                          f"mean {v['per_source_mean']:.0%}, largest {v['largest_source_share']:.0%} of rows)"
                          for k, v in cov.items() if k.startswith("phase:"))  # fmt: skip
        out.print(
            f"bands ({cov['level']:.0%} nominal), coverage on held-out sources: "
            f"{cov['all']['coverage']:.1%} of {cov['all']['n']} rows; by phase: {parts}"
        )


def folds_cmd(files: Sequence[Path], as_json: bool) -> None:
    """``hetsim calibrate --folds --into-package``."""
    from hetsim.api.validation import Report, project_files, run_folds

    chosen = list(files) or project_files()
    with progress(f"calibrate --folds: knobs, folds and bands on {len(chosen)} file(s) (minutes)"):
        run = run_folds(chosen)
    rep = Report(run.loso, folds={"source": run.loso, "hardware": run.loho})
    knobs = {k: None if f is None else {"value": f.params[k], "rows": f.rows, "rms": f.rms_log_error}
             for k, f in run.knob_fits.items()}  # fmt: skip
    if as_json:
        selection = {
            c.knob: {"kept": c.keep, "with": c.with_knob, "without": c.without} for c in run.selection
        }
        print_json({"knobs": knobs, "selection": selection, "folds": sorted(run.folds),
                    "written": [str(p) for p in run.written],
                    "leave_one_source_out": rep.fold_json("source"),
                    "leave_one_hardware_out": rep.fold_json("hardware"),
                    "band_coverage": run.coverage})  # fmt: skip
        return
    for k, v in knobs.items():
        console.print(f"knob {k}: " + ("no rows" if v is None else f"{v['value']:.4g} (n={v['rows']})"))
    for c in run.selection:
        held = ", ".join(f"{s} {c.with_knob[s]:.1%} (without {c.without[s]:.1%})" for s in c.with_knob)
        console.print(f"candidate {c.knob}: {'kept' if c.keep else 'rejected'}; held out by source: "
                      f"{held or 'one source only, no held-out check'}")  # fmt: skip
    for p in run.written:
        console.print(f"written: {p}")
    render_folds(rep, run.coverage)
