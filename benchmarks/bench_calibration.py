"""Calibration speed: scoring every published measurement row through the cost model."""

from __future__ import annotations

import time

from hetsim.calibration.api import validate
from hetsim.calibration.energy import DEFAULT_FILES, energy_report
from hetsim.calibration.measurements import find_realdata
from hetsim.calibration.wallclock_fit import folds_json


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    t = time.perf_counter()
    energy = energy_report(DEFAULT_FILES)  # the committed power rows, with the leave-one-GPU-out refits
    out["validate's energy table, committed power rows [s]"] = time.perf_counter() - t
    out["energy rows scored"] = float(len(energy.scores))
    root = find_realdata()  # data/measurements/published/ of this checkout, or $HETSIM_REALDATA
    if root is None:
        raise SystemExit("bench_calibration: no measurement folder (set HETSIM_REALDATA)")
    files = sorted(root.glob("*.csv"))
    t = time.perf_counter()
    rep = validate(files)
    energy_report(files)  # validate's energy table reads only the energy rows again
    timed = {s.row.file for s in rep.scored if s.timing == "host-wall-clock"}
    folds_json([f for f in files if f.name in timed])  # and the host-timed kernels' two folds
    dt = time.perf_counter() - t
    return {"validate all published rows [s]": dt, "rows scored per second": len(rep.scored) / dt, **out}
