"""Chunk evaluation: rows equal the core sweep, cost arithmetic, physics of swept hardware."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hetsim
from hetsim.cost.prices import default_prices, device_capex
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import parse_spec

AXES = {"model": ["llama2-7b", "llama2-13b"], "hardware": ["h100-sxm", "a100-80gb-sxm"], "tp": [1, 2],
        "batch": [1, 16, 64], "input_len": [256, 1024], "output_len": [32, 128]}  # fmt: skip


def _eval(raw: dict) -> dict:  # type: ignore[type-arg]
    spec = parse_spec(raw)
    ev = Evaluator(spec)
    cols, _ = ev.run(0, spec.n_points)
    return cols


def test_every_row_equals_the_core_sweep() -> None:
    cols = _eval({"axes": AXES, "filters": []})
    assert cols["index"].tolist() == list(range(2 * 2 * 2 * 3 * 2 * 2))
    for i in (0, 7, 29, 47):
        r = hetsim.analyze(str(cols["model"][i]), str(cols["hardware"][i]),
                           hetsim.Workload(int(cols["batch"][i]), int(cols["input_len"][i]),
                                           int(cols["output_len"][i])), tp=int(cols["tp"][i]))  # fmt: skip
        assert cols["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-9)
        assert cols["ttft_s"][i] == pytest.approx(r.ttft_s, rel=1e-9)
        assert cols["energy_j_per_token"][i] == pytest.approx(r.energy_j_per_token, rel=1e-9)


def test_cost_columns_follow_their_definitions() -> None:
    c = _eval({"axes": AXES})
    book = default_prices()
    hours = book.amortization_years.value * 8760 * book.utilization.value
    per_hour = (
        c["capex_usd"] / hours + c["avg_power_w"] / 1e3 * book.pue.value * book.electricity_usd_per_kwh.value
    )
    np.testing.assert_allclose(c["usd_per_hour"], per_hour, rtol=1e-12)
    np.testing.assert_allclose(
        c["usd_per_mtoken"], per_hour / (c["output_throughput_tok_per_s"] * 3600) * 1e6
    )
    one = device_capex(hetsim.get_hardware("h100-sxm")).total_usd
    h = c["hardware"] == "h100-sxm"
    np.testing.assert_allclose(c["capex_usd"][h], one * c["tp"][h])
    assert c["fits"].all()  # the default 'fits' filter removed the rest
    assert (c["mbu"] <= 1).all() and (c["mfu"] <= 1).all()


def test_prices_in_the_spec_override_the_book() -> None:
    raw = {"axes": {**AXES, "hardware": "h100-sxm"}, "prices": {"devices": {"h100-sxm": 10000}}}
    c = _eval(raw)
    mem = 80 * default_prices().memory_usd_per_gb["HBM3"].value
    np.testing.assert_allclose(c["capex_usd"], 10000 * c["tp"])
    assert mem < 10000


@given(st.sampled_from([1, 8, 64]), st.sampled_from([512, 4096]))
def test_more_hbm_bandwidth_is_never_slower_and_more_capacity_costs_more(batch: int, ctx: int) -> None:
    raw = {"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "batch": batch, "input_len": ctx,
                    "output_len": 64},
           "hardware_params": {"hbm.bandwidth": ["1 TB/s", "2 TB/s", "4 TB/s"],
                               "hbm.capacity": ["80 GB", "160 GB"]},
           "filters": []}  # fmt: skip
    c = _eval(raw)
    bw, cap = c["hbm_bandwidth_bytes_per_s"], c["hbm_capacity_bytes"]
    for k in (80e9, 160e9):
        sel = cap == k
        order = np.argsort(bw[sel])
        assert (np.diff(c["tpot_s"][sel][order]) <= 1e-15).all()
        assert (np.diff(c["ttft_s"][sel][order]) <= 1e-15).all()
    extra = c["capex_usd"][cap == 160e9] - c["capex_usd"][cap == 80e9]
    np.testing.assert_allclose(extra, 80 * default_prices().memory_usd_per_gb["HBM3"].value)


def test_compute_scale_and_link_params_apply() -> None:
    raw = {"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "tp": 2, "batch": 64, "input_len": 2048,
                    "output_len": 16},
           "hardware_params": {"hbm.compute_scale": [0.5, 1.0],
                               "interconnect.bandwidth": ["50 GB/s", "900 GB/s"]},
           "filters": []}  # fmt: skip
    c = _eval(raw)
    slow = (c["hbm_compute_scale_x"] == 0.5) & (c["interconnect_bandwidth_bytes_per_s"] == 900e9)
    fast = (c["hbm_compute_scale_x"] == 1.0) & (c["interconnect_bandwidth_bytes_per_s"] == 900e9)
    assert c["ttft_s"][slow][0] > c["ttft_s"][fast][0]  # prefill at 2048 tokens is compute bound
    thin = (c["hbm_compute_scale_x"] == 1.0) & (c["interconnect_bandwidth_bytes_per_s"] == 50e9)
    assert c["ttft_s"][thin][0] > c["ttft_s"][fast][0]  # all-reduces cost time on a thin link


def test_bounds_and_reduction_in_the_worker() -> None:
    full = _eval({"axes": AXES})
    bounded = _eval({"axes": AXES, "filters": ["fits", "tpot_s <= 0.02"]})
    assert (bounded["tpot_s"] <= 0.02).all()
    assert len(bounded["index"]) == int((full["tpot_s"] <= 0.02).sum())
    front = _eval({"axes": AXES, "reduce": {"pareto": True}})
    assert 0 < len(front["index"]) < len(full["index"])
    top = _eval({"axes": AXES, "reduce": {"top_k": {"by": "usd_per_mtoken", "k": 3}}})
    assert sorted(top["usd_per_mtoken"]) == sorted(np.sort(full["usd_per_mtoken"])[:3])


def test_more_hbm_bandwidth_is_never_slower_on_h2m2_under_auto() -> None:
    """Found by studies/h2m2-sensitivity.yaml (Chinchilla-70B B=32, 96 GB HBM, LPDDR 544 GB/s:
    TPOT was 57.2 ms at 2.25 TB/s, 63.5 ms at 4 TB/s; offload's weight split, issue 7b)."""
    raw = {"axes": {"model": "chinchilla-70b", "hardware": "h2m2", "batch": 32, "input_len": 1024,
                    "output_len": 512, "weight_dtype": "int8", "act_dtype": "int8", "kv_dtype": "int8"},
           "hardware_params": {"hbm.capacity": "96 GB", "hbm.bandwidth": ["2.25 TB/s", "3 TB/s", "4 TB/s"],
                               "lpddr.bandwidth": "544 GB/s"}}  # fmt: skip
    c = _eval(raw)
    order = np.argsort(c["hbm_bandwidth_bytes_per_s"])
    assert len(order) == 3
    assert (np.diff(c["tpot_s"][order]) <= 1e-12).all()


def test_gemm_types_the_hardware_lacks_are_filtered_not_fatal() -> None:
    """A hardware x data-type product holds combinations with no matrix unit for the type
    (FP8 GEMMs on an A100): 'applicable' removes them and keeps the rest; without that filter
    the run stops with the one-line error that names the way out."""
    axes = {**AXES, "weight_dtype": ["fp16", "fp8"]}
    spec = parse_spec({"axes": axes, "filters": ["divisible", "applicable"]})
    cols, removed = Evaluator(spec).run(0, spec.n_points)
    pairs = set(zip(cols["hardware"].tolist(), cols["weight_dtype"].tolist(), strict=True))
    assert pairs == {("h100-sxm", "fp16"), ("h100-sxm", "fp8"), ("a100-80gb-sxm", "fp16")}
    assert removed["applicable"] == spec.n_points // 4
    with pytest.raises(hetsim.HetsimError, match="no fp8 matrix rate"):
        _eval({"axes": axes, "filters": ["divisible"]})


def test_batches_below_the_interleave_are_left_out_not_fatal() -> None:
    """A batch axis holding batches below ``interleave`` N (and a one-side device, where nothing
    can interleave): 'applicable' leaves those points out, counted, and explores the rest at the
    figures analyze gives; without that filter the run stops with the one-line error."""
    axes = {"model": "llama2-70b", "hardware": ["h2m2", "h100-sxm"], "policy": "auto", "batch": [1, 2, 8, 64],
            "input_len": 1024, "output_len": 32, "interleave": [1, 4], "ignore_capacity": True}  # fmt: skip
    spec = parse_spec({"axes": axes, "filters": ["applicable"]})
    cols, removed = Evaluator(spec).run(0, spec.n_points)
    kept = set(
        zip(cols["hardware"].tolist(), cols["interleave"].tolist(), cols["batch"].tolist(), strict=True)
    )
    assert kept == {*((hw, 1, b) for hw in ("h2m2", "h100-sxm") for b in (1, 2, 8, 64)), ("h2m2", 4, 8),
                    ("h2m2", 4, 64)}  # fmt: skip
    assert removed["applicable"] == 2 + 4  # h2m2's batches 1 and 2; every h100-sxm point (one side)
    i = int(np.flatnonzero((cols["interleave"] == 4) & (cols["batch"] == 8))[0])
    r = hetsim.analyze("llama2-70b", "h2m2", batch=8, input_len=1024, output_len=32, interleave=4)
    assert cols["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-9)
    with pytest.raises(hetsim.HetsimError, match="cuts the batch into 4 sub-batches, but the batch is 1"):
        _eval({"axes": {**axes, "hardware": "h2m2"}, "filters": []})


def test_one_output_token_has_a_finite_rate_per_user() -> None:
    """One output token has no TPOT; its rate per user was inf (it topped every front): it is
    now that token over the end-to-end latency. Found by tests/explore/test_fuzz_explore.py."""
    spec = parse_spec({"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "batch": [1, 8],
                                "input_len": 128, "output_len": [1, 64]}})  # fmt: skip
    cols, _ = Evaluator(spec).run(0, spec.n_points)
    rate = cols["tok_per_s_per_user"]
    assert np.all(np.isfinite(rate)) and np.all(rate > 0)
    one = cols["output_len"] == 1
    assert np.allclose(rate[one], 1.0 / cols["e2e_latency_s"][one])
    assert np.allclose(rate[~one], 1.0 / cols["tpot_s"][~one])


def test_expert_parallel_and_speculation_axes_equal_the_core_analysis() -> None:
    """``ep``, ``dp_attention`` and ``spec`` axes: each row is what analyze gives; layouts that
    do not apply are removed by ``divisible``; devices count every DP-attention rank."""
    from hetsim.workload.expert_parallel import ExpertParallel
    from hetsim.workload.speculation import Speculation

    axes = {"model": ["deepseek-v3", "llama3.1-8b"], "hardware": "h200", "tp": [1, 8], "ep": [1, 8],
            "dp_attention": ["off", "on"], "spec": ["", "eagle,k=2,accept=0.7"], "batch": [2],
            "input_len": [256], "output_len": [16], "weight_dtype": "fp8"}  # fmt: skip
    c = _eval({"axes": axes, "filters": ["divisible"]})
    dp = (c["dp_attention"] == "on") & (c["model"] == "deepseek-v3")
    assert set(c["ep"][dp].tolist()) == {8} and set(c["tp"][dp].tolist()) == {1}
    assert not ((c["model"] == "llama3.1-8b") & (c["ep"] > 1)).any()  # dense: refused, filtered
    i = int(np.flatnonzero(dp & (c["spec"] != ""))[0])
    spec = Speculation.parse("eagle,k=2,accept=0.7")
    r = hetsim.analyze("deepseek-v3", "h200", hetsim.Workload(2, 256, 16), hetsim.Precision.of("fp8"),
                       experts=ExpertParallel(8, True), speculation=spec)  # fmt: skip
    assert c["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-9)
    assert c["n_devices"][i] == 8
