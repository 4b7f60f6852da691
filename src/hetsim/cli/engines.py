"""``hetsim engines`` (also ``hetsim frameworks``): the engine records, each knob of the static
path (analyze --framework) and of batching (serve-sim --engine) with its value, provenance and
what it was fitted on."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from hetsim.cli.common import app, console, print_json


def _knobs(serving: object, provenance: dict[str, str]) -> dict[str, object]:
    """The profile's knobs: every field it sets away from the default, and every field its
    provenance names."""
    from hetsim.api.analysis import Serving

    base = Serving()
    out: dict[str, object] = {}
    for f in dataclasses.fields(Serving):
        value = getattr(serving, f.name)
        if value != getattr(base, f.name) or f.name in provenance:
            out[f.name] = list(value) if isinstance(value, tuple) else value
            if f.name == "allreduce":  # the engine's all-reduce: its algorithm and step latency
                step = f", {value.step_latency_s * 1e6:g} us a step" if value.step_latency_s else ""
                out[f.name] = f"{value.algorithm}{step}"
    return out


def _batching(cfg: object) -> dict[str, dict[str, object]]:
    """Every batching knob (serve-sim --engine) with its value and provenance."""
    prov: dict[str, str] = getattr(cfg, "provenance", {})
    return {
        f.name: {"value": getattr(cfg, f.name), "provenance": prov.get(f.name, "default")}
        for f in dataclasses.fields(cfg)  # type: ignore[arg-type]
        if f.name not in ("name", "provenance", "serving")  # serving: the record's static knobs
    }


@app.command("engines")
@app.command("frameworks", hidden=True)
def engines_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the engine records (analyze --framework NAME, serve-sim --engine NAME: the same names
    and aliases) with each knob's value, provenance and what it was fitted on."""
    from rich.table import Table

    from hetsim.api.lookup import ENGINES

    rows = [
        {
            "name": p.name,
            "aliases": list(p.aliases),
            "description": p.description,
            "matches": p.matches,
            "fitted_on": p.fitted_on,
            "knobs": {
                k: {"value": v, "provenance": p.provenance.get(k, "default")}
                for k, v in _knobs(p.serving, p.provenance).items()
            },
            "batching": _batching(p.batching),
        }
        for p in ENGINES
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="engine records (analyze --framework NAME, serve-sim --engine NAME)", show_lines=True)
    for col in ("engine", "knob", "value", "provenance"):
        table.add_column(col, overflow="fold")
    for p in ENGINES:
        knobs = {k: (v, p.provenance.get(k, "default")) for k, v in _knobs(p.serving, p.provenance).items()}
        for k, kv in _batching(p.batching).items():
            if kv["provenance"] != "default":
                knobs[f"serve-sim {k}"] = (kv["value"], str(kv["provenance"]))
        alias = f" ({', '.join(p.aliases)})" if p.aliases else ""
        for n, (k, (value, prov)) in enumerate(knobs.items()):
            name = f"{p.name}{alias}\nfitted on: {p.fitted_on}" if n == 0 else ""
            shown = f"{value:.3g}" if isinstance(value, float) else str(value)
            table.add_row(name, k, shown[:60], prov)
    console.print(table)
