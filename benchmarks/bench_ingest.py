"""ONNX ingestion speed: load, bind, infer shapes, count and price one pass (targets: ResNet-50
and the SD-1.5 UNet each under 1 s)."""

from __future__ import annotations

import time

from hetsim.ingest import ingest_onnx
from hetsim.ingest.proxies_index import PROXY_DIR
from hetsim.sim.graph_run import analyze_graph


def _once(name: str, hw: str) -> float:
    t = time.perf_counter()
    g = ingest_onnx(PROXY_DIR / f"{name}.onnx", batch=1)
    analyze_graph(g, hw)
    return time.perf_counter() - t


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("resnet50", "sd15_unet"):
        first = _once(name, "h100-sxm")  # includes the first import of onnx
        best = min(_once(name, "h100-sxm") for _ in range(3))
        out[f"{name}.onnx load + analyse, first call [s] (target < 1)"] = first
        out[f"{name}.onnx load + analyse, best of 3 [s] (target < 1)"] = best
    return out
