"""Board power of a run: idle + active floor + dynamic energy, within the board's power limit.

    P(t) = P_idle                              the board is on (``Device.static_power_w``)
         + P_active       while kernels run     clocks up, every SM, L2 and HBM PHY powered:
                                                a floor that does not scale with the work
         + dynamic        per op               flop x J/flop + bits moved x J/bit + link bits
                                                (``cost/roofline.py``)

``P_active`` is ``Device.active_power_w`` where a device states it, else the one global knob
:data:`ACTIVE_POWER_FRACTION` times the board's headroom above idle (``ceiling - idle``). The
knob therefore reaches every device, user YAMLs included, through that device's own
datasheet numbers (TDP) and idle power.

The board never draws more than its ceiling (TDP; for a preset whose idle figure is a whole
host, above the GPU's TDP, the ceiling is idle + TDP). Where the dynamic energy of a phase
would need more than the headroom left above idle + active, the board throttles: the phase
runs at the ceiling and takes ``dynamic / headroom`` seconds (:func:`throttled_s`). So the
average power lies in [idle, ceiling] and the energy is never below idle x time.

Host-side time (a framework's per-step overhead between kernels) draws idle power only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.hardware.spec import Device

# Share of (ceiling - idle) drawn above idle whenever kernels run, whatever they do.
# Calibrated on the ML.ENERGY v1 avg_power rows (data/measurements/published/energy_published.csv: A100
# and A40, 9 LLaMA-shaped models, batch 1-2): least squares in relative error; H100 and H200
# rows held out, and each of the two GPUs scored with a fit on the other
# (calibration/energy.py::fit_active_fraction, leave_one_gpu_out; docs/calibration.md, "Energy").
# Refitted (0.324 -> 0.399) once the rows' latency carried the eager host-dispatch term
# (sim/frameworks.py, hf-transformers): the runs take 1.5-2x longer, so the same energy is
# drawn over more seconds.
ACTIVE_POWER_FRACTION = 0.399


def ceiling_w(dev: Device) -> float:
    """The most the board draws (W): ``Device.power_ceiling_w`` (its TDP, or idle + TDP where
    the idle figure is a whole host's above the GPU's TDP; infinite without a TDP)."""
    return dev.power_ceiling_w


def active_w(dev: Device, fraction: float = ACTIVE_POWER_FRACTION) -> float:
    """Power drawn above idle while kernels run (W), before any dynamic energy."""
    if dev.active_power_w is not None:
        return dev.active_power_w
    top = ceiling_w(dev)
    return 0.0 if not np.isfinite(top) else fraction * (top - dev.static_power_w)


def headroom_w(dev: Device) -> float:
    """Power left for dynamic energy while kernels run (W): ceiling - idle - active."""
    return max(ceiling_w(dev) - dev.static_power_w - active_w(dev), 0.0)


def throttled_s(time_s: Any, dynamic_j: Any, dev: Device) -> Any:
    """A phase's time (s) on one device once the power limit applies: at least its dynamic
    energy over the headroom (the board throttles rather than draw above its ceiling)."""
    room = headroom_w(dev)
    if not np.isfinite(room):
        return time_s
    energy = np.asarray(dynamic_j, dtype=float)
    if room <= 0:
        return np.where(energy > 0, np.inf, time_s)
    if energy.size == 0 or float(energy.max()) <= room * float(np.min(time_s)):
        return time_s  # within the limit everywhere (a sweep's common case: two reductions)
    # element by element by the same test, so an entry within the limit keeps its time
    # whatever the other entries of a sweep do
    return np.where(energy > room * np.asarray(time_s), energy / room, time_s)


def run_energy_j(dev: Device, n_devices: int, busy_devices: int, dynamic_j: Any, busy_s: Any,
                 total_s: Any) -> Any:  # fmt: skip
    """Energy of a run (J): every device idles for ``total_s``, ``busy_devices`` (one
    pipeline stage's tensor-parallel group) draw the active floor for ``busy_s``, plus the
    dynamic energy of all devices."""
    return n_devices * dev.static_power_w * total_s + busy_devices * active_w(dev) * busy_s + dynamic_j
