"""Serving runs: request streams, engines, schedulers, SLOs, rate search, traces, serving validation.

Part of the one door (:mod:`hetsim.api`): the front ends import these names from here, never
from the modules that define them. Each name is imported on first use (PEP 562), so a command
that needs one pays for its module only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.serving import PRESETS as PRESETS
    from hetsim.serving import get_engine as get_engine
    from hetsim.serving import mlperf as mlperf
    from hetsim.serving import parse_slo as parse_slo
    from hetsim.serving import simulate_serving as simulate_serving
    from hetsim.serving.export import writable as writable
    from hetsim.serving.export import write_csv as write_csv
    from hetsim.serving.export import write_trace as write_trace
    from hetsim.serving.metrics import ServingResult as ServingResult
    from hetsim.serving.metrics import format_slo as format_slo
    from hetsim.serving.metrics import itl_samples as itl_samples
    from hetsim.serving.metrics import per_request_metrics as per_request_metrics
    from hetsim.serving.model_switch import ModelMix as ModelMix
    from hetsim.serving.requests import check_seed as check_seed
    from hetsim.serving.requests import make_requests as make_requests
    from hetsim.serving.rows import load_serving_rows as load_serving_rows
    from hetsim.serving.search import max_rate as max_rate
    from hetsim.serving.search import percentile_judge as percentile_judge
    from hetsim.serving.search import slo_judge as slo_judge
    from hetsim.serving.sessions import make_sessions as make_sessions
    from hetsim.serving.traces import load_trace as load_trace
    from hetsim.serving.validate import FOLDS as FOLDS
    from hetsim.serving.validate import cross_validate as cross_validate
    from hetsim.serving.validate import mape_by_metric as mape_by_metric
    from hetsim.serving.validate import score_rows as score_rows

_WHERE = {
    "PRESETS": "hetsim.serving",
    "get_engine": "hetsim.serving",
    "mlperf": "hetsim.serving",
    "parse_slo": "hetsim.serving",
    "simulate_serving": "hetsim.serving",
    "writable": "hetsim.serving.export",
    "write_csv": "hetsim.serving.export",
    "write_trace": "hetsim.serving.export",
    "ServingResult": "hetsim.serving.metrics",
    "ModelMix": "hetsim.serving.model_switch",
    "format_slo": "hetsim.serving.metrics",
    "itl_samples": "hetsim.serving.metrics",
    "per_request_metrics": "hetsim.serving.metrics",
    "check_seed": "hetsim.serving.requests",
    "make_requests": "hetsim.serving.requests",
    "load_serving_rows": "hetsim.serving.rows",
    "max_rate": "hetsim.serving.search",
    "percentile_judge": "hetsim.serving.search",
    "slo_judge": "hetsim.serving.search",
    "make_sessions": "hetsim.serving.sessions",
    "load_trace": "hetsim.serving.traces",
    "FOLDS": "hetsim.serving.validate",
    "cross_validate": "hetsim.serving.validate",
    "mape_by_metric": "hetsim.serving.validate",
    "score_rows": "hetsim.serving.validate",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        home = import_module(_WHERE[name])
        return getattr(home, name) if hasattr(home, name) else import_module(f"{home.__name__}.{name}")
    raise AttributeError(f"module 'hetsim.api.serving' has no attribute {name!r}")


__all__ = [
    "FOLDS", "PRESETS", "ServingResult", "check_seed", "cross_validate", "format_slo", "get_engine",
    "itl_samples", "load_serving_rows", "load_trace", "make_requests", "make_sessions",
    "mape_by_metric", "max_rate", "mlperf", "parse_slo", "per_request_metrics", "percentile_judge",
    "score_rows", "simulate_serving", "slo_judge", "writable", "write_csv", "write_trace",
]  # fmt: skip
