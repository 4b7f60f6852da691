"""Command-line front end: thin parsing and rendering over the core API.

Each command lives in its own module and registers itself on :data:`app`. Errors a user
can fix (:class:`HetsimError`) print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import sys

from hetsim.cli.common import app
from hetsim.errors import HetsimError

# Importing a command module registers its commands on ``app``.
from hetsim.cli import analyze as _analyze  # noqa: E402,F401  # isort: skip
from hetsim.cli import demo as _demo  # noqa: E402,F401  # isort: skip


def main() -> None:
    try:
        app(standalone_mode=False)
    except HetsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.Abort):
            raise SystemExit(130) from None
        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(2) from None
        raise


__all__ = ["app", "main"]
