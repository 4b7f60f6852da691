"""The cheapest fleet (cost/fleet.py): Mélange's bin packing as an integer program."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.cost.fleet import cheapest_fleet, single_type
from hetsim.errors import ConfigError


def test_the_released_solvers_documented_example() -> None:
    # tyler-griggs/melange-release melange/config/example.json (rate 30, slice factor 1) and its
    # README's result: {"A10G": 3, "A100-80GB": 1, "cost": 6.7}
    rates = np.array([0.2, 0.1, 0.5, 0.2]) * 30.0
    tputs = np.array([[2, 20], [1, 20], [5, 40], [2, 20]], dtype=float)
    fleet = cheapest_fleet(("A10G", "A100-80GB"), rates, tputs, [1.01, 3.67])
    assert fleet.mix() == {"A10G": 3, "A100-80GB": 1}
    assert fleet.usd_per_hour == pytest.approx(6.70)
    single = single_type(("A10G", "A100-80GB"), rates, tputs, [1.01, 3.67])
    assert single == pytest.approx({"A10G": 12 * 1.01, "A100-80GB": 2 * 3.67})


def test_a_type_that_cannot_serve_a_slice_is_never_given_it() -> None:
    fleet = cheapest_fleet(("cheap", "big"), [1.0, 1.0], [[0.0, 4.0], [10.0, 4.0]], [1.0, 5.0])
    assert fleet.assignment[0] == 1
    assert (
        single_type(("cheap", "big"), [1.0, 1.0], [[0.0, 4.0], [10.0, 4.0]], [1.0, 5.0])["cheap"] == math.inf
    )
    with pytest.raises(ConfigError, match="no type that can serve"):
        cheapest_fleet(("a",), [1.0], [[0.0]], [1.0])
    with pytest.raises(ConfigError, match="one positive price"):
        cheapest_fleet(("a", "b"), [1.0], [[1.0, 1.0]], [1.0])


@given(
    st.lists(
        st.tuples(st.floats(0.0, 20.0), st.floats(0.5, 50.0), st.floats(0.5, 50.0)), min_size=1, max_size=6
    ),
    st.floats(0.5, 3.0),
    st.floats(3.0, 10.0),
)
def test_the_mix_is_never_dearer_than_one_type_and_carries_every_load(
    rows: list[tuple[float, float, float]], p0: float, p1: float
) -> None:
    rates = np.array([r[0] for r in rows])
    cap = np.array([[r[1], r[2]] for r in rows])
    fleet = cheapest_fleet(("a", "b"), rates, cap, [p0, p1])
    single = single_type(("a", "b"), rates, cap, [p0, p1])
    assert fleet.usd_per_hour <= min(single.values()) + 1e-9
    for j in range(2):  # every type has the devices its slices' loads need
        load = sum(rates[i] / cap[i, j] for i in range(len(rows)) if fleet.assignment[i] == j)
        assert fleet.counts[j] + 1e-6 >= load


def test_the_solver_runs_with_its_c_level_output_swallowed(capfd: pytest.CaptureFixture[str]) -> None:
    """HiGHS prints a debug line from C++ in some builds: nothing written to descriptor 1 while
    it runs (buffered by the C library or not) reaches the output; what Python prints after does."""
    import ctypes
    import os

    from hetsim.cost.fleet import _quiet_solver

    with _quiet_solver():
        os.write(1, b"raw noise\n")
        ctypes.CDLL(None).printf(b"buffered noise\n")
    print("kept")
    out = capfd.readouterr().out
    assert "noise" not in out
    assert "kept" in out
