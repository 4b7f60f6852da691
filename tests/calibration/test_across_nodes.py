"""All-reduce rows over several nodes are priced hierarchically over the preset's scale-out
network where the row's nodes are the preset's (devices per node), skipped otherwise, and never
fitted on."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.calibration.api import committed_role, validate
from hetsim.cost.collectives import Fabric, all_reduce
from hetsim.hardware.loader import get_hardware
from tests.calibration.test_measurements import write_csv

ROW = {"source_id": "t", "hardware": "B200 (4 nodes x 8x B200)", "n_devices": 32, "precision": "FP32",
       "batch_or_concurrency": "size=16MiB per rank (16777216 bytes)", "tp": 32, "pp": 1,
       "metric": "allreduce_bus_bandwidth", "value": 64.43, "unit": "GB/s",
       "notes": "devices_per_node=8"}  # fmt: skip


def test_an_all_reduce_over_nodes_like_the_presets_is_priced_across_them(tmp_path: Path) -> None:
    odd = {**ROW, "notes": "devices_per_node=4"}  # the preset's nodes hold 8: not its topology
    one = {**ROW, "n_devices": 8, "tp": 8, "notes": "devices_per_node=8"}
    res = validate([write_csv(tmp_path / "m.csv", [ROW, odd, one])])
    assert res.skipped == {"multi_node_collective": 1}
    across, inside = sorted(res.scored, key=lambda s: -s.row.n_devices)
    assert committed_role(across.row) == "held-out"
    dev = get_hardware("b200")
    b = 16777216.0
    cost = all_reduce(b, 32, Fabric.of(dev), dev.kernels)
    assert cost.algorithm.startswith("hierarchical")
    # nccl-tests bus bandwidth: size / time x 2 (n - 1) / n
    assert across.predicted == pytest.approx(b / float(cost.time_s) * 2 * 31 / 32, rel=1e-9)
    # the same bytes inside one node are faster per rank than across four nodes' NICs
    assert inside.predicted > across.predicted
