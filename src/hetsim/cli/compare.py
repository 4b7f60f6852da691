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

from hetsim.cli.common import app, console, positive, print_json
from hetsim.cli.outputs import ForceOption, check_plot_path
from hetsim.errors import ConfigError
from hetsim.units import fmt_time

COLUMNS = (
    "model", "hardware", "calibration", "precision", "tp", "pp", "batch", "input_len", "output_len", "fits",
    "ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token",
    "mbu", "mfu", "footprint_bytes",
)  # fmt: skip
METRICS = ("ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token",
           "mbu", "mfu")  # fmt: skip
# the uncertainty band of each banded figure (hetsim.analysis.uncertainty): <figure>_lo, <figure>_hi
BANDED = ("ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token")
BAND_COLUMNS = (*(f"{m}_{end}" for m in BANDED for end in ("lo", "hi")), "band_validated")
MAX_ROWS = 64


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


def compare_rows(
    models: list[str],
    hardware: list[str],
    dtypes: list[str],
    *,
    tp: int,
    pp: int,
    batch: int,
    input_len: int,
    output_len: int,
    ignore_capacity: bool,
) -> list[dict[str, Any]]:
    """One row (the :data:`COLUMNS`) per model x hardware x weight type. A combination that
    does not fit in memory keeps its row with ``fits: false`` and no figures (None), unless
    ``ignore_capacity``, which reports its figures anyway."""
    from hetsim.analysis.checks import check_result
    from hetsim.hardware.loader import get_hardware
    from hetsim.sim.inference import Workload, analyze
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.registry import get_model

    n = len(models) * len(hardware) * len(dtypes)
    if n > MAX_ROWS:
        raise ConfigError(f"{n} combinations requested; compare at most {MAX_ROWS} at once")
    specs = [get_model(m) for m in models]
    devices = [get_hardware(h) for h in hardware]
    precs = [Precision.of(d) for d in dtypes]
    w = Workload(batch, input_len, output_len)
    rows = []
    for spec in specs:
        for dev in devices:
            for prec in precs:
                d = check_result(analyze(spec, dev, w, prec, tp=tp, pp=pp)).to_dict()
                row = {k: d[k] for k in COLUMNS}
                bands = d.get("bands", {})
                for m in BANDED:
                    b = bands.get(m)
                    row[f"{m}_lo"], row[f"{m}_hi"] = (b["lo"], b["hi"]) if b else (None, None)
                row["band_validated"] = all(b["validated"] for b in bands.values()) if bands else False
                if not row["fits"] and not ignore_capacity:  # no figures for a run that cannot happen
                    row.update({k: None for k in (*METRICS, *BAND_COLUMNS[:-1])})
                rows.append(row)
    return rows


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=(*COLUMNS, *BAND_COLUMNS), lineterminator="\n")
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
        list[str] | None, typer.Option(help="Weight type(s): fp32, bf16, fp16, fp8, int8, int4.")
    ] = None,
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices (every system).")] = 1,
    pp: Annotated[int, typer.Option(help="Pipeline-parallel stages (every system).")] = 1,
    batch: Annotated[int, typer.Option("--batch", "-b", help="Sequences in the static batch.")] = 1,
    input_len: Annotated[int, typer.Option("--input-len", "-p", help="Prompt tokens per sequence.")] = 512,
    output_len: Annotated[
        int, typer.Option("--output-len", "-g", help="Generated tokens per sequence.")
    ] = 128,
    ignore_capacity: Annotated[
        bool, typer.Option("--ignore-capacity", help="Give figures for rows that do not fit too.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Bar plot of TTFT, TPOT, throughput, energy per token.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Compare systems (and/or models, weight types) on one workload: TTFT, TPOT, throughput,
    energy per token, MBU and MFU per combination."""
    if as_json and as_csv:
        raise ConfigError("choose one of --json and --csv")
    for value, name in ((tp, "tp"), (pp, "pp"), (batch, "batch"), (input_len, "input-len"),
                        (output_len, "output-len")):  # fmt: skip
        positive(value, name)
    if plot is not None:
        check_plot_path(plot, force)
    rows = compare_rows(
        _split(model, "llama2-7b", "--model"),
        _split(hardware, "a100-80gb-sxm", "--hardware"),
        _split(weight_dtype, "fp16", "--weight-dtype"),
        tp=tp, pp=pp, batch=batch, input_len=input_len, output_len=output_len,
        ignore_capacity=ignore_capacity,
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
