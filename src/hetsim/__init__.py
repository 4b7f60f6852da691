"""hetsim: a co-design lab for LLM inference on heterogeneous memory and compute.

The public API lives in :mod:`hetsim.api` and is re-exported here.
"""

from hetsim.api import (
    AnalysisResult,
    Device,
    ModelSpec,
    OpResult,
    PhaseResult,
    Precision,
    SweepResult,
    Workload,
    analyze,
    get_hardware,
    get_model,
    list_hardware,
    list_models,
    sweep,
)
from hetsim.errors import CapacityError, ConfigError, HetsimError, MappingError

__version__ = "0.1.0"

__all__ = [
    "AnalysisResult", "CapacityError", "ConfigError", "Device", "HetsimError", "MappingError",
    "ModelSpec", "OpResult", "PhaseResult", "Precision", "SweepResult", "Workload", "__version__",
    "analyze", "get_hardware", "get_model", "list_hardware", "list_models", "sweep",
]  # fmt: skip
