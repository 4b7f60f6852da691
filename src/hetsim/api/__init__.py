"""The one door into the core: the Python API, and what the front ends (``cli/``, ``web/``,
``report/``) use. A change inside the core changes the modules of this package, not the
three front ends (``tests/test_architecture.py`` holds the rule).

- :mod:`hetsim.api.analysis`: ``analyze``, ``sweep``, ``compare`` over the one option set
  (:mod:`hetsim.options`), and their result records;
- :mod:`hetsim.api.lookup`: models, hardware, data types, policies, engines by name;
- :mod:`hetsim.api.serving`, :mod:`hetsim.api.validation`, :mod:`hetsim.api.reproduce`,
  :mod:`hetsim.api.explore`: serving runs, validation and calibration, paper reproductions,
  design-space sweeps.

The names below are resolved on first use (PEP 562), so importing one submodule does not
load the others.

>>> import hetsim
>>> r = hetsim.analyze("llama2-70b", "h100-sxm", hetsim.Workload(64, 2048, 2048), tp=4)
>>> round(r.kv_bytes_per_token)
327680
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.api.analysis import (
        AnalysisOptions,
        AnalysisResult,
        ExpertParallel,
        OpResult,
        PhaseResult,
        Precision,
        Speculation,
        SweepResult,
        Workload,
        analyze,
        compare,
        sweep,
    )
    from hetsim.api.lookup import Device, ModelSpec, get_hardware, get_model, list_hardware, list_models
    from hetsim.api.validation import OpPrediction, predict_op

_WHERE = {
    "analysis": ("AnalysisOptions", "AnalysisResult", "ExpertParallel", "OpResult", "PhaseResult",
                 "Precision", "Speculation", "SweepResult", "Workload", "analyze", "compare", "sweep"),
    "lookup": ("Device", "ModelSpec", "get_hardware", "get_model", "list_hardware", "list_models"),
    "validation": ("OpPrediction", "predict_op"),
}  # fmt: skip
_MODULE = {name: mod for mod, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _MODULE:
        return getattr(import_module(f"hetsim.api.{_MODULE[name]}"), name)
    raise AttributeError(f"module 'hetsim.api' has no attribute {name!r}")


__all__ = [
    "AnalysisOptions", "AnalysisResult", "Device", "ExpertParallel", "ModelSpec", "OpPrediction",
    "OpResult", "PhaseResult", "Precision", "Speculation", "SweepResult", "Workload", "analyze", "compare",
    "get_hardware", "get_model", "list_hardware", "list_models", "predict_op", "sweep",
]  # fmt: skip
