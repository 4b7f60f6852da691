"""ONNX ingestion speed: load, bind, infer shapes, count and price one pass (targets: ResNet-50
and the SD-1.5 UNet each under 1 s). Wall time, and the process's CPU time beside it (the
wall figure on a shared 2-core machine includes waiting for a core)."""

from __future__ import annotations

import time

from hetsim.ingest import ingest_onnx
from hetsim.ingest.proxies_index import PROXY_DIR
from hetsim.sim.graph_run import analyze_graph


def _once(name: str, hw: str) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    g = ingest_onnx(PROXY_DIR / f"{name}.onnx", batch=1)
    analyze_graph(g, hw)
    return time.perf_counter() - t, time.process_time() - c


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("resnet50", "sd15_unet"):
        first, _ = _once(name, "h100-sxm")  # includes the first import of onnx
        runs = [_once(name, "h100-sxm") for _ in range(3)]
        out[f"{name}.onnx load + analyse, first call, wall [s] (target < 1)"] = first
        out[f"{name}.onnx load + analyse, best of 3, wall [s] (target < 1)"] = min(r[0] for r in runs)
        out[f"{name}.onnx load + analyse, best of 3, CPU [s]"] = min(r[1] for r in runs)
    return out
