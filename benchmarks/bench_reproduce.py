"""Timing for issue 23's speed target: every registered study reproduced together (``hetsim
reproduce all``: each study's run, report and plots) in under 60 s on 2 cores. Per study: wall
and CPU seconds, so a slow one is named."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def run() -> dict[str, float]:
    from hetsim.cli.reproduce import run_study
    from hetsim.experiments.registry import study_names

    out: dict[str, float] = {}
    total_wall = total_cpu = 0.0
    with tempfile.TemporaryDirectory() as d:
        for name in study_names():
            t, c = time.perf_counter(), time.process_time()
            run_study(name, Path(d) / name)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            total_wall += wall
            total_cpu += cpu
            out[f"reproduce_{name}_s"] = wall
            out[f"reproduce_{name}_cpu_s"] = cpu
    out["reproduce_all_s (target < 60)"] = total_wall
    out["reproduce_all_cpu_s"] = total_cpu
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:40s} {v:10.4f}")
