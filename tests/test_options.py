"""One option set (hetsim.options): every analysis option is accepted by every front end
(``analyze``, ``compare``, an ``explore`` spec, the Python API's ``analyze``/``sweep``/``compare``,
the dashboard's Analyze and Compare pages), reaches the run (the figures move against a
reference), and gives the same figures everywhere; a bad value gets the same one-line error."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hetsim
from hetsim.api.analysis import AnalysisOptions
from hetsim.errors import CapacityError, ConfigError
from hetsim.options import NEGATED_FLAGS, OPTIONS

Run = Callable[..., Any]
BASE: dict[str, Any] = {"model": "llama2-13b", "hardware": "h100-sxm", "batch": 2, "input_len": 256,
                        "output_len": 32}  # fmt: skip
MOE = {"model": "mixtral-8x7b"}
DP = {**MOE, "ep": 2, "dp_attention": True}
SHARED = {"model": "deepseek-v2-lite", "ep": 4, "dp_attention": True}  # 2 shared experts
H2M2 = {"model": "llama2-70b", "hardware": "h2m2", "batch": 256, "input_len": 2048, "policy": "pim-attention"}
BIG = {"model": "llama2-70b", "hardware": "gh200", "batch": 8, "input_len": 4096, "output_len": 512}
# option -> (the options of the run, the reference it must differ from); every option is here
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "model": ({"model": "llama2-7b"}, {}),
    "hardware": ({"hardware": "h200"}, {}),
    "batch": ({"batch": 4}, {}),
    "input_len": ({"input_len": 512}, {}),
    "output_len": ({"output_len": 64}, {}),
    "weight_dtype": ({"weight_dtype": "int8"}, {}),
    "act_dtype": ({"weight_dtype": "fp8", "act_dtype": "fp8"}, {"weight_dtype": "fp8"}),
    "kv_dtype": ({"kv_dtype": "fp8"}, {}),
    "gemm_dtype": ({"gemm_dtype": "fp8"}, {}),
    "weight_group": ({"weight_dtype": "int4", "weight_group": 32}, {"weight_dtype": "int4"}),
    "tp": ({"tp": 2}, {}),
    "pp": ({"pp": 2}, {}),
    "policy": ({**BIG, "policy": "layer-offload"}, BIG),
    "dynamic": ({**BIG, "policy": "offload", "dynamic": False}, {**BIG, "policy": "offload"}),
    "attention": ({"attention": "unfused"}, {}),
    "overlap": ({"overlap": "sum", "calibrated": False}, {"calibrated": False}),
    "framework": ({"framework": "lmdeploy"}, {}),
    "ignore_capacity": ({"model": "llama2-70b", "ignore_capacity": True}, {"model": "llama2-70b"}),
    "calibrated": ({"calibrated": False}, {}),
    "ep": ({**MOE, "tp": 2, "ep": 2}, {**MOE, "tp": 2}),
    "dp_attention": ({**MOE, "ep": 2, "dp_attention": True}, {**MOE, "tp": 2, "ep": 2}),
    "ep_skew": (
        {**MOE, "ep": 2, "dp_attention": True, "ep_skew": 1.5},
        {**MOE, "ep": 2, "dp_attention": True},
    ),
    "ep_redundant": ({**DP, "ep_redundant": 2}, DP),  # 8 experts + 2 replicas: 5 slots a device
    "ep_shared_devices": ({**SHARED, "ep_shared_devices": 2}, SHARED),  # 64 experts on 2 devices
    "spec": ({"spec": "eagle,k=3,accept=0.8"}, {}),
    "interleave": ({**H2M2, "interleave": 2}, H2M2),
}
FIGURES = ("ttft_s", "tpot_s")


def test_every_option_has_a_case() -> None:
    assert sorted(CASES) == sorted(o.name for o in OPTIONS)


def _api(values: dict[str, Any]) -> dict[str, float]:
    v = {**BASE, **values}
    r = hetsim.analyze(v.pop("model"), v.pop("hardware"), **{"ignore_capacity": False, **v})
    return {k: float(getattr(r, k)) for k in FIGURES}


def _flags(values: dict[str, Any]) -> list[str]:
    out = []
    for k, v in values.items():
        if k in NEGATED_FLAGS:
            out += [NEGATED_FLAGS[k]] if v is False else []
        elif isinstance(v, bool):
            out += [f"--{k.replace('_', '-')}"] if v else []
        else:
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def _close(a: dict[str, Any], b: dict[str, float], where: str) -> None:
    for k in FIGURES:
        assert math.isclose(float(a[k]), b[k], rel_tol=1e-9), (where, k, a[k], b[k])


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_option_reaches_the_run_through_every_front_end(name: str, run_cli: Run, tmp_path: Path) -> None:
    run, ref = CASES[name]
    want = _api(run)
    if name == "ignore_capacity":  # the reference does not fit: refused, where the option reports it
        with pytest.raises(CapacityError):
            _api(ref)
    else:
        assert want != _api(ref), f"{name}: the figures do not move"
    v = {**BASE, **run}
    # hetsim analyze / hetsim compare
    r = run_cli("analyze", *_flags(v), "--json")
    assert r.code == 0, r.err
    _close(json.loads(r.out), want, "analyze")
    r = run_cli("compare", *_flags(v), "--json")
    assert r.code == 0, r.err
    _close(json.loads(r.out)[0], want, "compare")
    # the Python API: sweep and compare
    rest = {k: x for k, x in v.items() if k not in ("model", "hardware", "batch", "input_len", "output_len")}
    s = hetsim.sweep(v["model"], v["hardware"], [v["batch"]], [v["input_len"]], [v["output_len"]], **rest)
    _close({k: getattr(s, k)[0] for k in FIGURES}, want, "api sweep")
    cmp = {k: x for k, x in v.items() if k not in ("model", "hardware", "weight_dtype")}
    row = hetsim.compare([v["model"]], [v["hardware"]], [v.get("weight_dtype")], **cmp)[0]
    _close(row, want, "api compare")
    # an explore spec (every option an axis), evaluated as `hetsim explore` does
    _close(_explore(v), want, "explore")
    # the dashboard's Analyze and Compare pages
    _close(_dashboard("analyze", v), want, "dashboard analyze")
    _close(_dashboard("compare", v), want, "dashboard compare")


def _explore(v: dict[str, Any]) -> dict[str, float]:
    from hetsim.explore.evaluate import Evaluator
    from hetsim.explore.spec import parse_spec

    spec = parse_spec({"axes": dict(v), "filters": ["fits"]})
    cols, _ = Evaluator(spec).run(0, spec.n_points)
    assert cols["ttft_s"].size == 1
    return {k: float(cols[k][0]) for k in FIGURES}


def _form(v: dict[str, Any]) -> dict[str, Any]:
    form: dict[str, Any] = {}
    for k, x in v.items():
        if k == "dynamic":
            form["static_placement"] = not x
        elif k == "calibrated":
            form["uncalibrated"] = not x
        else:
            form[k] = x if isinstance(x, bool) else str(x)
    form.setdefault("ignore_capacity", False)
    return form


def _dashboard(page: str, v: dict[str, Any]) -> dict[str, float]:
    from hetsim.web.context import Context
    from hetsim.web.pages import get_page
    from hetsim.web.view import Inputs

    form = _form(v)
    if page == "compare":
        hw = form.pop("hardware")
        tp = form.pop("tp", "1")  # both rows at the run's parallelism (an EP layout needs its TP)
        form.update({"hw1": hw, "tp1": tp, "hw2": hw, "tp2": tp})
    view = get_page(page).build(Inputs(form, {}), Context())
    if page == "analyze":
        return {c.key: float(c.value) for c in view.cards if c.key in FIGURES}
    table = view.tables[0]
    keys = [c.key for c in table.columns]
    return {k: float(table.rows[0][keys.index(k)]) for k in FIGURES}


def test_fp8_comparison_with_fp8_activations_and_kv_differs_from_weight_only(run_cli: Run) -> None:
    """Issue 25: `compare --weight-dtype fp8` alone is an FP8-weight engine with 16-bit
    activations and KV cache; --act-dtype/--kv-dtype make it a full FP8 comparison."""
    base = ("compare", "-m", "llama2-13b", "-H", "h100-sxm,h200", "--weight-dtype", "fp8", "-b", "16",
            "-p", "2048", "--json")  # fmt: skip
    weight_only = json.loads(run_cli(*base).out)
    full = json.loads(run_cli(*base, "--act-dtype", "fp8", "--kv-dtype", "fp8").out)
    for w, f in zip(weight_only, full, strict=True):
        assert w["precision"] != f["precision"] and "KVfp8" in f["precision"].replace("/", "")
        assert f["tpot_s"] < w["tpot_s"] and f["ttft_s"] < w["ttft_s"]  # half the KV and activation bytes


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [("tp", 0, "--tp must be a whole number from 1"), ("act_dtype", "fp9", "unknown data type 'fp9'"),
     ("policy", "ofload", "did you mean offload"), ("framework", "vlm", "did you mean vllm"),
     ("attention", "flash", "--attention must be 'fused' or 'unfused'"),
     ("weight_group", 0, "--weight-group must be a positive number of weights"),
     ("interleave", 0, "--interleave must be a whole number from 1"),
     ("ep_redundant", -1, "--ep-redundant must be a whole number from 0")],
)  # fmt: skip
def test_a_bad_value_gets_the_same_line_everywhere(name: str, value: Any, needle: str, run_cli: Run) -> None:
    from hetsim.explore.spec import parse_spec
    from hetsim.web.context import Context
    from hetsim.web.pages import get_page
    from hetsim.web.view import Inputs

    with pytest.raises(ConfigError) as api:
        hetsim.analyze("llama2-7b", "h100-sxm", **{name: value})
    line = str(api.value)
    assert needle in line and "\n" not in line
    with pytest.raises(ConfigError) as rec:
        AnalysisOptions.parse({name: value})
    assert str(rec.value) == line
    r = run_cli("analyze", "-m", "llama2-7b", "-H", "h100-sxm", *_flags({name: value}))
    assert r.code == 2 and r.err.strip() == f"error: {line}", r.err
    r = run_cli("compare", "-m", "llama2-7b", "-H", "h100-sxm", *_flags({name: value}))
    assert r.code == 2 and r.err.strip() == f"error: {line}", r.err
    axes = {"model": "llama2-7b", "hardware": "h100-sxm", "batch": 1, "input_len": 8, "output_len": 8}
    with pytest.raises(ConfigError) as spec:
        parse_spec({"axes": {**axes, name: value}})
    assert str(spec.value) == line
    with pytest.raises(ConfigError) as page:
        get_page("analyze").build(Inputs({name: str(value)}, {}), Context())
    assert str(page.value) == line


def test_the_ep_skew_default_is_the_models_knob() -> None:
    """options.py keeps EP_SKEW's value without importing NumPy at start-up: the two agree."""
    from hetsim.options import AnalysisOptions
    from hetsim.workload.expert_parallel import EP_SKEW

    assert AnalysisOptions().ep_skew == EP_SKEW


@pytest.mark.parametrize(
    ("layout", "needle"),
    [({**MOE, "ep": 4, "dp_attention": True, "ep_shared_devices": 2}, "no shared experts to give"),
     ({**MOE, "ep": 4, "dp_attention": True, "ep_redundant": 1}, "4 routed-expert devices do not divide"),
     ({**SHARED, "tp": 4, "dp_attention": False, "ep_shared_devices": 1}, "needs --dp-attention")],
)  # fmt: skip
def test_an_impossible_expert_layout_gets_one_line_everywhere(layout: dict[str, Any], needle: str,
                                                              run_cli: Run) -> None:  # fmt: skip
    v = {**BASE, **layout}
    with pytest.raises(ConfigError) as api:
        _api(layout)
    line = str(api.value)
    assert needle in line and "\n" not in line
    for cmd in ("analyze", "compare"):
        r = run_cli(cmd, *_flags(v))
        assert r.code == 2 and r.err.strip() == f"error: {line}", (cmd, r.err)
    with pytest.raises(ConfigError) as spec:
        _explore(v)
    assert str(spec.value) == line
    with pytest.raises(ConfigError) as page:
        _dashboard("analyze", v)
    assert str(page.value) == line


def test_the_ep320_decode_layout_of_cloudmatrix384_as_flags(run_cli: Run) -> None:
    """CloudMatrix384's decode pool (256 routed experts + 32 redundant replicas + 32 shared-expert
    dies = EP320) written as command-line flags gives the study's own decode step; EP320 without
    the slots is refused, as 320 devices do not divide 256 experts."""
    from hetsim.experiments import cloudmatrix as cm
    from hetsim.hardware.loader import get_hardware

    flags = ["analyze", "-m", cm.MODEL, "-H", str(cm.HW), "--weight-dtype", "int8", "--act-dtype", "bf16",
             "--kv-dtype", "bf16", "--gemm-dtype", "int8", "--spec", cm.MTP, "--policy", "primary",
             "-b", "48", "-p", str(cm.PROMPT), "--output-len", str(cm.GENERATED), "--ignore-capacity",
             "--json", "--ep", str(cm.DECODE_EP), "--dp-attention"]  # fmt: skip
    slots = ["--ep-redundant", str(cm.REDUNDANT), "--ep-shared-devices", str(cm.SHARED)]
    r = run_cli(*flags, *slots)
    assert r.code == 0, r.err
    want = cm._decode(get_hardware(str(cm.HW)), 48)["tpot_ms"] / 1e3
    assert math.isclose(json.loads(r.out)["tpot_s"], want, rel_tol=1e-9)
    r = run_cli(*flags)
    assert r.code == 2 and "--ep 320 does not divide the 256 routed experts" in r.err, r.err
