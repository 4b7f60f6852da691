"""The CLI's single error path.

Every way a command can fail is mapped here to one line on stderr and an exit code:

- a :class:`HetsimError` (bad value, file, path, unit, capacity) and a usage error from the
  option parser: exit 2;
- an ``OSError`` while reading or writing (disk full, permission denied): exit 2, naming the file;
- Ctrl-C: exit 130;
- an optional library that is not installed (torch, ray, onnx, plotly): exit 2 with the
  ``pip install`` that adds it;
- anything else is a bug in hetsim: exit 3 with one line asking for a report
  (``HETSIM_DEBUG=1`` shows the traceback).

With ``--json`` on the command line, a failure also prints ``{"error": {"kind", "message"}}``
on stdout, so a script that parses stdout sees every outcome.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from hetsim.errors import HetsimError

EXIT_USER = 2
EXIT_BUG = 3
EXIT_INTERRUPT = 130
# optional libraries -> what installs them (pyproject.toml's extras)
EXTRAS = {"torch": "'hetsim[torch]'", "transformers": "'hetsim[torch]'", "ray": "'hetsim[ray]'",
          "onnx": "'hetsim[onnx]'", "plotly": "'hetsim[web]'", "duckdb": "duckdb",
          "pyarrow": "pyarrow"}  # fmt: skip


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(kind: str, message: str, args: list[str], code: int = EXIT_USER) -> int:
    """Report one failure (stderr line, JSON object with ``--json``); return the exit code."""
    message = _one_line(message)
    print(f"error: {message}", file=sys.stderr)
    if "--json" in args:
        print(json.dumps({"error": {"kind": kind, "message": message}}))
    return code


def run_guarded(call: Callable[[], Any], args: list[str]) -> int:
    """Run ``call`` (the Typer app) and turn every failure into an exit code."""
    try:
        result = call()
    except HetsimError as exc:
        return fail(type(exc).__name__, str(exc), args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USER)
    except KeyboardInterrupt:
        return fail("Interrupted", "interrupted", args, EXIT_INTERRUPT)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return fail("OSError", f"cannot read or write{where}: {exc.strerror or exc}", args)
    except ImportError as exc:  # an optional library this command needs is not installed
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            return _bug(exc, args)
        return fail(
            "MissingDependency", f"this needs {top}, which is not installed: pip install {EXTRAS[top]}", args
        )
    except Exception as exc:
        # Usage errors from Typer's (vendored) click carry ``format_message`` and ``exit_code``.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "Abort":
                return fail("Interrupted", "aborted", args, EXIT_INTERRUPT)
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            return fail("UsageError", f"{exc.format_message()}{hint}", args)
        return _bug(exc, args)
    return int(result) if isinstance(result, int) else 0


def _bug(exc: Exception, args: list[str]) -> int:
    if os.environ.get("HETSIM_DEBUG"):
        raise exc
    return fail(
        "InternalError",
        f"internal error {type(exc).__name__}: {exc} - this is a bug in hetsim; please report "
        "the command line (HETSIM_DEBUG=1 shows the traceback)",
        args,
        EXIT_BUG,
    )
