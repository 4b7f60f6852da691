"""`hetsim analyze` (`models` and `hardware`, the preset listings: :mod:`hetsim.cli.models_hardware`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hetsim.cli.common import app, console, print_json
from hetsim.cli.outputs import ForceOption, check_plot_path
from hetsim.cli.parallel_options import (
    DpAttentionOption,
    EpOption,
    EpSkewOption,
    SpecOption,
)
from hetsim.errors import ConfigError
from hetsim.options import BY_NAME, AnalysisOptions
from hetsim.units import fmt_bytes, fmt_time

if TYPE_CHECKING:  # imported inside the commands, so that start-up stays fast
    from hetsim.api.analysis import AnalysisResult

SUMMARY_KEYS = (
    "params",
    "weight_bytes",
    "kv_bytes_per_token",
    "footprint_bytes",
    "fits",
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "output_throughput_tok_per_s",
    "mbu",
    "mfu",
    "energy_j_per_token",
    "avg_power_w",
)


def _help(name: str) -> str:
    return BY_NAME[name].help


@app.command("analyze")
def analyze_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help=_help("model"))] = "llama2-7b",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help=_help("hardware"))] = "a100-80gb-sxm",
    tp: Annotated[int, typer.Option(help=_help("tp"))] = 1,
    pp: Annotated[int, typer.Option(help=_help("pp"))] = 1,
    batch: Annotated[int, typer.Option("--batch", "-b", help=_help("batch"))] = 1,
    input_len: Annotated[int, typer.Option("--input-len", "-p", help=_help("input_len"))] = 512,
    output_len: Annotated[
        int | None, typer.Option("--output-len", "-g", help=_help("output_len") + " (default 128)")
    ] = None,
    weight_dtype: Annotated[str | None, typer.Option(help=_help("weight_dtype"))] = None,
    act_dtype: Annotated[str | None, typer.Option(help=_help("act_dtype"))] = None,
    kv_dtype: Annotated[str | None, typer.Option(help=_help("kv_dtype"))] = None,
    gemm_dtype: Annotated[str | None, typer.Option(help=_help("gemm_dtype"))] = None,
    weight_group: Annotated[int | None, typer.Option(help=_help("weight_group"))] = None,
    attention: Annotated[str, typer.Option(help=_help("attention"))] = "fused",
    overlap: Annotated[str, typer.Option(help=_help("overlap"))] = "max",
    ignore_capacity: Annotated[
        bool, typer.Option("--ignore-capacity", help=_help("ignore_capacity"))
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the per-operator table as CSV.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a roofline plot (PNG) of the operators.")] = None,
    policy: Annotated[str, typer.Option(help=_help("policy"))] = "auto",
    static_placement: Annotated[
        bool, typer.Option("--static-placement", help="Place once for the full length (no re-map).")
    ] = False,
    plot_tiers: Annotated[
        Path | None, typer.Option(help="Write a memory-tier timeline of the decode (PNG/SVG/PDF).")
    ] = None,
    framework: Annotated[str | None, typer.Option(help=_help("framework"))] = None,
    uncalibrated: Annotated[
        bool,
        typer.Option("--uncalibrated", help="Price with the datasheet roofline (no calibrated kernels)."),
    ] = False,
    force: ForceOption = False,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="ONNX models: bind an input, NAME=1x3x224x224 (repeatable)."),
    ] = None,
    fuse: Annotated[
        str, typer.Option(help="ONNX models: kernel fusion what-if: none, elementwise, attention or all.")
    ] = "none",
    unknown_op: Annotated[
        str,
        typer.Option(help="ONNX models: operators hetsim does not know: unpriced (listed), zero or refuse."),
    ] = "unpriced",
    ep: EpOption = 1,
    dp_attention: DpAttentionOption = False,
    ep_skew: EpSkewOption = None,
    ep_redundant: Annotated[int, typer.Option(help=_help("ep_redundant"))] = 0,
    ep_shared_devices: Annotated[int, typer.Option(help=_help("ep_shared_devices"))] = 0,
    spec: SpecOption = None,
    interleave: Annotated[int, typer.Option(help=_help("interleave"))] = 1,
) -> None:
    """Predict latency, throughput, utilisation and energy of one static-batch run (LLMs), or
    of one pass of an ONNX graph (--model FILE.onnx: per item, at --batch)."""
    from hetsim.api.analysis import run_analysis

    if as_json and as_csv:
        raise ConfigError("choose one of --json and --csv")
    graph_policy = None
    if model.lower().endswith(".onnx"):  # --tp, --pp and --policy: honoured or refused, by name
        from hetsim.api.analysis import check_graph_options

        graph_policy = check_graph_options(tp, pp, policy)
        if interleave != 1:
            raise ConfigError("--interleave applies to LLM runs, not to an ONNX graph's one pass; drop it")
    opts = AnalysisOptions(
        model=model, hardware=hardware, batch=batch, input_len=input_len,
        output_len=128 if output_len is None else output_len, weight_dtype=weight_dtype, act_dtype=act_dtype,
        kv_dtype=kv_dtype, gemm_dtype=gemm_dtype, weight_group=weight_group, tp=tp, pp=pp, policy=policy,
        dynamic=not static_placement, attention=attention, overlap=overlap, framework=framework,
        ignore_capacity=ignore_capacity, calibrated=not uncalibrated, ep=ep, dp_attention=dp_attention,
        ep_redundant=ep_redundant, ep_shared_devices=ep_shared_devices, spec=spec, interleave=interleave,
        **({} if ep_skew is None else {"ep_skew": ep_skew}),
    )  # fmt: skip
    for flag, path in (("--plot", plot), ("--plot-tiers", plot_tiers)):
        if path is not None:
            check_plot_path(path, force, flag)
    if plot is not None and plot == plot_tiers:
        raise ConfigError("--plot and --plot-tiers name the same file; give two names")
    if graph_policy is not None:
        _analyze_graph(opts, graph_policy, output_len is not None, plot_tiers is not None, input_shape, fuse,
                       unknown_op, as_json=as_json, as_csv=as_csv, plot=plot)  # fmt: skip
        return
    if input_shape or fuse != "none" or unknown_op != "unpriced":
        raise ConfigError("--input-shape, --fuse and --unknown-op apply to ONNX models (--model FILE.onnx)")
    result = run_analysis(opts)
    dev, prec = opts.device(), opts.precision()
    if plot_tiers is not None:
        from hetsim.report.tiers import plot_tiers as draw_tiers

        draw_tiers(result, plot_tiers)
    if plot is not None:
        from hetsim.report.roofline import plot_roofline

        plot_roofline(result, dev, prec, plot)
    if as_json:
        print_json(result_json(result))
    elif as_csv:
        typer.echo(ops_csv(result), nl=False)
    else:
        render(result)
        if plot is not None:
            console.print(f"roofline plot written to {plot}")
        if plot_tiers is not None:
            console.print(f"memory-tier timeline written to {plot_tiers}")


def result_json(r: AnalysisResult) -> dict[str, object]:
    d = r.to_dict()
    head = ("model", "hardware", "calibration", "precision", "tp", "pp", "batch", "input_len", "output_len")
    ordered = {k: d[k] for k in (*head, "policy")}
    ordered.update({k: d[k] for k in SUMMARY_KEYS})
    ordered.update({k: v for k, v in d.items() if k not in ordered})
    return ordered


def ops_csv(r: AnalysisResult) -> str:
    buf = io.StringIO()
    keys = (
        "phase",
        "name",
        "sublayer",
        "kind",
        "unit",
        "count",
        "flop",
        "bytes",
        "weight_bytes",
        "kv_bytes",
        "act_bytes",
        "intensity",
        "time_s",
        "compute_s",
        "memory_s",
        "energy_j",
        "bound",
        "data",
        "compute",
        "route",
    )
    w = csv.writer(buf)
    w.writerow(keys)
    for op in r.ops:
        w.writerow([getattr(op, k) for k in keys])
    return buf.getvalue()


def render(r: AnalysisResult) -> None:
    from rich.table import Table

    from hetsim.api.analysis import band_range

    head = Table(
        title=(
            f"{r.model} on {r.tp * r.pp}x {r.hardware}  ({r.precision}, batch {r.batch}, "
            f"{r.input_len}+{r.output_len} tokens)"
        ),
        show_header=False,
        title_justify="left",
    )
    head.add_column(style="bold")
    head.add_column()
    fit = "[green]yes[/]" if r.fits else "[red]no[/]"
    # fits: the chosen placement fits the whole device; the capacity is every side's together
    over = [s for s in r.sides if not s.fits]
    where = f" ({len(r.sides)} memory sides)" if len(r.sides) > 1 else ""
    if over and len(r.sides) > 1:
        held = [
            f"{s.name} holds {fmt_bytes(s.resident_bytes)} of {fmt_bytes(s.capacity_bytes)}" for s in over
        ]
        fit += " — " + ", ".join(held)
    rows = [
        ("parameters", f"{r.params / 1e9:.2f} B  ({fmt_bytes(r.weight_bytes)} of weights)"),
        ("KV cache per token", fmt_bytes(r.kv_bytes_per_token)),
        (
            "footprint per device",
            f"{fmt_bytes(r.footprint_bytes)} of {fmt_bytes(r.capacity_bytes)}{where}  fits: {fit}",
        ),
        ("TTFT", fmt_time(r.ttft_s) + band_range(r.bands, "ttft_s", fmt_time)),
        ("TPOT", fmt_time(r.tpot_s) + band_range(r.bands, "tpot_s", fmt_time)),
        ("end-to-end", fmt_time(r.e2e_latency_s) + band_range(r.bands, "e2e_latency_s", fmt_time)),
        (
            "output throughput",
            f"{r.output_throughput_tok_per_s:,.1f} tok/s"
            + band_range(r.bands, "output_throughput_tok_per_s", lambda x: f"{x:,.1f}"),
        ),
        ("MBU (decode) / MFU (prefill)", f"{r.mbu:.1%} / {r.mfu:.1%}"),
        ("energy per token / avg power", f"{r.energy_j_per_token:.3f} J / {r.avg_power_w:,.0f} W"),
        ("  band (energy, power)", _energy_bands(r, band_range)),
        ("calibration", r.calibration),
    ]
    for k, v in rows:
        head.add_row(k, v)
    head.add_row("placement", f"{r.policy}  ({r.policy_reason})" if r.policy_reason else r.policy)
    if r.prefill.limit or r.decode.limit:
        head.add_row("limited by", f"prefill: {r.prefill.limit or '-'}; decode step: {r.decode.limit or '-'}")
    console.print(head)
    multi = len(r.sides) > 1
    if multi:
        render_sides(r)
    for phase, label in (("prefill", "prefill (whole batch)"), ("decode", "decode step (mean)")):
        t = Table(title=label, title_justify="left")
        cols: tuple[str, ...] = ("op", "unit", "time", "share", "GFLOP", "MB", "flop/B", "bound")
        if multi:
            cols = (*cols, "data on", "runs on")
        for col in cols:
            t.add_column(
                col, justify="right" if col in ("time", "share", "GFLOP", "MB", "flop/B") else "left"
            )
        ops = [o for o in r.ops if o.phase == phase]
        total = sum(o.time_s for o in ops) or 1.0
        for o in ops:
            cells = [
                o.name,
                o.unit,
                fmt_time(o.time_s),
                f"{o.time_s / total:.1%}",
                f"{o.flop / 1e9:,.1f}",
                f"{o.bytes / 1e6:,.1f}",
                f"{o.intensity:,.1f}",
                o.limit if multi and o.limit else o.bound,  # the resource, where there are several
            ]
            if multi:
                cells += [o.data or "-", o.compute or "-"]
            t.add_row(*cells)
        console.print(t)
    for note in r.notes:
        console.print(f"[yellow]note:[/] {note}")


def _energy_bands(r: AnalysisResult, band_range: Any) -> str:
    text = band_range(r.bands, "energy_j_per_token", lambda x: f"{x:.3f} J")
    text += band_range(r.bands, "avg_power_w", lambda x: f"{x:,.0f} W")
    return text.strip() or "-"


def render_sides(r: AnalysisResult) -> None:
    """Per-side and per-link totals of the run, and the re-maps of the decode."""
    from rich.table import Table

    t = Table(title="memory sides (whole run)", title_justify="left")
    for col in ("side", "memory", "holds (peak)", "of", "fits", "moved", "busy", "energy"):
        t.add_column(col, justify="left" if col in ("side", "memory", "fits") else "right")
    for s in r.sides:
        fit = "[green]yes[/]" if s.fits else "[red]no[/]"
        t.add_row(s.name, s.memory, fmt_bytes(s.resident_bytes), fmt_bytes(s.capacity_bytes), fit,
                  fmt_bytes(s.bytes_moved), fmt_time(s.busy_s), f"{s.energy_j:,.1f} J")  # fmt: skip
    console.print(t)
    routes = sorted({o.route for o in r.ops if o.route})
    for link in r.links:
        console.print(f"link {link.name}: {fmt_bytes(link.bytes)} over the run")
    for rt in routes:
        console.print(f"route: {rt}")
    for m in r.remaps:
        console.print(
            f"re-map at decode step {m.step} (context {m.context}): {m.change}; "
            f"migrated {fmt_bytes(m.migrated_bytes)} in {fmt_time(m.migration_s)}"
        )


def _analyze_graph(
    opts: AnalysisOptions,
    key: str,
    output_len: bool,
    plot_tiers: bool,
    input_shape: list[str] | None,
    fuse: str,
    unknown_op: str,
    *,
    as_json: bool,
    as_csv: bool,
    plot: Path | None,
) -> None:
    """One pass of an ONNX graph; the LLM-only options are refused by name."""
    from hetsim.cli.graph import GraphRequest, run_graph

    _refuse_llm_only({"--output-len": output_len, "--static-placement": not opts.dynamic,
                      "--plot-tiers": plot_tiers, "--framework": opts.framework is not None,
                      "--attention": opts.attention != "fused",
                      "--ignore-capacity": opts.ignore_capacity, "--ep": opts.ep != 1 or opts.dp_attention,
                      "--spec": opts.spec is not None})  # fmt: skip
    req = GraphRequest(
        str(opts.model), tuple(input_shape or ()), opts.batch, opts.input_len, fuse, unknown_op
    )
    run_graph(req, opts.device(), opts.precision(), "max" if opts.overlap == "max" else "sum",
              as_json=as_json, as_csv=as_csv, plot=plot, policy=key)  # fmt: skip


def _refuse_llm_only(given: dict[str, bool]) -> None:
    """An option that applies to LLMs only, given with an ONNX graph, is refused by name."""
    for flag, on in given.items():
        if on:
            raise ConfigError(
                f"{flag} applies to LLMs (a static batch generating tokens), not to an ONNX graph's "
                f"single pass; drop {flag}"
            )
