"""An explore point's figures do not depend on which chunk, worker or backend evaluated it
(issue 19): chunks that cut the configuration groups anywhere, the process pool and a real
local Ray instance give bit-identical rows, each equal to the point swept alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hetsim
from hetsim.explore import explore, read_results

# two-tier systems under auto (placement chosen per point) and a homogeneous GPU; batches and
# lengths where the workspace lands on different sides and offload's split differs per point
SPEC: dict[str, Any] = {
    "axes": {
        "model": ["llama3-70b", "llama2-13b"],
        "hardware": ["gh200", "h2m2", "h100-sxm"],
        "policy": "auto",
        "batch": [1, 7, 64],
        "input_len": [512, 8192],
        "output_len": [16, 2048],
    },
    "filters": ["divisible", "applicable"],  # every point written, fits or not
}
COLUMNS = ("ttft_s", "tpot_s", "e2e_latency_s", "mbu", "mfu", "energy_j_per_token", "placed_policy", "fits")


def _rows(out: Path) -> dict[int, tuple[Any, ...]]:
    r = read_results(out)
    return {int(i): tuple(r[c][k] for c in COLUMNS) for k, i in enumerate(r["index"])}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_chunks_workers_and_backends_give_the_same_rows(tmp_path: Path, local_ray: Any) -> None:
    whole = explore({**SPEC, "chunk_size": 4096}, tmp_path / "whole", workers=1)
    cut = explore({**SPEC, "chunk_size": 5}, tmp_path / "cut", workers=2)  # cuts through every group
    ray = explore({**SPEC, "chunk_size": 7}, tmp_path / "ray", ray="auto")
    assert whole.rows == cut.rows == ray.rows == 72 and cut.n_chunks == 15
    a, b, c = _rows(tmp_path / "whole"), _rows(tmp_path / "cut"), _rows(tmp_path / "ray")
    assert a == b == c
    # and each is the point swept alone
    r = read_results(tmp_path / "whole")
    for k in np.random.default_rng(0).choice(len(r["index"]), 12, replace=False):
        one = hetsim.sweep(str(r["model"][k]), str(r["hardware"][k]), [int(r["batch"][k])],
                           [int(r["input_len"][k])], [int(r["output_len"][k])])  # fmt: skip
        assert float(one.ttft_s[0]) == r["ttft_s"][k] and float(one.e2e_latency_s[0]) == r["e2e_latency_s"][k]
        assert str(one.policy[0]) == r["placed_policy"][k]
