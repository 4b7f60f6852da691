"""``fits`` means one thing on every path: the chosen placement fits the whole device (every
side holds at most its capacity), with each side's share in ``sides``; ``capacity_bytes`` is
every side's capacity together. It used to be the primary side alone on the primary path and
the whole device on the placed ones."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.hardware.loader import list_hardware
from tests.conftest import CliResult

GB = 1e9
DEVICES = [*sorted(d.name for d in list_hardware() if len(d.sides) > 1), "h100-sxm", "a100-80gb-sxm"]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(DEVICES),
    st.sampled_from(("primary", "auto", "offload", "hierarchical")),
    st.sampled_from(("llama2-7b", "llama2-70b", "mixtral-8x7b")),
    st.integers(1, 64),
    st.integers(16, 4096),
)
def test_fits_is_every_side_on_every_path(hw: str, policy: str, model: str, batch: int, prompt: int) -> None:
    dev = hetsim.get_hardware(hw)
    r = hetsim.analyze(model, dev, hetsim.Workload(batch, prompt, 64), policy=policy)
    assert len(r.sides) == len(dev.sides)
    assert r.capacity_bytes == sum(s.memory.capacity_bytes for s in dev.sides)
    assert [s.capacity_bytes for s in r.sides] == [s.memory.capacity_bytes for s in dev.sides]
    assert r.fits == all(s.fits for s in r.sides), (r.policy, [(s.name, s.resident_bytes) for s in r.sides])
    for s in r.sides:  # a side fits when it holds at most its capacity (up to float round-off)
        held, cap = s.resident_bytes, s.capacity_bytes
        assert held <= cap * (1 + 1e-9) if s.fits else held > cap
    assert r.fits or any(n.startswith("does not fit: ") for n in r.notes)


def test_primary_on_gh200_reports_the_whole_device_per_side() -> None:
    """llama2-70b B=8 2048+512 does not fit the 96 GB of HBM the primary policy uses: fits is
    false, and the sides say where (the LPDDR holds nothing under this policy)."""
    w = hetsim.Workload(8, 2048, 512)
    prim = hetsim.analyze("llama2-70b", "gh200", w, policy="primary")
    auto = hetsim.analyze("llama2-70b", "gh200", w)
    assert not prim.fits and auto.fits and auto.policy == "offload"
    assert prim.capacity_bytes == auto.capacity_bytes == 576 * GB
    hbm, lpddr = prim.sides
    assert (
        not hbm.fits
        and hbm.resident_bytes == prim.footprint_bytes
        and lpddr.fits
        and lpddr.resident_bytes == 0
    )
    assert "does not fit: hbm 146.8 of 96.0 GB, lpddr 0.0 of 480.0 GB" in prim.notes


def test_json_and_table_say_the_same(run_cli: Callable[..., CliResult]) -> None:
    args = ("analyze", "-m", "llama2-70b", "-H", "gh200", "-b", "8", "-p", "2048", "-g", "512")
    for policy, fits in (("primary", False), ("auto", True)):
        r = run_cli(*args, "--policy", policy, "--ignore-capacity", "--json")
        assert r.code == 0, r.err
        data = json.loads(r.out)
        assert data["fits"] is fits and data["capacity_bytes"] == 576 * GB
        assert [s["fits"] for s in data["sides"]] == ([False, True] if policy == "primary" else [True, True])
    table = run_cli(*args, "--policy", "primary", "--ignore-capacity")
    assert table.code == 0, table.err
    assert "576.00 GB (2 memory sides)" in table.out and "hbm holds 146.81 GB of 96.00 GB" in table.out
