"""`hetsim demo`: the main job on built-in defaults, writing its report under ``out/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hetsim.cli.analyze import render, result_json
from hetsim.cli.common import app, console
from hetsim.cli.outputs import ForceOption

ANALYSIS_JSON = "analyze-llama2-70b-4xh100.json"
ROOFLINE_PNG = "roofline-llama2-70b-4xh100.png"
ANALYSIS_HTML = "analyze-llama2-70b-4xh100.html"  # written when the web extra is installed
SCREENSHOTS = "screenshots/"  # the browser tests' page screenshots (tests/web) share out/


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the report and plots.")] = Path("out"),
    force: ForceOption = False,
) -> None:
    """Run the main job on built-in defaults: a representative analysis (llama2-70b on
    4x h100-sxm) and the H2M2 reproduction, writing reports and plots under OUT."""
    from hetsim.api.analysis import Workload, analyze
    from hetsim.api.lookup import Precision, get_hardware
    from hetsim.cli.reproduce import check_h2m2_out, run_h2m2
    from hetsim.outfiles import atomic_write_text, check_out_dir, strict_json

    check_out_dir(out, force, [ANALYSIS_JSON, ROOFLINE_PNG, ANALYSIS_HTML, "h2m2/", SCREENSHOTS])
    check_h2m2_out(out / "h2m2", force)
    prec = Precision()
    hw = get_hardware("h100-sxm")
    r = analyze("llama2-70b", hw, Workload(64, 2048, 2048), prec, tp=4, check_fit=True)
    render(r)
    atomic_write_text(out / ANALYSIS_JSON, strict_json(result_json(r), indent=2))
    from hetsim.report.roofline import plot_roofline

    plot_roofline(r, hw, prec, out / ROOFLINE_PNG)
    from hetsim.cli.dashboard_report import web_extra_installed

    if web_extra_installed():
        from hetsim.web.report import write_analysis_html

        write_analysis_html(r, hw, prec.compute.name, out / ANALYSIS_HTML)
    res = run_h2m2(out / "h2m2")
    met = sum(t["met"] for t in res["targets"])
    console.print(f"H2M2 reproduction: {met}/{len(res['targets'])} targets met, see {out}/h2m2/report.md")
    console.print(f"report written to {out}/")
