"""Board power of a run: idle + active floor + dynamic energy, within the board's power limit.

    P(t) = P_idle                              the board is on (``Device.static_power_w``)
         + P_active       while kernels run     clocks up, every SM, L2 and HBM PHY powered:
                                                a floor that does not scale with the work
         + dynamic        per op               flop x J/flop + bits moved x J/bit + link bits
                                                (``cost/roofline.py``); on a device with
                                                calibrated kernels each bit read from memory
                                                also pays its trip across the chip to the cores
                                                (:data:`ONCHIP_J_PER_BIT`)

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

The two knobs are fitted together on the average power of ML.ENERGY's runs (calibration/energy.py):
the floor is pinned by the batch-1 runs, where little is moved, and the on-chip energy by the
large-batch ones, where the boards draw 600-970 W of their 700-1,000 W (H100, B200) while the DRAM
access energy alone priced ~100 W above the floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import Device

# Share of (ceiling - idle) drawn above idle whenever kernels run, whatever they do.
# Fitted together with ONCHIP_J_PER_BIT (below) on the avg_power rows of ML.ENERGY v1
# (data/measurements/published/energy_published.csv: A100 and A40, 9 LLaMA-shaped models, batch
# 1-2) and ML.ENERGY v3 (mlenergy_leaderboard_v3.csv: vLLM on H100 and B200): least squares in
# relative error (calibration/energy.py::fit_power); each GPU scored with both knobs fitted on the
# other three (leave_one_gpu_out; docs/calibration.md, "Energy"). Was 0.399 fitted on v1 alone,
# without the on-chip term, which left large-batch boards ~200 W short.
ACTIVE_POWER_FRACTION = 0.418
# Energy a GPU spends carrying one bit read from memory to its cores (J/bit): memory controller,
# L2, crossbar, shared memory and registers, on top of the DRAM's own access energy
# (``MemoryTier.energy_j_per_bit``: HBM2 ~3.9 pJ/bit, O'Connor et al., MICRO 2017). Order of
# magnitude from the parts: ~0.1-0.2 pJ/bit per mm of on-chip wire over 10-20 mm and ~0.2 pJ/bit per
# SRAM access (Keckler et al., "GPUs and the future of parallel computing", IEEE Micro 2011);
# data movement is most of an A100's dynamic energy, DRAM first (Delestrac et al., ASAP 2024).
# Priced on devices with calibrated kernels (a GPU, fitted or transferred); a datasheet-only
# device (PIM, CPU, systolic) keeps its tier's figure alone. Fitted with ACTIVE_POWER_FRACTION on
# the avg_power rows of ML.ENERGY v1 (A100, A40, batch 1-2) and v3 (H100, B200, vLLM, batch
# 8-1,021); each GPU scored with both knobs fitted on the other three (leave_one_gpu_out).
ONCHIP_J_PER_BIT = 4.37e-12


def onchip_j_per_bit(kernels: KernelParams | None) -> float:
    """On-chip energy per bit a device's cores read from memory (J/bit): :data:`ONCHIP_J_PER_BIT`
    where its kernels are calibrated, else 0."""
    return 0.0 if kernels is None else ONCHIP_J_PER_BIT


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
