"""The per-SM load cap (``KernelParams.load_issue``), measured on the fit hardware's stream rows.

A kernel that streams data (decode attention reading the KV cache, a gather, gpu-stream's
kernels) can only have so many accesses in flight per SM; by Little's law its bandwidth is at
most (bytes in flight per SM / latency) x SMs, i.e. ``load_issue`` bytes per SM per clock times
the datasheet SM count and clock. It binds where a GPU has much bandwidth per SM-clock: the
H200 (the H100's 132 SMs at 1.98 GHz with 4.8 TB/s) reads 2.76 TB/s in gpu-stream, 0.57 of its
datasheet, against 0.87 on an A100 and 0.97 on an H100 PCIe.

The cap is *measured*, not fitted: the largest read rate per SM per clock that a fit GPU's
100%-occupancy ``stream_bandwidth:read`` row shows, counting only GPUs whose read stays below
:data:`DRAM_BOUND_FRACTION` of their datasheet bandwidth (a GPU reading at its DRAM's rate says
nothing about the SMs' cap: the A40 reads 679 of 696 GB/s). No such row: no cap (0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hetsim.calibration.predict import Task
from hetsim.hardware.spec import Device

READ_METRIC = "stream_bandwidth:read"
DRAM_BOUND_FRACTION = 0.95  # a read at >= this fraction of the datasheet bandwidth is DRAM-bound


@dataclass(frozen=True, slots=True)
class LoadCap:
    load_issue: float  # bytes per SM per clock; 0: no informative row
    source: str  # the rows it came from, for the provenance


def measure_load_issue(tasks: Sequence[Task], devices: Mapping[str, Device]) -> LoadCap:
    """The load cap from the ``stream_bandwidth:read`` rows of ``tasks`` (their kernel rows)."""
    best = LoadCap(0.0, "no stream read row below its DRAM's rate in the fit rows: no cap")
    for t in tasks:
        dev = devices[t.hardware]
        unit = dev.primary.unit_for("vector")
        cores_hz = unit.n_parallel * unit.clock_hz
        dram = dev.primary.memory.bandwidth_bytes_per_s
        for r in t.rows:
            if t.family != "kernel" or r.metric != READ_METRIC or cores_hz <= 0:
                continue
            if r.value >= DRAM_BOUND_FRACTION * dram:
                continue
            rho = r.value / cores_hz
            if rho > best.load_issue:
                best = LoadCap(
                    rho,
                    f"{r.file} {t.hardware} read at 100% occupancy, {r.value / 1e9:,.0f} GB/s / "
                    f"({unit.n_parallel} SMs x {unit.clock_hz / 1e9:.3g} GHz datasheet clock)",
                )
    return best
