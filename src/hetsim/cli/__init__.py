"""Command-line front end: thin parsing and rendering over the core API.

A command module registers its commands on :data:`app` and is named after them, hyphens as
underscores, several joined by ``_`` in the order they are defined (``serve-sim`` in
``serve_sim.py``, ``dashboard`` and ``report`` in ``dashboard_report.py``; a command group
such as ``explore`` by the group's name); modules that register none are helpers
(``tests/cli/test_module_names.py`` holds the rule). Command modules import the heavy
libraries (NumPy, SciPy, Matplotlib) inside the commands, so ``--help`` and start-up stay
fast. Every failure ends in :func:`hetsim.cli.errors.fail`: one line on stderr, exit code 2
(and, with ``--json``, an ``{"error": ...}`` object on stdout).
"""

from __future__ import annotations

import sys

from hetsim.cli.common import app
from hetsim.cli.errors import run_guarded

# Importing a command module registers its commands on ``app``.
from hetsim.cli import analyze as _analyze  # noqa: F401  # isort: skip
from hetsim.cli import models_hardware as _models_hardware  # noqa: F401  # isort: skip
from hetsim.cli import engines as _engines  # noqa: F401  # isort: skip
from hetsim.cli import compare as _compare  # noqa: F401  # isort: skip
from hetsim.cli import demo as _demo  # noqa: F401  # isort: skip
from hetsim.cli import reproduce as _reproduce  # noqa: F401  # isort: skip
from hetsim.cli import validate as _validate  # noqa: F401  # isort: skip
from hetsim.cli import calibrate as _calibrate  # noqa: F401  # isort: skip
from hetsim.cli import whatif as _whatif  # noqa: F401  # isort: skip
from hetsim.cli import policies as _policies  # noqa: F401  # isort: skip
from hetsim.cli import serve_sim as _serve_sim  # noqa: F401  # isort: skip
from hetsim.cli import explore as _explore  # noqa: F401  # isort: skip
from hetsim.cli import dashboard_report as _dashboard_report  # noqa: F401  # isort: skip


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hetsim`` command (``argv`` defaults to ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    raise SystemExit(run_guarded(lambda: app(args=args, standalone_mode=False), args))


__all__ = ["app", "main"]
