"""`hetsim analyze --model FILE.onnx` end to end, and its bad-input cases (one line, exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from onnx import helper

from hetsim.ingest.proxies_index import PROXY_DIR
from tests.conftest import CliResult
from tests.ingest.graphs import save, vi

Run = Callable[..., CliResult]


def test_analyze_proxy_json(run_cli: Run) -> None:
    r = run_cli("analyze", "-m", "resnet50.onnx", "-H", "h100-sxm", "-b", "8", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["batch"] == 8 and d["inputs"] == {"pixel_values": [8, 3, 224, 224]}
    assert d["macs"] == pytest.approx(8 * 4.0892e9, rel=1e-3)
    assert 0 < d["mfu"] <= 1 and 0 < d["mbu"] <= 1
    assert d["latency_per_item_s"] == pytest.approx(d["latency_s"] / 8)
    assert {c["op_class"] for c in d["classes"]} == {
        "matmul",
        "attention",
        "normalisation",
        "elementwise",
        "other",
    }
    assert set(d["article_check"]) == {
        "time_norm_plus_elementwise_over_matmul",
        "flop_matmul_over_normalisation",
        "flop_matmul_over_elementwise",
    }


def test_analyze_unet_table_fused_and_plot(run_cli: Run, tmp_path: Path) -> None:
    png = tmp_path / "roof.png"
    r = run_cli(
        "analyze", "-m", str(PROXY_DIR / "sd15_unet.onnx"), "-H", "h200", "--fuse", "all", "--plot", str(png)
    )
    assert r.code == 0, r.err
    assert "operator classes" in r.out and "fuse all" in r.out and "article check" in r.out
    assert png.stat().st_size > 10_000


def test_analyze_csv(run_cli: Run) -> None:
    r = run_cli("analyze", "-m", "vit_b_16.onnx", "--csv")
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert lines[0].startswith("op,class,op_type") and len(lines) > 100


def _one_line_exit_2(r: CliResult, *fragments: str) -> None:
    assert r.code == 2, (r.out, r.err)
    err = r.err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    for f in fragments:
        assert f in err, err


def test_truncated_file(run_cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "cut.onnx"
    bad.write_bytes((PROXY_DIR / "resnet50.onnx").read_bytes()[:5000])
    _one_line_exit_2(run_cli("analyze", "-m", str(bad)), "truncated")


def test_not_onnx_at_all(run_cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "junk.onnx"
    bad.write_text("this is not a protobuf\n" * 10)
    _one_line_exit_2(run_cli("analyze", "-m", str(bad)), "junk.onnx")


def test_missing_file(run_cli: Run, tmp_path: Path) -> None:
    _one_line_exit_2(run_cli("analyze", "-m", str(tmp_path / "none.onnx")), "no such file")


def test_unbound_symbolic_dimension(run_cli: Run, tmp_path: Path) -> None:
    p = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["batch", "height"])], ["y"])
    _one_line_exit_2(run_cli("analyze", "-m", str(p)), "'height'", "--input-shape x=")


def test_input_shape_mismatch(run_cli: Run) -> None:
    r = run_cli("analyze", "-m", "resnet50.onnx", "--input-shape", "pixel_values=1x4x224x224")
    _one_line_exit_2(r, "does not match", "batchx3x224x224")
    r = run_cli("analyze", "-m", "resnet50.onnx", "--input-shape", "pixel_values=1x3x224")
    _one_line_exit_2(r, "does not match")


def test_bad_flags(run_cli: Run) -> None:
    _one_line_exit_2(run_cli("analyze", "-m", "resnet50.onnx", "--input-shape", "nope=1x2"), "not an input")
    _one_line_exit_2(run_cli("analyze", "-m", "resnet50.onnx", "--input-shape", "x=1xAx2"), "NAME=")
    _one_line_exit_2(run_cli("analyze", "-m", "resnet50.onnx", "--fuse", "bogus"), "choose one of")
    _one_line_exit_2(run_cli("analyze", "-m", "llama2-7b", "--fuse", "all"), "ONNX models")


def test_whatif_graph_and_llm(run_cli: Run) -> None:
    r = run_cli("whatif", "-m", "vit_b_16.onnx", "-H", "a100-80gb-sxm", "-b", "4", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    q = {x["label"]: x for x in d["quantisation"]}
    base, w4 = q["baseline W16A16KV16"], q["weights int4"]
    # int4 weights with a 16-bit scale and zero per group of 128: 4.25 of 16 bits
    assert w4["weight_bytes"] == pytest.approx(base["weight_bytes"] * 4.25 / 16)
    assert w4["latency_s"] <= base["latency_s"]
    f = {x["label"]: x for x in d["fusion"]}
    assert f["fuse all"]["latency_s"] < f["fuse none"]["latency_s"]
    r = run_cli("whatif", "-m", "llama2-7b", "-b", "4", "-p", "256", "-g", "32", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    q = {x["label"]: x for x in d["quantisation"]}
    assert q["KV cache int8"]["footprint_bytes"] < q["baseline W16A16KV16"]["footprint_bytes"]
    f = {x["label"]: x for x in d["fusion"]}
    assert f["attention fused"]["first_s"] <= f["attention unfused"]["first_s"]
    prefill = {c["op_class"]: c for c in d["classes"]["operator classes, prefill"]}
    assert prefill["matmul"]["flop"] > 100 * prefill["normalisation"]["flop"] > 0
    assert q["weights int4"]["latency_s"] < q["baseline W16A16KV16"]["latency_s"]  # decode is memory-bound
