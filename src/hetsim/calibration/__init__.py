"""Ground truth: read published measurements, score the cost model on them, and fit the
shared kernel-model parameters (written as overlays on the datasheet presets).

- :mod:`measurements` reads and normalises the shared CSV schema;
- :mod:`predict` turns rows into ops priced by the project's own cost model;
- :mod:`report` scores (MAPE, median APE, fitted vs held-out, worst rows);
- :mod:`fit` fits the shared parameters; :mod:`profile` writes the overlays;
- :mod:`microbench` measures a real GPU (PyTorch, imported lazily) into the same schema.
"""

from hetsim.calibration.api import Calibration, calibrate, load, validate
from hetsim.calibration.measurements import Measurement, find_realdata, read_measurements
from hetsim.calibration.report import Report

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
