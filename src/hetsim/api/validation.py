"""Validation and calibration against the published measurements, energy reports, folds and bands.

Part of the one door (:mod:`hetsim.api`): the front ends import these names from here, never
from the modules that define them. Each name is imported on first use (PEP 562), so a command
that needs one pays for its module only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.calibration.api import Calibration as Calibration
    from hetsim.calibration.api import calibrate as calibrate
    from hetsim.calibration.api import validate as validate
    from hetsim.calibration.bands import coverage as coverage
    from hetsim.calibration.bands import residual as residual
    from hetsim.calibration.commit import project_files as project_files
    from hetsim.calibration.commit import run_folds as run_folds
    from hetsim.calibration.crossval import cross_validate as cross_validate
    from hetsim.calibration.defaults import DEFAULT_FIT_FILES as DEFAULT_FIT_FILES
    from hetsim.calibration.defaults import DEFAULT_FIT_HARDWARE as DEFAULT_FIT_HARDWARE
    from hetsim.calibration.defaults import DEFAULT_SKIP_TAGS as DEFAULT_SKIP_TAGS
    from hetsim.calibration.defaults import GROUP_FIELDS as GROUP_FIELDS
    from hetsim.calibration.energy import DATASET_LENGTHS as DATASET_LENGTHS
    from hetsim.calibration.energy import EnergyReport as EnergyReport
    from hetsim.calibration.energy import energy_report as energy_report
    from hetsim.calibration.measurements import find_realdata as find_realdata
    from hetsim.calibration.microbench import run_microbenchmarks as run_microbenchmarks
    from hetsim.calibration.microbench import torch_backend as torch_backend
    from hetsim.calibration.op_predict import OpPrediction as OpPrediction
    from hetsim.calibration.op_predict import predict_op as predict_op
    from hetsim.calibration.report import Report as Report
    from hetsim.calibration.report import Scored as Scored
    from hetsim.calibration.report import group_key as group_key
    from hetsim.calibration.wallclock_fit import folds_json as folds_json

_WHERE = {
    "OpPrediction": "hetsim.calibration.op_predict",
    "predict_op": "hetsim.calibration.op_predict",
    "Calibration": "hetsim.calibration.api",
    "calibrate": "hetsim.calibration.api",
    "validate": "hetsim.calibration.api",
    "coverage": "hetsim.calibration.bands",
    "residual": "hetsim.calibration.bands",
    "project_files": "hetsim.calibration.commit",
    "run_folds": "hetsim.calibration.commit",
    "cross_validate": "hetsim.calibration.crossval",
    "DEFAULT_FIT_FILES": "hetsim.calibration.defaults",
    "DEFAULT_FIT_HARDWARE": "hetsim.calibration.defaults",
    "DEFAULT_SKIP_TAGS": "hetsim.calibration.defaults",
    "GROUP_FIELDS": "hetsim.calibration.defaults",
    "DATASET_LENGTHS": "hetsim.calibration.energy",
    "EnergyReport": "hetsim.calibration.energy",
    "energy_report": "hetsim.calibration.energy",
    "find_realdata": "hetsim.calibration.measurements",
    "run_microbenchmarks": "hetsim.calibration.microbench",
    "torch_backend": "hetsim.calibration.microbench",
    "Report": "hetsim.calibration.report",
    "Scored": "hetsim.calibration.report",
    "group_key": "hetsim.calibration.report",
    "folds_json": "hetsim.calibration.wallclock_fit",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        home = import_module(_WHERE[name])
        return getattr(home, name) if hasattr(home, name) else import_module(f"{home.__name__}.{name}")
    raise AttributeError(f"module 'hetsim.api.validation' has no attribute {name!r}")


__all__ = [
    "DATASET_LENGTHS",
    "DEFAULT_FIT_FILES",
    "DEFAULT_FIT_HARDWARE",
    "DEFAULT_SKIP_TAGS",
    "GROUP_FIELDS",
    "Calibration",
    "EnergyReport",
    "OpPrediction",
    "Report",
    "Scored",
    "calibrate",
    "coverage",
    "cross_validate",
    "energy_report",
    "find_realdata",
    "folds_json",
    "group_key",
    "predict_op",
    "project_files",
    "residual",
    "run_folds",
    "run_microbenchmarks",
    "torch_backend",
    "validate",
]  # fmt: skip
