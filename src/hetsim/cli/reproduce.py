"""`hetsim reproduce NAME`: a published study reproduced, its report and plots under OUT;
`hetsim reproduce list` (every study with its targets met / total) and `hetsim reproduce all`.
The studies are the registry of :mod:`hetsim.experiments.registry`; H2M2 keeps its own command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hetsim.cli.common import app, console, print_json, progress
from hetsim.cli.outputs import ForceOption

reproduce_app = typer.Typer(
    help="Reproduce published studies (hetsim reproduce list shows them).", no_args_is_help=True
)
app.add_typer(reproduce_app, name="reproduce")

JSON_KEYS = ("models", "literal", "dynamic_lengths", "hbm8_speedup", "energy_per_token_vs_lpddr")


DEFAULT_OUT = Path("out/h2m2")
H2M2_HTML = "report.html"  # the interactive report, written when the web extra is installed


def check_h2m2_out(out: Path, force: bool) -> Path:
    """``out`` can take the reproduction's files (see :func:`hetsim.outfiles.check_out_dir`);
    the default folder's parent is created, a folder the user names needs an existing parent."""
    from hetsim.outfiles import check_out_dir
    from hetsim.report.h2m2 import output_names

    return check_out_dir(out, force, [*output_names(), H2M2_HTML], create_parents=out == DEFAULT_OUT)


def run_h2m2(out: Path) -> dict[str, Any]:
    """Run the reproduction and write report.md, results.json and plots under ``out`` (checked
    first with :func:`check_h2m2_out`)."""
    from hetsim.api.reproduce import reproduce
    from hetsim.report.h2m2 import write_all

    with progress("H2M2 reproduction") as step:
        rep = reproduce()
        step("writing report and plots")
        write_all(rep, out)
        from hetsim.cli.dashboard_report import web_extra_installed

        if web_extra_installed():  # the interactive report, with the memory-tier timeline
            from hetsim.web.report import write_h2m2_html

            write_h2m2_html(rep, out / H2M2_HTML)
    return rep.results


def json_view(results: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` object: the issue's keys, calibration as {knob: {value, fitted_on}}."""
    out = {k: results[k] for k in JSON_KEYS}
    out["calibration"] = {
        k: {"value": v["value"], "fitted_on": v["fitted_on"]} for k, v in results["calibration"].items()
    }
    out["targets"] = results["targets"]
    return out


@reproduce_app.command("h2m2")
def h2m2_cmd(
    out: Annotated[Path, typer.Option(help="Folder for report.md, results.json, plots.")] = DEFAULT_OUT,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results object.")] = False,
    force: ForceOption = False,
) -> None:
    """H2M2 (arXiv 2504.14893): every mapping policy vs LPDDR-only, literal and calibrated."""
    check_h2m2_out(out, force)
    results = run_h2m2(out)
    if as_json:
        print_json(json_view(results))
        return
    met = sum(t["met"] for t in results["targets"])
    console.print(
        f"H2M2 reproduction: {met}/{len(results['targets'])} targets met; report in {out}/report.md"
    )
    for m, pol in results["models"].items():
        console.print(
            f"  {m}: h2m2 {pol['h2m2']['mean_speedup']:.2f}x, "
            f"oracle {pol['oracle']['mean_speedup']:.2f}x, "
            f"hierarchical {pol['hierarchical']['mean_speedup']:.2f}x"
        )


def check_study_out(name: str, out: Path, force: bool) -> Path:
    """``out`` can take study ``name``'s files (report.md, results.json, its plots)."""
    from hetsim.api.reproduce import get_study
    from hetsim.outfiles import check_out_dir

    if name == "h2m2":
        return check_h2m2_out(out, force)
    study = get_study(name)
    import importlib

    figures = getattr(importlib.import_module(study.module), "FIGURES", ())
    names = ["report.md", "results.json", *(f"{f}.png" for f in figures)]
    return check_out_dir(out, force, names, create_parents=out.parent == Path("out"))


def run_study(name: str, out: Path) -> dict[str, Any]:
    """Run study ``name``, write its report under ``out`` (checked first with
    :func:`check_study_out`) and return its results object (with its evaluated ``targets``)."""
    if name == "h2m2":
        return run_h2m2(out)
    from hetsim.api.reproduce import get_study
    from hetsim.report.study import write_outcome

    with progress(f"{name} reproduction") as step:
        outcome = get_study(name).runner()()
        step("writing report and plots")
        write_outcome(outcome, out)
    results: dict[str, Any] = outcome.json()
    return results


def _summary_line(name: str, results: dict[str, Any], out: Path) -> str:
    from hetsim.api.reproduce import met_count

    met, total = met_count(results)
    return f"{name}: {met}/{total} targets met; report in {out}/report.md"


def _study_command(name: str, title: str) -> None:
    out_help = f"Folder for report.md, results.json, plots (default out/{name})."

    def cmd(
        out: Path | None = typer.Option(None, help=out_help),
        as_json: Annotated[bool, typer.Option("--json", help="Print the results object.")] = False,
        force: ForceOption = False,
    ) -> None:
        folder = out if out is not None else Path("out") / name
        check_study_out(name, folder, force)
        results = run_study(name, folder)
        if as_json:
            print_json(results)
            return
        console.print(_summary_line(name, results, folder))
        for row in results["targets"]:
            verdict = "met" if row["met"] else "MISSED"
            console.print(f"  {row['target']}: {row['value']:.3g} (published {row['paper']:.3g}) {verdict}")

    cmd.__doc__ = title
    reproduce_app.command(name)(cmd)


def _register_commands() -> None:
    from hetsim.api.reproduce import get_study, study_names

    for study in (get_study(n) for n in study_names()):
        if study.name != "h2m2":
            _study_command(study.name, study.title)


_register_commands()


@reproduce_app.command("list")
def list_cmd(
    out: Annotated[Path, typer.Option(help="Folder whose <study>/results.json are read.")] = Path("out"),
) -> None:
    """Every study with its targets met / total (from OUT/<study>/results.json of its last run)."""
    import json

    from rich.table import Table

    from hetsim.api.reproduce import get_study, met_count, study_names

    table = Table("study", "title", "targets met / total", "report")
    for study in (get_study(n) for n in study_names()):
        total = len(study.target_names())
        path = out / study.name / "results.json"
        shown, where = f"–/{total} (not run: hetsim reproduce {study.name})", ""
        if path.is_file():
            try:
                met, n = met_count(json.loads(path.read_text()))
                shown, where = f"{met}/{n}", str(path.parent / "report.md")
            except (OSError, ValueError, AttributeError):
                shown = f"–/{total} (unreadable {path}; run it again)"
        table.add_row(study.name, study.title, shown, where)
    console.print(table)


@reproduce_app.command("all")
def all_cmd(
    out: Annotated[Path, typer.Option(help="Folder that gets one sub-folder per study.")] = Path("out"),
    force: ForceOption = False,
) -> None:
    """Run every study, each into OUT/<study>, and print its targets met / total."""
    from hetsim.api.reproduce import study_names
    from hetsim.outfiles import check_out_dir

    folders = {name: out / name for name in study_names()}
    if not out.exists():
        check_out_dir(out, force, [f"{n}/" for n in folders], create_parents=out == Path("out"))
    for name, folder in folders.items():  # refuse before running anything
        check_study_out(name, folder, force)
    for name, folder in folders.items():
        console.print(_summary_line(name, run_study(name, folder), folder))
