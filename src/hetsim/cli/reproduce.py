"""`hetsim reproduce h2m2`: the H2M2 paper reproduction, report and plots under OUT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hetsim.cli.common import app, console, print_json, progress
from hetsim.cli.outputs import ForceOption

reproduce_app = typer.Typer(help="Reproduce published results.", no_args_is_help=True)
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
    from hetsim.experiments.h2m2_run import reproduce
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
    out["calibration"] = {k: {"value": v["value"], "fitted_on": v["fitted_on"]}
                          for k, v in results["calibration"].items()}  # fmt: skip
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
        console.print(f"  {m}: h2m2 {pol['h2m2']['mean_speedup']:.2f}x, "
                      f"oracle {pol['oracle']['mean_speedup']:.2f}x, "
                      f"hierarchical {pol['hierarchical']['mean_speedup']:.2f}x")  # fmt: skip


@reproduce_app.command("list")
def list_cmd() -> None:
    """List the reproducible experiments."""
    console.print("h2m2  Hardware-based Heterogeneous Memory Management (arXiv 2504.14893)")
