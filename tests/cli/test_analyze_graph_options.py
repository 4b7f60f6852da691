"""ONNX graphs enter the same placed run as LLMs: ``--tp``, ``--pp`` and ``--policy`` are
honoured or refused by name (issue 19); so is every option that applies to LLMs only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hetsim.cost.roofline import price
from hetsim.errors import ConfigError, MappingError
from hetsim.hardware.loader import get_hardware
from hetsim.ingest import ingest_onnx, resolve_model_file
from hetsim.sim.graph_run import analyze_graph
from hetsim.workload.dtypes import Precision

Run = Callable[..., Any]


def _one_line_exit_2(r: Any, *fragments: str) -> None:
    assert r.code == 2, (r.out, r.err)
    err = r.err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    for f in fragments:
        assert f in err, err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--tp", "4", "--pp", "3", "--policy", "bogus"), "--tp 4"),  # the command
        (("--pp", "3"), "--pp 3"),
        (("--policy", "bogus"), "unknown placement policy 'bogus'"),
        (("--policy", "offload"), "--policy offload"),
        (("--policy", "split-search"), "--policy split-search"),
        (("-g", "64"), "--output-len"),
        (("--static-placement",), "--static-placement"),
        (("--plot-tiers", "t.png"), "--plot-tiers"),
        (("--framework", "vllm"), "--framework"),
        (("--attention", "unfused"), "--attention"),
        (("--ignore-capacity",), "--ignore-capacity"),
    ],
)
def test_options_a_graph_cannot_honour_are_refused_by_name(
    run_cli: Run, args: tuple[str, ...], named: str
) -> None:
    _one_line_exit_2(run_cli("analyze", "--model", "resnet50.onnx", *args), named)


def test_policies_a_graph_honours_price_as_the_primary_placement(run_cli: Run) -> None:
    out = {}
    for policy in ("auto", "primary"):
        r = run_cli("analyze", "-m", "resnet50.onnx", "-H", "gh200", "-b", "4", "--policy", policy, "--json")
        assert r.code == 0, r.err
        out[policy] = json.loads(r.out)["latency_s"]
    assert out["auto"] == out["primary"] > 0


def test_the_graph_pass_is_the_one_side_case_of_the_placed_run() -> None:
    """Priced through the phase pricer under the primary placement, a graph's ops cost to the
    bit what the primary side's roofline (or calibrated kernel model) gives them."""
    g = ingest_onnx(resolve_model_file("resnet50.onnx"), {}, batch=2, seq_len=128)
    dev, prec = get_hardware("h100-sxm"), Precision()
    r = analyze_graph(g, dev, prec)
    want = [float(np.asarray(price(op, dev, prec).time_s)) for op in g.to_ops(prec)]
    assert [o.time_s for o in r.ops] == want
    with pytest.raises(ConfigError, match="--tp 2"):
        analyze_graph(g, dev, prec, tp=2)
    with pytest.raises(MappingError, match="--policy pim-attention"):
        analyze_graph(g, dev, prec, policy="pim-attention")
