"""A decode step's ``evaluate_groups`` (sim/iteration.py) prices each group only when it is
read, on that group's ops alone: every group's time, at every candidate of a table of
splits, equals the same group's time from pricing the whole placed phase afresh."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.experiments.h2m2 import options, systems
from hetsim.experiments.h2m2_knobs import CALIBRATED
from hetsim.placement.group_memo import GroupMemo
from hetsim.placement.phase import SYNC_GROUPS, per_candidate, price_phase
from hetsim.placement.record import group_of
from hetsim.placement.search import _levels, _placement
from hetsim.sim.iteration import decode_step
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")
KNOBS = options(CALIBRATED)
DEV = systems(CALIBRATED).h2m2


@pytest.mark.parametrize("table", SYNC_GROUPS)
def test_each_group_read_alone_equals_the_whole_phase(table: str) -> None:
    step = decode_step(get_model("llama2-70b"), PREC, DEV, 32, 32 * 2048, knobs=KNOBS)
    p = step.problem
    assert p.evaluate_groups is not None
    # one group swept over every split, the others split part-way (the qkv group's KV
    # writes then follow the attention split)
    share: dict[str, object] = {g: 0.5 for g in SYNC_GROUPS}
    share[table] = _levels(p.parts[table])
    pl = _placement(p, "probe", 1, share)
    lazy = p.evaluate_groups(pl)
    placed = [o for o in step.ops if group_of(o) is not None]
    whole = price_phase(placed, DEV, PREC, pl, tp=step.tp, knobs=KNOBS, memo=GroupMemo())
    assert list(lazy) == list(SYNC_GROUPS) and len(lazy) == len(SYNC_GROUPS)
    for g in SYNC_GROUPS:
        want = per_candidate(whole.group_s[g], pl)
        got = lazy[g]
        assert got.shape == want.shape == (p.parts[table] + 1,)
        assert np.array_equal(got, want), g
        assert np.all(got > 0)
    with pytest.raises(KeyError):
        lazy["head"]
