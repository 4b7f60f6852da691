"""Shared pieces of the hostile-input fuzz harnesses (``tests/*/test_fuzz*.py``).

Every harness draws its inputs with hypothesis, seeded (``--fuzz-seed N``, default 0, so a run
is repeatable), without shrinking (a failing input is reported as drawn), and checks the same
oracles on every case:

- **no traceback**: the CLI ends in exit 0, or exit 2 with one ``error:`` line (exit 3, an
  internal error, is a bug); the dashboard answers every request with JSON, 200 or 4xx;
- **no hang**: every case ends within its time limit (:func:`time_limit`);
- **no impossible result with exit 0** (:func:`check_physics`): times and energies positive
  and finite, MBU and MFU in [0, 1], no NaN;
- **no file touched outside the folder the case may write**: each case runs with its working
  folder in a sandbox that is snapshotted before and after (:func:`snapshot`,
  :func:`assert_confined`); the sandbox holds decoys (a secret, an existing PNG) that must
  come out unchanged and never appear in any output.

Case counts: ``short`` per harness in ``make test`` (seconds), four times that with ``CI``
set, and the harness's ``long`` share of ``make fuzz`` (``--long``); every harness adds its
count to :data:`COUNTS`, printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

COUNTS: Counter[str] = Counter()  # harness -> cases run (printed by conftest's summary)
SECRET = "fuzz-secret-7f3a9c"  # the decoy's content: must never be echoed
PRECIOUS = b"\x89PNG precious"  # an existing output the user has: never overwritten


class Hang(BaseException):
    """A case ran past its time limit (a BaseException, so no ``except Exception`` hides it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: object) -> Iterator[None]:
    """Raise :class:`Hang` naming ``what`` if the block runs longer than ``seconds``."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds:g} s: {what!r}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def examples(request: pytest.FixtureRequest, short: int, long: int) -> int:
    """Cases for this run: ``short`` locally, 4x with ``CI``, ``long`` with ``--long``, or
    exactly ``--fuzz-cases N``."""
    if request.config.getoption("--fuzz-cases"):
        return int(request.config.getoption("--fuzz-cases"))
    if request.config.getoption("--long"):
        return long
    return 4 * short if os.environ.get("CI") else short


def fuzz_settings(request: pytest.FixtureRequest, short: int, long: int) -> Any:
    """Hypothesis settings of a harness: seeded by ``--fuzz-seed``, no shrinking, no deadline."""
    from hypothesis import seed

    n = examples(request, short, long)
    chosen = settings(max_examples=n, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip

    def apply(fn: Any) -> Any:
        return seed(int(request.config.getoption("--fuzz-seed")))(chosen(fn))

    return apply


def run_cli(args: list[str], limit_s: float = 60.0) -> tuple[int, str, str]:
    """The real ``hetsim`` entry point in-process: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from hetsim.cli import main

    with CliRunner().isolation() as streams, time_limit(limit_s, args):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, streams[0].getvalue().decode(), streams[1].getvalue().decode()


def check_cli(args: list[str], code: int, out: str, err: str) -> None:
    """Exit 0, or exit 2 with one ``error:`` line (and the JSON error object with --json)."""
    assert "Traceback" not in out + err, (args, err)
    if not any("secret" in a for a in args):  # a file the user names is theirs to read
        assert SECRET not in out + err, (args, "the decoy secret was echoed")
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
        if "--json" in args:
            import json

            assert "kind" in json.loads(out)["error"], (args, out)
        return
    assert code == 0, (args, code, err)


# -- impossible results ------------------------------------------------------------------------
POSITIVE = ("ttft_s", "tpot_s", "e2e_latency_s", "energy_j_per_token", "avg_power_w")
FRACTIONS = ("mbu", "mfu", "slo_attainment", "kv_peak_utilization")
NOT_NEGATIVE = ("output_throughput_tok_per_s", "usd_per_mtoken", "tok_per_s_per_user", "tok_per_s_per_device")


def check_physics(row: Mapping[str, Any], where: object) -> None:
    """A result row that exit 0 vouches for: finite numbers, positive times and energy, MBU and
    MFU (and other fractions) in [0, 1], throughputs and costs not negative."""
    for key, v in row.items():
        if isinstance(v, float):
            assert math.isfinite(v), (where, key, v)
        unit = key.endswith(("_s", "_bytes", "_usd", "_w"))
        if unit and isinstance(v, int | float) and not isinstance(v, bool):
            assert v >= 0, (where, key, v)
    for key in POSITIVE:
        if row.get(key) is not None:
            assert row[key] > 0, (where, key, row[key])
    for key in FRACTIONS:
        if row.get(key) is not None:
            assert 0 <= row[key] <= 1, (where, key, row[key])
    for key in NOT_NEGATIVE:
        if row.get(key) is not None:
            assert row[key] >= 0, (where, key, row[key])


# -- the sandbox -------------------------------------------------------------------------------
Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every path under ``root`` (links not followed) -> (mode, size, mtime_ns)."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def touched(before: Snapshot, after: Snapshot) -> set[str]:
    """Paths added, removed or changed between two snapshots."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def assert_confined(before: Snapshot, after: Snapshot, allowed: Iterable[str], where: object) -> None:
    """Every touched path lies under one of ``allowed`` (paths relative to the sandbox)."""
    ok = [a.rstrip("/") for a in allowed]
    bad = sorted(p for p in touched(before, after) if not any(p == a or p.startswith(a + "/") for a in ok))
    assert not bad, (where, "touched outside the folders it may write", bad[:5])


def make_sandbox(root: Path) -> Path:
    """A sandbox: ``in/`` (inputs), ``out/`` (the one folder outputs go to), and decoys."""
    for d in ("in", "out"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "secret.yaml").write_text(f"{SECRET}: 1\n")
    (root / "secret.txt").write_text(SECRET + "\n")
    (root / "out" / "existing.png").write_bytes(PRECIOUS)
    return root


def reset_out(root: Path) -> None:
    """Empty ``out/`` again and put the decoy PNG back as it was (a case with ``--force`` may
    replace it), so cases do not see each other's files."""
    import shutil

    for p in (root / "out").iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    (root / "out" / "existing.png").write_bytes(PRECIOUS)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_new_files(before: Snapshot, after: Snapshot, where: object) -> None:
    """Files a case created follow the umask (as any tool's output does), not 0600."""
    want = 0o666 & ~umask()
    for p in after.keys() - before.keys():
        mode = after[p][0]
        if (mode & 0o170000) == 0o100000:  # a regular file
            assert mode & 0o777 == want, (where, p, oct(mode & 0o777), oct(want))
