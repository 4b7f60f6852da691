"""`hetsim demo`: the main job on built-in defaults, writing its report under ``out/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hetsim.cli.analyze import render, result_json
from hetsim.cli.common import app, console
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze
from hetsim.workload.dtypes import Precision


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the report and plots.")] = Path("out"),
) -> None:
    """Run the main job on built-in defaults: a representative analysis (llama2-70b on
    4x h100-sxm) and the H2M2 reproduction, writing reports and plots under OUT."""
    out.mkdir(parents=True, exist_ok=True)
    prec = Precision()
    hw = get_hardware("h100-sxm")
    r = analyze("llama2-70b", hw, Workload(64, 2048, 2048), prec, tp=4, check_fit=True)
    render(r)
    (out / "analyze-llama2-70b-4xh100.json").write_text(json.dumps(result_json(r), indent=2))
    from hetsim.report.roofline import plot_roofline

    plot_roofline(r, hw, prec, out / "roofline-llama2-70b-4xh100.png")
    from hetsim.cli.web import web_extra_installed

    if web_extra_installed():
        from hetsim.web.report import write_analysis_html

        write_analysis_html(r, hw, prec.compute.name, out / "analyze-llama2-70b-4xh100.html")
    from hetsim.cli.reproduce import run_h2m2

    res = run_h2m2(out / "h2m2")
    met = sum(t["met"] for t in res["targets"])
    console.print(f"H2M2 reproduction: {met}/{len(res['targets'])} targets met, see {out}/h2m2/report.md")
    console.print(f"report written to {out}/")
