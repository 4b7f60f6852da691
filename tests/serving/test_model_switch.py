"""Model switching: resident models under LRU, switch time by the one migration formula."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.placement.migration import transfer_bandwidth
from hetsim.serving.model_switch import replay, switch_path


def test_lru_replay_by_hand() -> None:
    # slots 2: a b (miss miss) a (hit) c (miss, evicts b) b (miss, evicts a) c (hit)
    assert replay(["a", "b", "a", "c", "b", "c"], 2) == [False, False, True, False, False, True]
    assert replay(["a", "a"], 1, warm=["a"]) == [True, True]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=60), st.integers(1, 5))
def test_more_slots_never_miss_more(seq: list[int], slots: int) -> None:
    names = [str(x) for x in seq]
    # LRU is a stack algorithm: a larger cache holds a superset, so its hits include the smaller's
    small, large = replay(names, slots), replay(names, slots + 1)
    assert all(b or not a for a, b in zip(small, large, strict=True))
    assert sum(small) <= len(names) - len(set(names))  # every first use misses


def test_sn40l_switch_runs_at_the_ddr_route() -> None:
    dev = get_hardware("sn40l")
    path = switch_path(dev, "ddr", "hbm", 13.5e9, reserve_bytes=8e9)
    names = [s.name for s in dev.sides]
    assert path.bandwidth_bytes_per_s == transfer_bandwidth(dev, names.index("ddr"), names.index("hbm"))
    assert path.slots == 4  # (64 - 8) GB // 13.5 GB
    assert path.switch_s(13.5e9) == pytest.approx(13.5e9 / path.bandwidth_bytes_per_s)


def test_bad_switch_paths_are_refused() -> None:
    dev = get_hardware("sn40l")
    with pytest.raises(ConfigError, match="no side 'dram'"):
        switch_path(dev, "dram", "hbm", 1e9)
    with pytest.raises(CapacityError, match="less than one"):
        switch_path(dev, "ddr", "hbm", 100e9)
    with pytest.raises(ConfigError, match="at least one"):
        replay(["a"], 0)


def test_the_peak_rate_is_the_route_at_its_datasheet_bandwidth() -> None:
    dev = get_hardware("h100-sxmx8+xeon-8480x2+dram:2TB")
    path = switch_path(dev, "host", "gpu", 1.7e9, reserve_bytes=8e9)
    pcie = next(sl.link for sl in dev.side_links() if "PCIe" in sl.link.name)
    assert path.peak_bytes_per_s == pytest.approx(pcie.bandwidth_bytes_per_s)
    assert path.bandwidth_bytes_per_s == pytest.approx(pcie.bandwidth_bytes_per_s * pcie.efficiency)
    assert path.bandwidth_bytes_per_s <= path.peak_bytes_per_s
