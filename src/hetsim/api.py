"""The one core API. The CLI (and later the dashboard) only parse and render around it.

>>> import hetsim
>>> r = hetsim.analyze("llama2-70b", "h100-sxm", hetsim.Workload(64, 2048, 2048), tp=4)
>>> round(r.kv_bytes_per_token)
327680
"""

from __future__ import annotations

from hetsim.analysis.result import AnalysisResult, OpResult, PhaseResult, SweepResult
from hetsim.calibration.op_predict import OpPrediction, predict_op
from hetsim.hardware.loader import get_hardware, list_hardware
from hetsim.hardware.spec import Device
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import ExpertParallel
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model, list_models
from hetsim.workload.speculation import Speculation

__all__ = [
    "AnalysisResult", "Device", "ExpertParallel", "ModelSpec", "OpPrediction", "OpResult", "PhaseResult",
    "Precision", "Speculation", "SweepResult", "Workload", "analyze", "get_hardware", "get_model",
    "list_hardware", "list_models", "predict_op", "sweep",
]  # fmt: skip
