"""Physics of the phase pricer with the H2M2 study's knobs (group-level sync, duplicated
norms, fill rows, overlap): per-op costs add up to the phase, the phase is never faster than
any side's memory traffic allows, more bandwidth on a side never slows a fixed placement, and
a group split between two chips moves each part's bytes to exactly the side holding it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.experiments.h2m2 import options, systems
from hetsim.experiments.h2m2_knobs import CALIBRATED
from hetsim.hardware.spec import Device
from hetsim.placement.phase import price_phase
from hetsim.placement.search import _placement
from hetsim.sim.iteration import decode_step, iteration
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")
KNOBS = options(CALIBRATED)
DEV = systems(CALIBRATED).h2m2
MODELS = ("llama2-70b", "chinchilla-70b", "gpt3-175b")


def _faster(side: int, k: float) -> Device:
    s = DEV.sides[side]
    mem = replace(s.memory, bandwidth_bytes_per_s=s.memory.bandwidth_bytes_per_s * k)
    return replace(
        DEV, sides=tuple(replace(x, memory=mem) if i == side else x for i, x in enumerate(DEV.sides))
    )


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(MODELS), st.integers(4, 128), st.integers(128, 4096),
       st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3), st.integers(0, 1),
       st.floats(1.0, 4.0))  # fmt: skip
def test_phase_physics(model: str, batch: int, seq: int, x: list[float], side: int, k: float) -> None:
    m = get_model(model)
    step = decode_step(m, PREC, DEV, batch, batch * seq, knobs=KNOBS)
    p = step.problem
    share = {
        g: round(v * p.parts[g]) / p.parts[g] for g, v in zip(("attention", "qkv", "fc"), x, strict=True)
    }
    pl = _placement(p, "probe", 1, share)
    c = iteration(step, pl, knobs=KNOBS)
    assert np.isfinite(c.time_s) and c.time_s > 0 and c.energy_j > 0
    # never faster than either side can move its bytes
    for s, nbytes in enumerate(c.side_bytes):
        assert c.time_s >= nbytes / DEV.sides[s].memory.bandwidth_bytes_per_s * (1 - 1e-9)
    # the evaluated phase time is the priced iteration (one pricing path)
    assert p.evaluate is not None
    assert abs(float(p.evaluate(pl)) - c.time_s) <= 1e-12 * c.time_s
    # more bandwidth on either side never slows the same placement
    fast_step = decode_step(m, PREC, _faster(side, k), batch, batch * seq, knobs=KNOBS)
    assert iteration(fast_step, pl, knobs=KNOBS).time_s <= c.time_s * (1 + 1e-12)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(MODELS), st.integers(4, 128), st.integers(128, 4096), st.floats(0.0, 1.0))
def test_split_weights_and_kv_land_where_they_are_held(model: str, batch: int, seq: int, x: float) -> None:
    """Weights and KV read per iteration split exactly by the shares (activations are
    duplicated, norms run on both chips, so only weight + KV bytes are conserved)."""
    m = get_model(model)
    step = decode_step(m, PREC, DEV, batch, batch * seq, knobs=KNOBS)
    p = step.problem
    share = {g: round(x * p.parts[g]) / p.parts[g] for g in ("attention", "qkv", "fc")}
    pl = _placement(p, "probe", 1, share)
    ph = price_phase(list(step.ops), DEV, PREC, pl, knobs=KNOBS)
    for op, pc in zip(step.ops, ph.costs, strict=True):
        if op.sublayer not in share:
            continue
        f = share[op.sublayer]
        held = (op.weight_bytes if op.sublayer != "attention" else op.kv_read_bytes) * op.count
        act = (op.act_read_bytes + op.act_write_bytes) * op.count
        kvw = op.kv_write_bytes * op.count
        on0, on1 = float(np.asarray(pc.side_bytes[0])), float(np.asarray(pc.side_bytes[1]))
        assert on0 + on1 <= held + 2 * act + 2 * kvw + 1.0
        assert on0 + on1 >= held - 1.0
        assert on0 >= f * held - 1.0 and on1 >= (1 - f) * held - 1.0
