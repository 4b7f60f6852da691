"""`hetsim explore`: run a sweep spec into a Parquet store, resume it, query it, plot fronts.

hetsim explore SPEC.yaml --out DIR [--workers N | --ray auto|ADDRESS] [--dry-run] [--frontier-only]
hetsim explore --resume DIR
hetsim explore query DIR "SELECT ... FROM results ..."
hetsim explore pareto DIR [--x COL --y COL] [--sense min,max] [--plot PNG]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hetsim.cli.common import app, console, err_console, print_json
from hetsim.cli.outputs import ForceOption, check_plot_path
from hetsim.errors import ConfigError, UnknownNameError
from hetsim.units import fmt_bytes, fmt_time


class _DefaultRun(TyperGroup):
    """`hetsim explore SPEC ...` means `hetsim explore run SPEC ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


explore_app = typer.Typer(
    cls=_DefaultRun,
    no_args_is_help=True,
    help="Design-space exploration: sweep a spec into a Parquet store, resume, query, Pareto fronts.",
)
app.add_typer(explore_app, name="explore")


@explore_app.command("run")
def run_cmd(
    spec: Annotated[Path | None, typer.Argument(help="Sweep spec (YAML/JSON).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(help="New or empty folder for the store.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the store in this folder.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes (0: all cores).", min=0)] = 0,
    ray: Annotated[str | None, typer.Option(help="'auto' (local Ray) or a cluster ADDRESS.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count points; estimate time and disk.")] = False,
    frontier_only: Annotated[
        bool, typer.Option("--frontier-only", help="Keep only each chunk's Pareto front on the objectives.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run SPEC into --out DIR (or continue one with --resume DIR)."""
    from hetsim.api.explore import dry_run as estimate
    from hetsim.api.explore import explore

    if dry_run:
        if spec is None:
            raise ConfigError("--dry-run needs a spec file")
        d = estimate(spec, workers=workers or None)
        view = {"points": d.n_points, "chunks": d.n_chunks, "workers": d.workers,
                "est_seconds": d.est_seconds, "est_bytes": d.est_bytes,
                "sample_points": d.sample_points, "sample_kept": d.sample_kept}  # fmt: skip
        if as_json:
            print_json(view)
            return
        console.print(
            f"{d.n_points:,} points in {d.n_chunks:,} chunks; about {fmt_time(d.est_seconds)} on "
            f"{d.workers} workers and {fmt_bytes(d.est_bytes)} of Parquet "
            f"(timed on {d.sample_points:,} points, {d.sample_kept:,} kept by the filters)"
        )
        return
    if resume is None and out is None:
        raise ConfigError("give --out DIR for a new run, or --resume DIR")
    if resume is not None and out is not None and resume != out:
        raise ConfigError("give either --out or --resume, not both")
    target = resume or out
    assert target is not None
    progress, on_progress = _progress()
    try:
        with progress:
            s = explore(spec, target, workers=workers or None, ray=ray, resume=resume is not None,
                        frontier_only=frontier_only, on_progress=on_progress)  # fmt: skip
    except KeyboardInterrupt:
        msg = f"interrupted; finished chunks are kept: continue with hetsim explore --resume {target}"
        print(msg, file=sys.stderr)  # one line, never wrapped
        raise SystemExit(130) from None
    summary = {"out": str(s.out), "points": s.n_points, "chunks": s.n_chunks, "chunks_run": s.chunks_run,
               "rows": s.rows, "removed": s.removed, "seconds": s.seconds}  # fmt: skip
    if as_json:
        print_json(summary)
        return
    from hetsim.api.explore import FILTER_REASONS as why

    removed = ", ".join(f"{k}{f' ({why[k]})' if k in why else ''}: {v:,}" for k, v in s.removed.items() if v)
    removed = removed or "none"
    console.print(
        f"{s.n_points:,} points ({s.chunks_run} of {s.n_chunks} chunks run now, {fmt_time(s.seconds)}); "
        f"{s.rows:,} rows in {s.out}; removed by filters: {removed}"
    )


def _progress() -> tuple[Any, Any]:
    from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = f"{task.total:,.0f}" if task.total is not None else "?"
            return Text(f"{task.completed:,.0f}/{total} points")

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f} points/s" if task.speed else "", style="cyan")

    progress = Progress(
        TextColumn("[bold]explore"), BarColumn(), Count(), Rate(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err_console, disable=not sys.stderr.isatty(),
    )  # fmt: skip
    task = progress.add_task("explore", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, on_progress


@explore_app.command("query")
def query_cmd(
    store: Annotated[Path, typer.Argument(help="A store written by hetsim explore.")],
    sql: Annotated[str, typer.Argument(help="One SELECT over the table `results` (read-only).")],
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows.")] = False,
) -> None:
    """Run one DuckDB SELECT over a store (its rows are the table `results`; nothing else is
    readable or writable from the query)."""
    from hetsim.api.explore import connect, execute, fetch_rows

    con = connect(store)
    names, rows = fetch_rows(execute(con, sql))
    if as_json:
        print_json([dict(zip(names, r, strict=True)) for r in rows])
    elif as_csv:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(names)
        w.writerows(rows)
    else:
        from rich.table import Table
        from rich.text import Text

        t = Table()
        for n in names:
            t.add_column(Text(n))
        for r in rows:
            t.add_row(*(Text(f"{v:.4g}" if isinstance(v, float) else str(v)) for v in r))
        console.print(t)


@explore_app.command("pareto")
def pareto_cmd(
    store: Annotated[Path, typer.Argument(help="A store written by hetsim explore.")],
    x: Annotated[
        str | None, typer.Option(help="Column on the x axis (default: the spec's first objective).")
    ] = None,
    y: Annotated[
        str | None, typer.Option(help="Column on the y axis (default: the spec's second objective).")
    ] = None,
    sense: Annotated[
        str | None,
        typer.Option(
            help="min/max for x and y, e.g. 'min,max' (default: the spec's objectives, else the "
            "column's own: throughput max; time, cost, energy min)."
        ),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG to write (an existing file needs --force).")] = None,
    where: Annotated[str | None, typer.Option(help="SQL condition on `results` rows first.")] = None,
    force: ForceOption = False,
) -> None:
    """The Pareto front of two columns over a store (optionally a PNG of it). The table shows
    every design axis that differs between the rows."""
    from hetsim.api.explore import (
        Store,
        connect,
        design_columns,
        pareto_mask,
        parse_spec,
        plot_front,
        resolve_senses,
        select_where,
        varying_columns,
    )

    given = None if sense is None else [s.strip() for s in sense.split(",")]
    if given is not None and (len(given) != 2 or any(s not in ("min", "max") for s in given)):
        raise ConfigError(f"--sense {sense!r}: write two of min/max, e.g. 'min,max'")
    if plot is not None:
        check_plot_path(plot, force)
    con = connect(store)
    spec = parse_spec(Store(store).manifest()["spec"])
    x = x or spec.objectives[0][0]
    y = y or next((c for c, _ in spec.objectives if c != x), "usd_per_mtoken")
    table = select_where(con, where)
    numeric = [c for c, v in table.items() if v.dtype.kind in "iufb" and c != "index"]
    for c in (x, y):
        if c not in numeric:
            raise UnknownNameError("numeric column", c, numeric)
    (_, sx, why_x), (_, sy, why_y) = resolve_senses([x, y], given, spec.objectives)
    cols = {k: (v.filled() if hasattr(v, "filled") else v) for k, v in table.items()}
    mask = pareto_mask(cols, [(x, sx), (y, sy)])
    order = sorted(map(int, mask.nonzero()[0]), key=lambda i: float(cols[x][i]))
    show = list(dict.fromkeys([*varying_columns(cols, design_columns(spec)), x, y, "usd_per_mtoken"]))
    show = [c for c in show if c in cols]
    from rich.table import Table
    from rich.text import Text

    console.print(
        Text(f"Pareto front of {x} ({sx}: {why_x}) and {y} ({sy}: {why_y}): {len(order):,} of "
             f"{len(cols[x]):,} rows")
    )  # fmt: skip
    t = Table()
    for c in show:
        t.add_column(Text(c))
    for i in order:
        t.add_row(
            *(Text(f"{cols[c][i]:.4g}" if isinstance(cols[c][i], float) else str(cols[c][i])) for c in show)
        )
    console.print(t)
    if plot is not None:
        n = plot_front(cols, x, y, str(plot), senses=(sx, sy))
        console.print(f"{n} points on the front; plot in {plot}")
