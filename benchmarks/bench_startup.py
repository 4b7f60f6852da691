"""CLI start-up: wall time of `hetsim --help` and `hetsim analyze ... --json` as fresh
processes (best of five, so other load on the machine counts as little as possible), and
the modules `--help` imports. Targets (issue 13): --help < 0.3 s, analyze --json < 0.6 s."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

COMMANDS = {
    "hetsim --help": ["--help"],
    "hetsim analyze -m llama2-70b -H h100-sxm --tp 4 --json": [
        "analyze", "-m", "llama2-70b", "-H", "h100-sxm", "--tp", "4", "--json",
    ],
}  # fmt: skip
HEAVY = ("numpy", "scipy", "matplotlib", "yaml")


def _best_s(args: list[str], repeats: int = 5) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of the child) over ``repeats`` fresh processes.
    CPU time (user + system) barely depends on other load on the machine; wall time does."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hetsim", *args], check=True, capture_output=True)
        wall = min(wall, time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def _heavy_imports_of_help() -> float:
    code = ("import sys; from hetsim.cli import app; "
            f"print(sum(m.split('.')[0] in {HEAVY!r} for m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    for name, args in COMMANDS.items():
        out[f"{name} wall [s] (best of 5)"], out[f"{name} CPU [s] (best of 5)"] = _best_s(args)
    out["heavy modules (numpy, scipy, matplotlib, yaml) loaded by the CLI's import"] = (
        _heavy_imports_of_help()
    )
    return out
