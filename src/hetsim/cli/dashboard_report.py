"""`hetsim dashboard` and `hetsim report`: front ends of the optional web extra. Nothing from
``hetsim.web`` (or plotly) is imported until one of them runs."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from hetsim.cli.common import app, console, err_console
from hetsim.cli.outputs import ForceOption
from hetsim.errors import ConfigError

LOCAL = "127.0.0.1"


def web_extra_installed() -> bool:
    """True when the optional ``hetsim[web]`` extra (plotly) is installed (checked without
    importing it)."""
    from importlib.util import find_spec

    return find_spec("plotly") is not None


@app.command("dashboard")
def dashboard_cmd(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8050,
    host: Annotated[
        str,
        typer.Option(help="Address to bind; anything but 127.0.0.1 exposes the dashboard to the network."),
    ] = LOCAL,
    sweep: Annotated[
        Path | None,
        typer.Option(help="Sweep store folder the Explore page may read (and nothing outside it)."),
    ] = None,
    measurements: Annotated[
        Path | None,
        typer.Option(
            help="Folder of measurement CSVs for the Validate page (default data/measurements/published/)."
        ),
    ] = None,
    max_upload_mb: Annotated[float, typer.Option(help="Largest file a page accepts, in MB.")] = 2.0,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name the dashboard may be reached by (repeatable); requests naming any "
            "other Host or coming from another site's page are refused."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes that build the views of light pages (Analyze, Compare), so more than one "
            "core computes (0: none, the request threads build them; docs/architecture.md, web)."
        ),
    ] = 0,
) -> None:
    """Start the local web dashboard (Analyze, Compare, Serving, Explore, Validate, H2M2 pages)."""
    from hetsim.api.validation import find_realdata
    from hetsim.units import MB
    from hetsim.web.context import Context
    from hetsim.web.shell import plotly_js_path

    plotly_js_path()  # a missing web extra fails here, with the install hint
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    if not 0 < max_upload_mb <= 1024:  # NaN fails this too
        raise ConfigError(f"--max-upload-mb must be above 0 and at most 1024 (MB), got {max_upload_mb}")
    for folder, flag in ((sweep, "--sweep"), (measurements, "--measurements")):
        if folder is not None and not folder.is_dir():
            raise ConfigError(f"{flag} {folder}: not a folder")
    if host != LOCAL:
        err_console.print(
            f"[yellow]warning:[/] binding {host}: anyone who can reach this address can use the "
            "dashboard and upload files to it"
        )
    ctx = Context(
        sweep_dir=sweep,
        realdata_dir=measurements or find_realdata(),
        max_upload_bytes=int(max_upload_mb * MB),
        verbose=verbose,
    )
    from hetsim.web.server import Dashboard, warm

    if not 0 <= workers <= 64:
        raise ConfigError(f"--workers must be from 0 to 64, got {workers}")
    try:
        dash = Dashboard(ctx, host, port, allow_hosts=allow_host or (), workers=workers)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    threading.Thread(target=warm, args=(ctx, dash.builder), daemon=True).start()  # fill the slow pages' cache
    console.print(f"hetsim dashboard on {dash.url}  (Ctrl-C stops it)")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # SIGTERM stops as Ctrl-C does: cleanly, at once
    try:
        dash.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        dash.httpd.server_close()
        dash.builder.close()  # the worker processes, at once
        shutil.rmtree(ctx.upload_root, ignore_errors=True)  # the uploads it held
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown (0.3-1.4 s here: a page may still be computing in a
    # daemon thread, and the numeric libraries unload slowly); nothing is left to write.
    os._exit(0)


@app.command("report")
def report_cmd(
    run: Annotated[
        Path, typer.Argument(help="JSON of hetsim analyze --json, a list of those, or H2M2 results.json.")
    ],
    html: Annotated[
        Path, typer.Option("--html", help="The .html file to write (one file, opens from disk).")
    ],
    force: ForceOption = False,
) -> None:
    """Write one self-contained HTML report (interactive plots, no server) of a run."""
    from hetsim.web.report import report

    out = report(run, html, force=force)
    console.print(f"report written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
