"""``hetsim frameworks``: the serving-framework profiles, each knob with its value, provenance
and what it was fitted on."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from hetsim.cli.common import app, console, print_json


def _knobs(serving: object, provenance: dict[str, str]) -> dict[str, object]:
    """The profile's knobs: every field it sets away from the default, and every field its
    provenance names."""
    from hetsim.sim.inference import Serving

    base = Serving()
    out: dict[str, object] = {}
    for f in dataclasses.fields(Serving):
        value = getattr(serving, f.name)
        if value != getattr(base, f.name) or f.name in provenance:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


@app.command("frameworks")
def frameworks_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the serving-framework profiles (--framework NAME) with each knob's value,
    provenance and what it was fitted on."""
    from rich.table import Table

    from hetsim.sim.frameworks import PROFILES

    rows = [
        {
            "name": p.name,
            "matches": p.matches,
            "fitted_on": p.fitted_on,
            "knobs": {
                k: {"value": v, "provenance": p.provenance.get(k, "default")}
                for k, v in _knobs(p.serving, p.provenance).items()
            },
        }
        for p in PROFILES
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="framework profiles (analyze --framework NAME)", show_lines=True)
    for col in ("profile", "knob", "value", "provenance"):
        table.add_column(col, overflow="fold")
    for r in rows:
        knobs: dict[str, dict[str, object]] = r["knobs"]  # type: ignore[assignment]
        first = True
        for k, kv in knobs.items():
            name = f"{r['name']}\nfitted on: {r['fitted_on']}" if first else ""
            value = kv["value"]
            shown = f"{value:.3g}" if isinstance(value, float) else str(value)
            table.add_row(name, k, shown[:60], str(kv["provenance"]))
            first = False
    console.print(table)
