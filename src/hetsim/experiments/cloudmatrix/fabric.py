"""The CloudMatrix384 study's fabric: the UB link at the rate the paper measured for its own
decode dispatch and combine operators, and hetsim's all-to-all on the bare link for the paper's
dispatch microbenchmark."""

from __future__ import annotations

from typing import Any

# the paper's FusedDispatch + FusedCombine at EP256 (128 tokens a rank, top-8, 7,168 wide: INT8
# dispatch 7.3 MB in 152 us, BF16 combine 14.7 MB in 149 us): 22.0 MB in 301 us
MEASURED_A2A_BYTES_PER_S = (128 * 8 * 7168 * 3) / 301e-6
MEASURED_DISPATCH_EP256_S = 152e-6


def dispatch_check(dev: Any) -> float:
    """Seconds hetsim's all-to-all takes for the paper's dispatch microbenchmark: 128 tokens a
    die, each to 8 experts, 7,168 INT8 values a row, over 256 dies."""
    from hetsim.cost.collectives import Fabric, all_to_all

    return float(all_to_all(128 * 8 * 7168.0, 256, Fabric.of(dev)).time_s)


def measured_fabric(dev: Any) -> Any:
    """The die with its UB link at the bandwidth the paper's own decode dispatch and combine
    operators reach at EP256 (the operators' software, not the link, sets it)."""
    from dataclasses import replace

    return replace(
        dev, interconnect=replace(dev.interconnect, bandwidth_bytes_per_s=MEASURED_A2A_BYTES_PER_S)
    )
