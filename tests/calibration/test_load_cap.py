"""The per-SM load cap: measured from a fit GPU's gpu-stream read (never from a DRAM-bound one),
and binding on streaming ops only where a GPU has more bandwidth than its SMs can keep in flight."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hetsim.calibration.api import load
from hetsim.calibration.load_cap import measure_load_issue
from hetsim.cost.kernels import kernel_times
from hetsim.hardware.loader import get_hardware
from hetsim.workload.ops import Op
from tests.calibration.test_measurements import write_csv

READ = {"source_id": "t", "n_devices": 1, "model": "stream kernel read", "precision": "FP64",
        "batch_or_concurrency": "blockSize=1024, threads=221184, occupancy=100%", "tp": 1, "pp": 1,
        "metric": "stream_bandwidth:read", "unit": "GB/s"}  # fmt: skip


def test_cap_is_measured_on_a_read_below_dram_rate(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "gpu_stream.csv", [
        {**READ, "hardware": "A100 80GB", "value": 1769},  # 0.87 of 2,039 GB/s: SM-bound
        {**READ, "hardware": "A40", "value": 679},  # 0.98 of 696 GB/s: DRAM-bound, says nothing
    ])  # fmt: skip
    _, tasks, _, devices = load([csv])
    cap = measure_load_issue(tasks, devices)
    assert cap.load_issue == pytest.approx(1769e9 / (108 * 1.41e9), rel=1e-9)
    assert "a100-80gb-sxm" in cap.source
    only_a40 = measure_load_issue([t for t in tasks if t.hardware == "a40"], devices)
    assert only_a40.load_issue == 0.0 and "no cap" in only_a40.source


def _kv_read(nbytes: float) -> Op:
    return Op("attention", "attention", "attention", "matrix", 1, flop=nbytes / 4, kv_read_bytes=nbytes)


def test_cap_binds_on_h200_attention_not_on_gemms_or_dram_bound_gpus() -> None:
    op = _kv_read(1e9)
    h200, a40 = get_hardware("h200"), get_hardware("a40")
    for dev in (h200, a40):
        assert dev.kernels is not None and dev.kernels.load_issue > 0
    kp = h200.kernels
    assert kp is not None
    unit, mem = h200.primary.unit_for("matrix"), h200.primary.memory
    _, memory_s, _ = kernel_times(op, unit, mem, unit.peak("fp16"), kp)
    cap_bw = kp.load_issue * unit.n_parallel * unit.clock_hz
    assert cap_bw < kp.memory_efficiency * mem.bandwidth_bytes_per_s  # the SMs, not the HBM, limit
    assert memory_s == pytest.approx(1e9 / cap_bw, rel=1e-9)
    # more HBM bandwidth is never slower, and beyond the cap it buys nothing
    fast = replace(mem, bandwidth_bytes_per_s=2 * mem.bandwidth_bytes_per_s)
    assert kernel_times(op, unit, fast, unit.peak("fp16"), kp)[1] == pytest.approx(memory_s, rel=1e-12)
    # without the cap the same read is DRAM-priced
    _, uncapped, _ = kernel_times(op, unit, mem, unit.peak("fp16"), replace(kp, load_issue=0.0))
    assert uncapped < memory_s
    # a GEMM streaming its weights is not capped
    gemm = Op("w", "fc", "gemm", "matrix", 1, flop=2 * 8 * 8192 * 8192, weight_bytes=8192 * 8192 * 2,
              gemm_m=8, gemm_n=8192, gemm_k=8192)  # fmt: skip
    a = kernel_times(gemm, unit, mem, unit.peak("fp16"), kp)
    b = kernel_times(gemm, unit, mem, unit.peak("fp16"), replace(kp, load_issue=0.0))
    assert a == b
    # the A40's GDDR6 is slower than its SMs' cap: DRAM-priced, cap or not
    ua, ma = a40.primary.unit_for("matrix"), a40.primary.memory
    ka = a40.kernels
    assert ka is not None
    assert kernel_times(op, ua, ma, ua.peak("fp16"), ka)[1] == pytest.approx(
        kernel_times(op, ua, ma, ua.peak("fp16"), replace(ka, load_issue=0.0))[1], rel=1e-12
    )
