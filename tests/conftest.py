"""Shared fixtures and the CLI runner used across the suite."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)  # docs/testing.md
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the real ``hetsim`` entry point in-process; return exit code and output."""
    from hetsim.cli import main

    def run(*args: str) -> CliResult:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def sigint_as_at_a_terminal() -> None:
    """Popen's ``preexec_fn`` for a child that a test stops with SIGINT: a job started in the
    background by a non-interactive shell (``make test &``) inherits SIGINT ignored, and Python
    then never raises KeyboardInterrupt; the child gets the default, as at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="long fuzz runs (100,000 cases; make fuzz)")
    parser.addoption("--fuzz-seed", type=int, default=0, help="seed of the fuzz harnesses (tests/fuzzing.py)")
    parser.addoption("--fuzz-cases", type=int, default=0, help="cases per fuzz harness (overrides --long)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.fuzzing import COUNTS

    if COUNTS:
        told = ", ".join(f"{k} {v:,}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"fuzz cases run: {sum(COUNTS.values()):,} ({told})")
