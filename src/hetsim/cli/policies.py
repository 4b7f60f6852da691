"""`hetsim policies`: the registered placement policies with one line each."""

from __future__ import annotations

from typing import Annotated

import typer

from hetsim.cli.common import app, console, print_json


@app.command("policies")
def policies_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the placement policies (analyze --policy NAME, sweep(policy=NAME))."""
    from rich.table import Table

    from hetsim.api.lookup import policy_doc, policy_names

    names = policy_names()
    if as_json:
        print_json([{"name": n, "description": policy_doc(n)} for n in names])
        return
    t = Table(title="placement policies")
    t.add_column("name")
    t.add_column("what it does")
    for n in names:
        t.add_row(n, policy_doc(n))
    console.print(t)
