"""ONNX graphs with operators hetsim does not know (a custom domain, a type without a rule):
the operator is named, the rest of the graph is priced, and the operator is listed as unpriced
(bytes counted, flop unknown), counted as free (``--unknown-op zero``) or refused
(``--unknown-op refuse``). Its output's shape comes from the graph's declaration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

pytest.importorskip("onnx")

from onnx import helper

from tests.ingest.graphs import init, save, vi

Run = Callable[..., CliResult]


def _graph(tmp: Path, declare: bool, name: str = "custom") -> Path:
    """x -> MatMul -> my.domain::MyOp -> MatMul -> Relu -> y (64 x 64 weights, batch 4)."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm1"),
        helper.make_node("MyOp", ["h"], ["h2"], domain="my.domain", name="custom1"),
        helper.make_node("MatMul", ["h2", "w"], ["h3"], name="mm2"),
        helper.make_node("Relu", ["h3"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes, name, [vi("x", ["batch", 64])], [vi("y", ["batch", 64])], [init("w", [64, 64])],
        value_info=[vi("h2", ["batch", 64])] if declare else [],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.domain", 1)]
    )
    path = tmp / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _json(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    r = run_cli("analyze", *args, "-H", "h100-sxm", "-b", "4", "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]


def test_custom_op_is_named_listed_and_the_rest_priced(run_cli: Run, tmp_path: Path) -> None:
    d = _json(run_cli, "-m", str(_graph(tmp_path, declare=True)))
    names = [o["name"] for o in d["ops"]]
    assert names == ["mm1", "custom1", "mm2", "relu"]
    mm = [o for o in d["ops"] if o["name"].startswith("mm")]
    assert all(o["flop"] == 2 * 4 * 64 * 64 for o in mm)  # both GEMMs priced, the second one too
    assert d["unsupported"] == [
        {
            "op_type": "my.domain::MyOp",
            "count": 1,
            "node_share": 0.25,
            "byte_share": pytest.approx(d["unsupported"][0]["byte_share"]),
        }
    ]
    custom = next(o for o in d["ops"] if o["name"] == "custom1")
    assert custom["flop"] == 0 and custom["bytes"] == 2 * 4 * 64 * 2  # its input and output, fp16
    assert any("my.domain::MyOp x1" in n and "flop unknown" in n for n in d["notes"])


def test_unknown_op_zero_and_refuse(run_cli: Run, tmp_path: Path) -> None:
    path = str(_graph(tmp_path, declare=True))
    priced = _json(run_cli, "-m", path)
    free = _json(run_cli, "-m", path, "--unknown-op", "zero")
    assert [o["name"] for o in free["ops"]] == ["mm1", "mm2", "relu"]
    assert free["latency_s"] < priced["latency_s"]
    assert any("counted as free" in n and "MyOp" in n for n in free["notes"])
    assert free["unsupported"][0]["op_type"] == "my.domain::MyOp"
    r = run_cli("analyze", "-m", path, "-H", "h100-sxm", "--unknown-op", "refuse")
    assert r.code == 2 and "my.domain::MyOp x1" in r.err and r.err.count("\n") == 1, r.err
    r = run_cli("analyze", "-m", path, "-H", "h100-sxm", "--unknown-op", "guess")
    assert r.code == 2 and "unpriced, zero, refuse" in r.err
    r = run_cli("analyze", "-m", "llama2-7b", "--unknown-op", "zero")
    assert r.code == 2 and "apply to ONNX models" in r.err


def test_undeclared_output_names_the_operator(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("analyze", "-m", str(_graph(tmp_path, declare=False)), "-H", "h100-sxm")
    assert r.code == 2 and "my.domain::MyOp" in r.err and "'h2'" in r.err and "declare" in r.err, r.err


def test_default_domain_type_without_a_rule_is_listed(run_cli: Run, tmp_path: Path) -> None:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Hardmax", ["h"], ["y"], name="hm")]  # fmt: skip
    path = save(tmp_path, nodes, [vi("x", [4, 64])], ["y"], [init("w", [64, 64])], name="hardmax")
    d = _json(run_cli, "-m", str(path))
    assert [u["op_type"] for u in d["unsupported"]] == ["Hardmax"]
