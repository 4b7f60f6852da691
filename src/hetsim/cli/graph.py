"""`hetsim analyze --model FILE.onnx`: ingest a graph, price one pass, render the result."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table

from hetsim.api.analysis import ClassShare, GraphResult, IngestedGraph, Overlap, article_check
from hetsim.api.lookup import Device, Precision
from hetsim.cli.common import console, print_json
from hetsim.units import fmt_bytes, fmt_time


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """What the command line asks of an ONNX model."""

    model: str
    input_shapes: tuple[str, ...]
    batch: int
    seq_len: int
    fuse: str
    unknown_op: str = "unpriced"  # operators hetsim does not know: unpriced, zero or refuse


def ingest(req: GraphRequest) -> IngestedGraph:
    """The ingested (and fused) graph of ``req``."""
    from hetsim.api.analysis import check_fuse, fuse, ingest_onnx, parse_input_shapes, resolve_model_file

    mode = check_fuse(req.fuse)
    shapes = parse_input_shapes(list(req.input_shapes))
    g = ingest_onnx(
        resolve_model_file(req.model), shapes, batch=req.batch, seq_len=req.seq_len, unknown_op=req.unknown_op
    )
    return fuse(g, mode)


def run_graph(
    req: GraphRequest,
    dev: Device,
    prec: Precision,
    overlap: Overlap,
    *,
    as_json: bool,
    as_csv: bool,
    plot: Path | None,
    policy: str = "auto",
) -> None:
    from hetsim.api.analysis import analyze_graph

    result = analyze_graph(ingest(req), dev, prec, overlap=overlap, policy=policy)
    if plot is not None:
        from hetsim.report.graph_roofline import plot_graph_roofline

        plot_graph_roofline(result, dev, prec, plot)
    if as_json:
        d = result.to_dict()
        d["article_check"] = article_check(result.classes)
        print_json(d)
    elif as_csv:
        typer.echo(graph_csv(result), nl=False)
    else:
        render_graph(result)
        if plot is not None:
            console.print(f"roofline plot written to {plot}")


def graph_csv(r: GraphResult) -> str:
    buf = io.StringIO()
    keys: tuple[str, ...] = ("name", "sublayer", "kind", "unit", "flop", "bytes", "weight_bytes")
    keys = (
        *keys,
        "kv_bytes",
        "act_bytes",
        "intensity",
        "time_s",
        "compute_s",
        "memory_s",
        "energy_j",
        "bound",
    )
    w = csv.writer(buf)
    w.writerow(["op", "class", "op_type", *keys[3:]])
    for op in r.ops:
        w.writerow([getattr(op, k) for k in keys])
    return buf.getvalue()


def render_graph(r: GraphResult, top: int = 15) -> None:
    shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in r.inputs.items())
    head = Table(
        title=f"{r.model} on {r.hardware}  ({r.precision}, batch {r.batch}, fuse {r.fuse}; {shapes})",
        show_header=False,
        title_justify="left",
    )
    head.add_column(style="bold")
    head.add_column()
    fit = "[green]yes[/]" if r.fits else "[red]no[/]"
    for k, v in (
        ("parameters", f"{r.params / 1e6:,.2f} M  ({fmt_bytes(r.weight_bytes)} of weights)"),
        (
            "work per pass",
            f"{r.macs / 1e9:,.3f} GMACs, {r.flop / 1e9:,.3f} GFLOP, {fmt_bytes(r.bytes)} moved",
        ),
        ("footprint", f"{fmt_bytes(r.footprint_bytes)} of {fmt_bytes(r.capacity_bytes)}  fits: {fit}"),
        ("latency per pass / per item", f"{fmt_time(r.latency_s)} / {fmt_time(r.latency_per_item_s)}"),
        ("throughput", f"{r.throughput_items_per_s:,.1f} items/s"),
        ("MFU / MBU", f"{r.mfu:.1%} / {r.mbu:.1%}"),
        ("energy per item / avg power", f"{r.energy_j_per_item:.4f} J / {r.avg_power_w:,.0f} W"),
    ):
        head.add_row(k, v)
    console.print(head)
    render_classes(r.classes)
    t = Table(title=f"top {top} ops by time (of {len(r.ops)})", title_justify="left")
    for col in ("op", "type", "class", "time", "share", "GFLOP", "MB", "flop/B", "bound"):
        t.add_column(col, justify="left" if col in ("op", "type", "class", "bound") else "right")
    for o in sorted(r.ops, key=lambda o: -o.time_s)[:top]:
        t.add_row(
            o.name[:48],
            o.kind[:24],
            o.sublayer,
            fmt_time(o.time_s),
            f"{o.time_s / r.latency_s:.1%}",
            f"{o.flop / 1e9:,.3f}",
            f"{o.bytes / 1e6:,.2f}",
            f"{o.intensity:,.1f}",
            o.bound,
        )
    console.print(t)
    for u in r.unsupported:
        console.print(
            f"[yellow]unpriced:[/] {u.op_type} x{u.count} ({u.node_share:.1%} of ops, "
            f"{u.byte_share:.1%} of bytes; flop unknown)",
            markup=True,
            highlight=False,
        )
    for note in r.notes:
        console.print(f"[yellow]note:[/] {note}")


def render_classes(classes: list[ClassShare], title: str = "operator classes") -> None:
    t = Table(title=title, title_justify="left")
    for col in ("class", "ops", "GFLOP", "MB", "time", "share"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for c in classes:
        t.add_row(
            c.op_class,
            str(c.n_ops),
            f"{c.flop / 1e9:,.3f}",
            f"{c.bytes / 1e6:,.1f}",
            fmt_time(c.time_s),
            f"{c.time_share:.1%}",
        )
    console.print(t)
    chk = article_check(classes)

    def x(key: str, fmt: str, none: str) -> str:
        v = chk[key]
        return none if v is None else f"{v:{fmt}}x"

    console.print(
        "article check (normalisation + elementwise time / matmul time; matmul flop over each): "
        f"{x('time_norm_plus_elementwise_over_matmul', '.2f', 'no matmul time')} time, "
        f"{x('flop_matmul_over_normalisation', ',.0f', 'no normalisation flop')} / "
        f"{x('flop_matmul_over_elementwise', ',.0f', 'no elementwise flop')} flop "
        "(claimed: ~1.4x time at 250x / 700x fewer flop, in the co-design article 'How to co-design "
        "software/hardware architecture for AI/ML in a new era?', after Ivanov et al., 'Data movement "
        "is all you need', MLSys 2021)"
    )
