"""Serving-engine behaviour for ``serve-sim``: the ``batching`` part of the engine records of
:mod:`hetsim.engines` (scheduler, iteration caps, prefill chunking, paged KV cache, host time),
by the same names and aliases ``analyze --framework`` takes. Every knob names its source in
``provenance``; the TensorRT-LLM host overheads are fitted (:mod:`hetsim.serving.validate`),
its per-request front-end time is the static path's calibrated request overhead.
"""

from __future__ import annotations

from hetsim.engines import ENGINES, EngineConfig, get
from hetsim.engines.batching import Preemption, Reservation

# every engine's batching record by canonical name (serve-sim --engine, the dashboard's choices)
PRESETS: dict[str, EngineConfig] = {e.name: e.batching for e in ENGINES}


def get_engine(name: str | EngineConfig) -> EngineConfig:
    """An engine's batching record by exact name or alias (or the config itself)."""
    if isinstance(name, EngineConfig):
        return name
    return get(name).batching


__all__ = ["PRESETS", "EngineConfig", "Preemption", "Reservation", "get_engine"]
