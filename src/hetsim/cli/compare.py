"""`hetsim compare`: several systems, models and data types on one workload, side by side.

Every row is one call of :func:`hetsim.analyze` (the same path as `hetsim analyze`); this
module only builds the combinations and renders them as a table, JSON, CSV or a bar plot.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Any

import typer

from hetsim.cli.common import app, console, print_json
from hetsim.cli.outputs import ForceOption, check_plot_path
from hetsim.errors import ConfigError
from hetsim.options import BY_NAME
from hetsim.units import fmt_time


def _split(values: list[str] | None, default: str, option: str) -> list[str]:
    """``--x a,b --x c`` -> [a, b, c] (order kept, duplicates dropped)."""
    out: list[str] = []
    for v in values or [default]:
        for part in v.split(","):
            part = part.strip()
            if not part:
                raise ConfigError(f"{option}: empty name in {v!r}; separate names with commas")
            if part not in out:
                out.append(part)
    return out


def rows_csv(rows: list[dict[str, Any]]) -> str:
    from hetsim.api.analysis import BAND_COLUMNS, COMPARE_COLUMNS

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=(*COMPARE_COLUMNS, *BAND_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def render_rows(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    r0 = rows[0]
    t = Table(
        title=f"batch {r0['batch']}, {r0['input_len']}+{r0['output_len']} tokens, "
        f"tp {r0['tp']} x pp {r0['pp']}",
        title_justify="left",
    )
    for col in ("model", "hardware", "precision", "TTFT", "TPOT", "tok/s", "J/token", "MBU", "MFU", "fits"):
        t.add_column(col, justify="left" if col in ("model", "hardware", "precision") else "right")
    best = max((r["output_throughput_tok_per_s"] or 0.0) for r in rows)
    for r in rows:
        if r["ttft_s"] is None:
            gb = r["footprint_bytes"] / 1e9
            t.add_row(r["model"], r["hardware"], r["precision"], f"needs {gb:,.1f} GB", *["-"] * 5,
                      "[red]no[/]")  # fmt: skip
            continue
        tput = f"{r['output_throughput_tok_per_s']:,.1f}"
        tput = f"[bold]{tput}[/]" if r["output_throughput_tok_per_s"] == best else tput
        t.add_row(
            r["model"], r["hardware"], r["precision"], fmt_time(r["ttft_s"]) + _band(r, "ttft_s", fmt_time),
            fmt_time(r["tpot_s"]) + _band(r, "tpot_s", fmt_time),
            tput + _band(r, "output_throughput_tok_per_s", lambda x: f"{x:,.0f}"),
            f"{r['energy_j_per_token']:.3f}", f"{r['mbu']:.1%}", f"{r['mfu']:.1%}",
            "yes" if r["fits"] else "[red]no[/]",
        )  # fmt: skip
    console.print(t)
    if any(r.get("ttft_s_lo") is not None for r in rows):
        unvalidated = any(r["ttft_s_lo"] is not None and not r["band_validated"] for r in rows)
        console.print("bands: 80% of held-out measurements of each prediction's regime fall in lo-hi"
                      + ("; * marks a regime without held-out rows of its own (a wider, borrowed band)"
                         if unvalidated else ""))  # fmt: skip
    # which knobs priced each system (the rule and knobs are in `hetsim analyze`'s notes)
    seen = dict.fromkeys((r["hardware"], r["calibration"]) for r in rows)
    console.print("calibration: " + "; ".join(f"{hw}: {cal}" for hw, cal in seen))


def _band(r: dict[str, Any], m: str, fmt: Any) -> str:
    lo, hi = r.get(f"{m}_lo"), r.get(f"{m}_hi")
    if lo is None or hi is None:
        return ""
    return f"\n[dim]{fmt(lo)}-{fmt(hi)}{'' if r['band_validated'] else '*'}[/]"


def _help(name: str) -> str:
    return BY_NAME[name].help


@app.command("compare")
def compare_cmd(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model preset(s) or file(s); repeat or separate with commas."),
    ] = None,
    hardware: Annotated[
        list[str] | None,
        typer.Option(
            "--hardware",
            "-H",
            help="Hardware preset(s), file(s) or compositions (rtx-4090+xeon-8480x2); repeat or use commas.",
        ),
    ] = None,
    weight_dtype: Annotated[
        list[str] | None,
        typer.Option(help="Weight type(s) to compare; repeat or use commas. " + _help("weight_dtype")),
    ] = None,
    act_dtype: Annotated[str | None, typer.Option(help=_help("act_dtype"))] = None,
    kv_dtype: Annotated[str | None, typer.Option(help=_help("kv_dtype"))] = None,
    gemm_dtype: Annotated[str | None, typer.Option(help=_help("gemm_dtype"))] = None,
    weight_group: Annotated[int | None, typer.Option(help=_help("weight_group"))] = None,
    tp: Annotated[int, typer.Option(help=_help("tp") + " (every system)")] = 1,
    pp: Annotated[int, typer.Option(help=_help("pp") + " (every system)")] = 1,
    batch: Annotated[int, typer.Option("--batch", "-b", help=_help("batch"))] = 1,
    input_len: Annotated[int, typer.Option("--input-len", "-p", help=_help("input_len"))] = 512,
    output_len: Annotated[int, typer.Option("--output-len", "-g", help=_help("output_len"))] = 128,
    policy: Annotated[str, typer.Option(help=_help("policy"))] = "auto",
    static_placement: Annotated[
        bool, typer.Option("--static-placement", help="Place once for the full length (no re-map).")
    ] = False,
    attention: Annotated[str, typer.Option(help=_help("attention"))] = "fused",
    overlap: Annotated[str, typer.Option(help=_help("overlap"))] = "max",
    framework: Annotated[str | None, typer.Option(help=_help("framework"))] = None,
    ignore_capacity: Annotated[
        bool, typer.Option("--ignore-capacity", help="Give figures for rows that do not fit too.")
    ] = False,
    uncalibrated: Annotated[
        bool,
        typer.Option("--uncalibrated", help="Price with the datasheet roofline (no calibrated kernels)."),
    ] = False,
    ep: Annotated[int, typer.Option("--ep", help=_help("ep"))] = 1,
    dp_attention: Annotated[bool, typer.Option("--dp-attention", help=_help("dp_attention"))] = False,
    ep_skew: Annotated[float | None, typer.Option("--ep-skew", help=_help("ep_skew"))] = None,
    ep_redundant: Annotated[int, typer.Option(help=_help("ep_redundant"))] = 0,
    ep_shared_devices: Annotated[int, typer.Option(help=_help("ep_shared_devices"))] = 0,
    spec: Annotated[str | None, typer.Option("--spec", help=_help("spec"))] = None,
    interleave: Annotated[int, typer.Option(help=_help("interleave"))] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Bar plot of TTFT, TPOT, throughput, energy per token.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Compare systems (and/or models, weight types) on one workload: TTFT, TPOT, throughput,
    energy per token, MBU and MFU per combination. Every option of `hetsim analyze` applies
    (to every row)."""
    from hetsim.api.analysis import compare

    if as_json and as_csv:
        raise ConfigError("choose one of --json and --csv")
    if plot is not None:
        check_plot_path(plot, force)
    rows = compare(
        _split(model, "llama2-7b", "--model"),
        _split(hardware, "a100-80gb-sxm", "--hardware"),
        _split(weight_dtype, "", "--weight-dtype") if weight_dtype else [None],
        act_dtype=act_dtype, kv_dtype=kv_dtype, gemm_dtype=gemm_dtype, weight_group=weight_group,
        tp=tp, pp=pp, batch=batch, input_len=input_len, output_len=output_len, policy=policy,
        dynamic=not static_placement, attention=attention, overlap=overlap, framework=framework,
        ignore_capacity=ignore_capacity, calibrated=not uncalibrated, ep=ep, dp_attention=dp_attention,
        ep_redundant=ep_redundant, ep_shared_devices=ep_shared_devices, spec=spec, interleave=interleave,
        **({} if ep_skew is None else {"ep_skew": ep_skew}),
    )  # fmt: skip
    if plot is not None:
        from hetsim.report.compare import plot_compare

        plot_compare(rows, plot)
    if as_json:
        print_json(rows)
    elif as_csv:
        typer.echo(rows_csv(rows), nl=False)
    else:
        render_rows(rows)
        if plot is not None:
            console.print(f"comparison plot written to {plot}")
