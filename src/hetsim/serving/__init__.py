"""Serving simulator: requests arriving over time on a continuously batching engine.

``requests`` (arrival processes, length distributions, traces) -> ``engine`` (scheduler and
KV-cache behaviour, vLLM / SGLang / TensorRT-LLM presets) -> ``pricing`` (iteration cost
from the op graph and :mod:`hetsim.cost`) -> ``loop`` (event-driven, closed-form advance)
-> ``metrics`` (latency percentiles, throughput, goodput) via ``api.simulate_serving``.
"""

from hetsim.serving.api import KVBudget, kv_budget, simulate_serving
from hetsim.serving.engine import PRESETS, EngineConfig, get_engine
from hetsim.serving.metrics import ServingResult, Stats, parse_slo
from hetsim.serving.requests import LengthDist, RequestSet, make_requests
from hetsim.serving.traces import load_trace

__all__ = [
    "PRESETS", "EngineConfig", "KVBudget", "LengthDist", "RequestSet", "ServingResult", "Stats",
    "get_engine", "kv_budget", "load_trace", "make_requests", "parse_slo", "simulate_serving",
]  # fmt: skip
