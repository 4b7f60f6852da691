"""Ground truth: read published measurements, score the cost model on them, and fit the
shared kernel-model parameters (written as overlays on the datasheet presets).

- :mod:`measurements` reads and normalises the shared CSV schema;
- :mod:`predict` turns rows into ops priced by the project's own cost model;
- :mod:`report` scores (MAPE, median APE, fitted vs held-out, worst rows);
- :mod:`fit` fits the shared parameters; :mod:`profile` writes the overlays;
- :mod:`microbench` measures a real GPU (PyTorch, imported lazily) into the same schema.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.calibration.api import Calibration, calibrate, load, validate
    from hetsim.calibration.measurements import Measurement, find_realdata, read_measurements
    from hetsim.calibration.report import Report

_WHERE = {
    "Calibration": "api", "calibrate": "api", "load": "api", "validate": "api", "Report": "report",
    "Measurement": "measurements", "find_realdata": "measurements", "read_measurements": "measurements",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Resolve the re-exports on first use, so the CLI's start-up does not load SciPy."""
    if name in _WHERE:
        return getattr(import_module(f"hetsim.calibration.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'hetsim.calibration' has no attribute {name!r}")


__all__ = [
    "Calibration",
    "Measurement",
    "Report",
    "calibrate",
    "find_realdata",
    "load",
    "read_measurements",
    "validate",
]
