"""`hetsim models` and `hetsim hardware`: the preset listings."""

from __future__ import annotations

from typing import Annotated

import typer

from hetsim.cli.common import app, console, print_json
from hetsim.units import fmt_bytes


@app.command("models")
def models_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the model presets with their key numbers and the names that resolve to each (a
    Hugging Face repo id with or without its organisation and precision suffix also works)."""
    from rich.table import Table

    from hetsim.api.lookup import aliases_of, list_models

    models = list_models()
    if as_json:
        print_json(
            [
                {
                    "name": m.name,
                    "params": m.params,
                    "active_params": m.active_params,
                    "layers": m.n_layers,
                    "d_model": m.d_model,
                    "heads": m.n_heads,
                    "kv_heads": m.n_kv_heads,
                    "d_ff": m.d_ff,
                    "experts": m.n_experts,
                    "sliding_window": m.sliding_window,
                    "attention": m.attention_kind,
                    "layer_pattern": m.pattern,
                    "kv_bytes_per_token_fp16": 2 * m.kv_elements_per_token(),
                    "aliases": aliases_of(m.name),
                    "source": m.source,
                }
                for m in models
            ]
        )
        return
    t = Table(title="model presets")
    for col in (
        "name",
        "params",
        "layers",
        "d_model",
        "heads/kv",
        "attention",
        "FFN",
        "experts",
        "KV/token fp16",
        "aliases",
    ):
        t.add_column(col, no_wrap=col == "name")
    for m in models:
        experts = f"{m.n_experts} (top {m.experts_per_token})" if m.is_moe else "-"
        t.add_row(
            m.name,
            f"{m.params / 1e9:.2f} B",
            str(m.n_layers),
            str(m.d_model),
            f"{m.n_heads}/{m.n_kv_heads}",
            m.attention_kind
            + (f" {m.pattern}" if len(set(m.pattern)) > 1 else "")
            + (f" window {m.sliding_window}" if m.sliding_window else ""),
            f"{m.ffn} {m.d_ff}",
            experts,
            fmt_bytes(2 * m.kv_elements_per_token()),
            ", ".join(aliases_of(m.name)[:2]),
        )
    console.print(t)


@app.command("hardware")
def hardware_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the hardware presets with their key numbers."""
    from rich.table import Table

    from hetsim.api.lookup import list_hardware

    devices = list_hardware()
    if as_json:
        print_json(
            [
                {
                    "name": d.name,
                    "description": d.description,
                    "n_devices": d.n_devices,
                    "sides": [
                        {
                            "name": s.name,
                            "memory": s.memory.name,
                            "capacity_bytes": s.memory.capacity_bytes,
                            "bandwidth_bytes_per_s": s.memory.bandwidth_bytes_per_s,
                            "units": {u.name: dict(u.peak_flop_per_s) for u in s.units},
                        }
                        for s in d.sides
                    ],
                    "links": [
                        {
                            "between": [sl.a, sl.b],
                            "name": sl.link.name,
                            "bandwidth_bytes_per_s": sl.link.bandwidth_bytes_per_s,
                            "efficiency": sl.link.efficiency,
                        }
                        for sl in d.side_links()
                    ],
                    "sources": {k: str(v) for k, v in d.sources().items()},
                }
                for d in devices
            ]
        )
        return
    t = Table(title="hardware presets")
    for col in (
        "name",
        "memory (per side)",
        "bandwidth",
        "peak fp16 / int8 (matrix)",
        "link",
        "TDP",
    ):
        t.add_column(col)
    for d in devices:
        mem = " + ".join(f"{s.memory.name} {fmt_bytes(s.memory.capacity_bytes)}" for s in d.sides)
        bw = " + ".join(f"{s.memory.bandwidth_bytes_per_s / 1e12:.2f} TB/s" for s in d.sides)
        u = d.primary.unit_for("matrix")
        link = d.side_link or d.interconnect
        links = " + ".join(
            f"{sl.link.name} {sl.link.bandwidth_bytes_per_s / 1e9:,.1f} GB/s" for sl in d.links
        )
        name = d.name + (f" (x{d.n_devices})" if d.n_devices > 1 else "")
        t.add_row(
            name,
            mem,
            bw,
            f"{u.peak('fp16') / 1e12:,.0f} / {u.peak('int8') / 1e12:,.0f} T",
            links or (f"{link.name} {link.bandwidth_bytes_per_s / 1e9:,.0f} GB/s" if link else "-"),
            f"{d.tdp_w:,.0f} W" if d.tdp_w else "-",
        )
    console.print(t)
