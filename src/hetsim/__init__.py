"""hetsim: a co-design lab for LLM inference on heterogeneous memory and compute.

The public API lives in :mod:`hetsim.api` and is re-exported here. The re-exports are
resolved on first use (PEP 562), so ``import hetsim.cli`` does not pay for NumPy and the
whole model just to print ``--help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hetsim.errors import CapacityError, ConfigError, HetsimError, MappingError

if TYPE_CHECKING:
    from hetsim.api import (
        AnalysisOptions,
        AnalysisResult,
        Device,
        ExpertParallel,
        ModelSpec,
        OpPrediction,
        OpResult,
        PhaseResult,
        Precision,
        Speculation,
        SweepResult,
        Workload,
        analyze,
        compare,
        get_hardware,
        get_model,
        list_hardware,
        list_models,
        predict_op,
        sweep,
    )  # fmt: skip

__version__ = "0.1.0"

_API = (
    "AnalysisOptions", "AnalysisResult", "Device", "ExpertParallel", "ModelSpec", "OpPrediction",
    "OpResult", "PhaseResult", "Precision", "Speculation", "SweepResult", "Workload", "analyze", "compare",
    "get_hardware", "get_model", "list_hardware", "list_models", "predict_op", "sweep",
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _API:
        from hetsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'hetsim' has no attribute {name!r}")


__all__ = [
    "AnalysisOptions", "AnalysisResult", "CapacityError", "ConfigError", "Device", "ExpertParallel",
    "HetsimError", "MappingError", "ModelSpec", "OpPrediction", "OpResult", "PhaseResult", "Precision",
    "Speculation", "SweepResult", "Workload", "__version__", "analyze", "compare", "get_hardware",
    "get_model", "list_hardware", "list_models", "predict_op", "sweep",
]  # fmt: skip
