"""Serving-mode layout axes (``ep``, ``dp_attention``, ``ep_skew``, ``spec``): each point runs the
layout it names, with the figures of the equivalent ``serve-sim`` command (same seed), or the
spec is refused in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hetsim.errors import ConfigError
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import parse_spec
from tests.conftest import CliResult

Run = Callable[..., CliResult]
BASE = {"model": "qwen3-30b-a3b", "hardware": "h100-sxm", "rate": 4, "requests": 20, "input_len": 256,
        "output_len": 32, "weight_dtype": "fp16"}  # fmt: skip
SIM = ("-m", "qwen3-30b-a3b", "-H", "h100-sxm", "--rate", "4", "--requests", "20", "-p", "256", "-g", "32",
       "--weight-dtype", "fp16", "--json")  # fmt: skip
FIGURES = {"output_throughput_tok_per_s": "output_throughput_tok_per_s", "completed": "completed",
           "ttft_s": ("ttft_s", "mean"), "tpot_p99_s": ("tpot_s", "p99"),
           "e2e_p99_s": ("e2e_latency_s", "p99"), "n_devices": "n_devices",
           "energy_j_per_token": "energy_j_per_token"}  # fmt: skip


def _row(axes: dict[str, Any]) -> dict[str, Any]:
    spec = parse_spec({"mode": "serving", "axes": {**BASE, **axes}})
    cols, removed = Evaluator(spec).run(0, spec.n_points)
    assert cols["index"].size == 1, removed
    return {c: x[0] for c, x in cols.items()}


def _sim(run_cli: Run, *args: str) -> dict[str, Any]:
    r = run_cli("serve-sim", *SIM, *args)
    assert r.code == 0, r.err
    out: dict[str, Any] = json.loads(r.out)
    return out


@pytest.mark.parametrize(
    ("axes", "flags"),
    [
        ({"tp": 2, "ep": 2}, ("--tp", "2", "--ep", "2")),
        ({"tp": 2, "ep": 2, "ep_skew": 1.6}, ("--tp", "2", "--ep", "2", "--ep-skew", "1.6")),
        ({"ep": 2, "dp_attention": "on"}, ("--ep", "2", "--dp-attention")),
        ({"spec": "eagle,k=2,accept=0.7"}, ("--spec", "eagle,k=2,accept=0.7")),
    ],
)
def test_layout_axes_give_the_serve_sim_figures(
    run_cli: Run, axes: dict[str, Any], flags: tuple[str, ...]
) -> None:
    row, sim = _row(axes), _sim(run_cli, *flags)
    for col, key in FIGURES.items():
        want = sim[key[0]][key[1]] if isinstance(key, tuple) else sim[key]
        assert row[col] == pytest.approx(want, rel=1e-12), col
    plain = _row({"tp": axes.get("tp", 1)})  # the axis changed the run, not only the label
    assert row["e2e_p99_s"] != plain["e2e_p99_s"]
    assert (row["ep"], row["dp_attention"], row["spec"]) == (
        axes.get("ep", 1), axes.get("dp_attention", "off"), axes.get("spec", ""))  # fmt: skip
    assert row["capex_usd"] == pytest.approx(plain["capex_usd"] / plain["n_devices"] * sim["n_devices"])


def test_rows_without_the_axes_are_serve_sims_default(run_cli: Run) -> None:
    row, sim = _row({}), _sim(run_cli)
    assert row["output_throughput_tok_per_s"] == sim["output_throughput_tok_per_s"]
    assert row["tpot_p99_s"] == sim["tpot_s"]["p99"] and row["n_devices"] == 1
    assert (row["ep"], row["ep_skew"], row["dp_attention"], row["spec"]) == (1, 1.0, "off", "")


def test_a_layout_the_model_cannot_take_is_filtered_or_refused(run_cli: Run, tmp_path: Path) -> None:
    spec = parse_spec({"mode": "serving", "axes": {**BASE, "tp": 2, "ep": [2, 3]}})
    cols, removed = Evaluator(spec).run(0, spec.n_points)
    assert cols["ep"].tolist() == [2] and removed["divisible"] == 1  # 128 experts over 3 devices
    with pytest.raises(ConfigError, match="serve-sim has no expert slots; use mode: static"):
        parse_spec({"mode": "serving", "axes": {**BASE, "ep": 2, "tp": 2, "ep_redundant": 2}})
    bad = [({**BASE, "ep_shared_devices": 1}, "axis 'ep_shared_devices' has no meaning in serving mode"),
           ({**BASE, "ep": 4, "tp": 2, "dp_attention": "on"}, "give --tp 1")]  # fmt: skip
    for axes, needle in bad:
        p = tmp_path / "bad.yaml"
        p.write_text(yaml.safe_dump({"mode": "serving", "axes": axes}))
        r = run_cli("explore", str(p), "--out", str(tmp_path / "o"), "--workers", "1")
        assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, r.err
