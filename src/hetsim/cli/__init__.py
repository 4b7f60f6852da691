"""Command-line front end: thin parsing and rendering over the core API.

Each command lives in its own module and registers itself on :data:`app`. Errors a user
can fix (:class:`HetsimError`) print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import sys

from hetsim.cli.common import app
from hetsim.errors import HetsimError

# Importing a command module registers its commands on ``app``.
from hetsim.cli import analyze as _analyze  # noqa: F401  # isort: skip
from hetsim.cli import demo as _demo  # noqa: F401  # isort: skip
from hetsim.cli import reproduce as _reproduce  # noqa: F401  # isort: skip
from hetsim.cli import calibrate as _calibrate  # noqa: F401  # isort: skip
from hetsim.cli import whatif as _whatif  # noqa: F401  # isort: skip
from hetsim.cli import placement as _placement  # noqa: F401  # isort: skip


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hetsim`` command (``argv`` defaults to ``sys.argv[1:]``)."""
    try:
        app(args=argv, standalone_mode=False)
    except HetsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors from Typer's (vendored) click carry ``show`` and ``exit_code``.
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            raise SystemExit(2) from None
        if type(exc).__name__ == "Abort":
            raise SystemExit(130) from None
        raise


__all__ = ["app", "main"]
