"""The Ray backend on a real local Ray instance (2 CPUs): its store equals the pool's row for row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hetsim.explore import explore, read_results
from hetsim.explore.backends import BackendError

ray = pytest.importorskip("ray")
SPEC = {"axes": {"model": ["llama2-7b", "llama2-13b"], "hardware": ["h100-sxm", "h200"], "tp": [1, 2],
                 "batch": [1, 8, 32, 128], "input_len": [256, 2048], "output_len": [32, 256]},
        "chunk_size": 16}  # fmt: skip  # 128 points in 8 chunks


def test_unreachable_address_fails_fast_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"cannot reach Ray at '127\.0\.0\.1:1'"):
        explore(SPEC, tmp_path / "s", ray="127.0.0.1:1")
    assert not (tmp_path / "s").exists()  # nothing written


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_equals_pool_row_for_row(local_ray: None, tmp_path: Path) -> None:
    a = explore(SPEC, tmp_path / "ray", ray="auto")
    b = explore(SPEC, tmp_path / "pool", workers=2)
    assert a.rows == b.rows > 0 and a.n_chunks == 8
    ra, rb = read_results(tmp_path / "ray"), read_results(tmp_path / "pool")
    oa, ob = np.argsort(ra["index"]), np.argsort(rb["index"])
    assert list(ra) == list(rb)
    for c in ra:
        assert ra[c][oa].tolist() == rb[c][ob].tolist(), c
