"""Command-line front end: thin parsing and rendering over the core API.

Each command lives in its own module and registers itself on :data:`app`; command modules
import the heavy libraries (NumPy, SciPy, Matplotlib) inside the commands, so ``--help`` and
start-up stay fast. Every failure ends in :func:`hetsim.cli.errors.fail`: one line on stderr,
exit code 2 (and, with ``--json``, an ``{"error": ...}`` object on stdout).
"""

from __future__ import annotations

import sys

from hetsim.cli.common import app
from hetsim.cli.errors import run_guarded

# Importing a command module registers its commands on ``app``.
from hetsim.cli import analyze as _analyze  # noqa: F401  # isort: skip
from hetsim.cli import catalog as _catalog  # noqa: F401  # isort: skip
from hetsim.cli import frameworks_cmd as _frameworks  # noqa: F401  # isort: skip
from hetsim.cli import compare as _compare  # noqa: F401  # isort: skip
from hetsim.cli import demo as _demo  # noqa: F401  # isort: skip
from hetsim.cli import reproduce as _reproduce  # noqa: F401  # isort: skip
from hetsim.cli import calibrate as _calibrate  # noqa: F401  # isort: skip
from hetsim.cli import whatif as _whatif  # noqa: F401  # isort: skip
from hetsim.cli import placement as _placement  # noqa: F401  # isort: skip
from hetsim.cli import serve as _serve  # noqa: F401  # isort: skip
from hetsim.cli import explore as _explore  # noqa: F401  # isort: skip
from hetsim.cli import web as _web  # noqa: F401  # isort: skip


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hetsim`` command (``argv`` defaults to ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    raise SystemExit(run_guarded(lambda: app(args=args, standalone_mode=False), args))


__all__ = ["app", "main"]
