"""`hetsim whatif`: quantisation (weights, activations, KV separately) and fusion what-ifs
side by side, plus the operator-class breakdown, for a builder LLM or an ONNX graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from hetsim.cli.common import app, console, positive, print_json
from hetsim.units import fmt_bytes, fmt_time

if TYPE_CHECKING:  # imported inside the command, so that start-up stays fast
    from hetsim.api.analysis import WhatIf


@app.command("whatif")
def whatif_cmd(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Preset, config.json, or FILE.onnx.")
    ] = "resnet50.onnx",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Hardware preset or YAML.")] = "h100-sxm",
    batch: Annotated[int, typer.Option("--batch", "-b", help="Batch (images, or sequences).")] = 1,
    input_len: Annotated[int, typer.Option("--input-len", "-p", help="LLMs: prompt tokens.")] = 512,
    output_len: Annotated[int, typer.Option("--output-len", "-g", help="LLMs: generated tokens.")] = 128,
    tp: Annotated[int, typer.Option(help="LLMs: tensor-parallel devices.")] = 1,
    input_shape: Annotated[
        list[str] | None, typer.Option("--input-shape", help="ONNX: bind an input, NAME=1x3x224x224.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Quantisation and fusion what-ifs side by side (the co-design method's section 4)."""
    from hetsim.api.analysis import whatif as w
    from hetsim.api.lookup import Precision, get_hardware
    from hetsim.cli.graph import GraphRequest, ingest, render_classes

    for value, name in ((batch, "batch"), (input_len, "input-len"), (output_len, "output-len"), (tp, "tp")):
        positive(value, name)
    dev = get_hardware(hardware)
    out: dict[str, object] = {"model": model, "hardware": dev.name}
    if model.lower().endswith(".onnx"):
        graph = ingest(GraphRequest(model, tuple(input_shape or ()), batch, input_len, "none"))
        quant = w.graph_quant_whatifs(graph, dev)
        fusion = w.graph_fusion_whatifs(graph, dev, Precision())
        from hetsim.api.analysis import analyze_graph

        classes = {"operator classes": analyze_graph(graph, dev).classes}
        out.update(quantisation=quant, fusion=fusion, classes=classes["operator classes"])
        kind = "graph"
    else:
        from hetsim.api.analysis import Workload
        from hetsim.api.lookup import get_model

        spec, work = get_model(model), Workload(batch, input_len, output_len)
        quant = w.llm_quant_whatifs(spec, dev, work, tp=tp)
        fusion = w.llm_attention_whatifs(spec, dev, work, tp=tp)
        classes = w.llm_classes(spec, dev, work, tp=tp)
        kind = "llm"
        out.update(quantisation=quant, fusion=fusion, classes=classes)
    if as_json:
        print_json(_plain(out))
        return
    _table(f"quantisation what-ifs: {model} on {dev.name}, batch {batch}", quant, kind)
    _table("fusion what-ifs (fp16)", fusion, kind)
    for title, shares in classes.items():
        render_classes(shares, title)


def _table(title: str, rows: list[WhatIf], kind: str) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("metric", style="bold")
    for r in rows:
        t.add_column(r.label, justify="right")
    metrics: list[tuple[str, Callable[[WhatIf], str]]]
    if kind == "graph":
        metrics = [
            ("latency per pass", lambda r: fmt_time(r.latency_s)),
            ("throughput (items/s)", lambda r: f"{r.throughput_per_s:,.1f}"),
        ]
    else:
        metrics = [
            ("TTFT", lambda r: fmt_time(r.first_s)),
            ("TPOT", lambda r: fmt_time(r.latency_s)),
            ("output tok/s", lambda r: f"{r.throughput_per_s:,.1f}"),
        ]
    metrics += [
        ("MFU / MBU", lambda r: f"{r.mfu:.1%} / {r.mbu:.1%}"),
        (
            "energy per item (J)" if kind == "graph" else "energy per token (J)",
            lambda r: f"{r.energy_j_per_item:.4f}",
        ),
        ("weights", lambda r: fmt_bytes(r.weight_bytes)),
        ("footprint (fits)", lambda r: f"{fmt_bytes(r.footprint_bytes)} ({'yes' if r.fits else 'no'})"),
    ]
    for name, fn in metrics:
        t.add_row(name, *(fn(r) for r in rows))
    console.print(t)


def _plain(obj: object) -> object:
    """Records to JSON-ready dicts and lists, at any depth."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj
