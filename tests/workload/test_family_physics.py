"""Physics of the 2024-26 presets: utilisation never above 1 and a larger batch never makes a
step faster, for every new preset at several batches and precisions (the sweep path)."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.sim.inference import sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model, list_models

NEW = sorted(m.name for m in list_models() if "config.json (https://huggingface.co" in m.source)
PRECISIONS = {"bf16": Precision.of("bf16"), "fp8": Precision.of("fp8"), "awq": Precision.of("awq")}
BATCHES = np.array([1.0, 2.0, 8.0, 32.0, 128.0, 512.0])


def _tp(name: str) -> int:
    m = get_model(name)
    kv, lin = m.n_kv_heads, m.linear_k_heads if m.has_linear_layers else 1
    return next(
        t for t in (8, 4, 2, 1) if m.n_heads % t == 0 and (kv % t == 0 or t % kv == 0) and lin % t == 0
    )


@pytest.mark.parametrize("prec", sorted(PRECISIONS))
@pytest.mark.parametrize("name", NEW)
def test_utilisation_at_most_one_and_batch_never_faster(name: str, prec: str) -> None:
    r = sweep(name, "h200", BATCHES, 1024, 64, PRECISIONS[prec], tp=_tp(name), policy="primary")
    assert np.all(np.isfinite(r.tpot_s)) and np.all(r.tpot_s > 0)
    assert np.all(r.mfu <= 1.0) and np.all(r.mbu <= 1.0), (r.mfu, r.mbu)
    assert np.all(np.diff(r.tpot_s) >= -1e-12), r.tpot_s  # a bigger batch never makes a step faster
    assert np.all(np.diff(r.ttft_s) >= -1e-12), r.ttft_s
