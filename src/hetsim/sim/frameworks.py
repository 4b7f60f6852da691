"""Serving frameworks for the static path (``hetsim analyze --framework NAME``): a view of the
engine records of :mod:`hetsim.engines`, whose ``serving`` part (per-step host overhead,
first-token handling, kernel dispatch, CUDA graphs) becomes a :class:`~hetsim.sim.config.Serving`
and reaches every GPU through that GPU's own datasheet numbers and calibrated kernel model.
A record is never per model or per GPU.

``validate`` picks a row's record from its ``framework`` text (:func:`profile_for`); ``hetsim
analyze --framework NAME`` picks one by name or alias, the same names ``serve-sim --engine``
takes.
"""

from __future__ import annotations

from hetsim.engines import DEFAULT, ENGINES, Engine, get, match
from hetsim.engines.pytorch import EAGER_KERNEL_DISPATCH_S, HF_EXTRA_KERNELS_PER_LAYER, HF_REPEAT_KV
from hetsim.engines.trtllm import TRTLLM_REQUEST_OVERHEAD_S
from hetsim.engines.vllm import VLLM_GRAPH_BATCH_SIZES

FrameworkProfile = Engine
PROFILES: tuple[Engine, ...] = tuple(e for e in ENGINES if e is not DEFAULT)
OFFLOAD_PROFILES: tuple[Engine, ...] = tuple(e for e in ENGINES if e.offload_layers or e.name == "flexgen")


def get_profile(name: str) -> Engine:
    """A record by exact name or alias (error lists the valid names)."""
    return get(name)


def profile_for(framework_text: str) -> Engine:
    """The record a measurement row's free-text ``framework`` names (first match)."""
    return match(framework_text)


__all__ = [
    "DEFAULT", "EAGER_KERNEL_DISPATCH_S", "HF_EXTRA_KERNELS_PER_LAYER", "HF_REPEAT_KV", "OFFLOAD_PROFILES",
    "PROFILES", "TRTLLM_REQUEST_OVERHEAD_S", "VLLM_GRAPH_BATCH_SIZES", "FrameworkProfile", "get_profile",
    "profile_for",
]  # fmt: skip
