"""The CLI end to end: outputs, JSON keys, and every bad-input case (one line, exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Run = Callable[..., CliResult]
BASE = ("analyze", "-m", "llama2-70b", "-H", "h100-sxm", "--tp", "4", "-b", "64", "-p", "2048", "-g", "2048")
JSON_KEYS = {
    "params", "weight_bytes", "kv_bytes_per_token", "footprint_bytes", "fits", "ttft_s", "tpot_s",
    "e2e_latency_s", "output_throughput_tok_per_s", "mbu", "mfu", "energy_j_per_token", "avg_power_w", "ops",
}  # fmt: skip


def test_analyze_json(run_cli: Run) -> None:
    r = run_cli(*BASE, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert JSON_KEYS <= set(data)
    assert data["fits"] is True and data["kv_bytes_per_token"] == 327_680
    assert {"name", "phase", "flop", "bytes", "time_s", "bound"} <= set(data["ops"][0])
    assert {op["phase"] for op in data["ops"]} == {"prefill", "decode"}


def test_analyze_table_csv_and_plot(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli(*BASE, "--plot", str(tmp_path / "roof.png"))
    assert r.code == 0 and "TTFT" in r.out and "qkv_proj" in r.out
    assert (tmp_path / "roof.png").stat().st_size > 10_000
    r = run_cli(*BASE, "--csv")
    lines = r.out.strip().splitlines()
    assert lines[0].startswith("phase,name") and len(lines) > 20


def test_models_and_hardware_lists(run_cli: Run) -> None:
    r = run_cli("models", "--json")
    assert r.code == 0 and any(m["name"] == "mixtral-8x7b" for m in json.loads(r.out))
    r = run_cli("hardware")
    assert r.code == 0 and "gh200" in r.out


def test_hf_config_model_path(run_cli: Run, tmp_path: Path) -> None:
    cfg = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 16,
           "intermediate_size": 5632, "vocab_size": 32000}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = run_cli("analyze", "--model", str(tmp_path / "config.json"), "-H", "a100", "--json")
    assert r.code == 0, r.err


def _bad(r: CliResult, *needles: str) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    assert "Traceback" not in r.err + r.out
    line = r.err.strip()
    assert line.count("\n") == 0, r.err
    for needle in needles:
        assert needle in line, line


def test_unknown_model_and_hardware_suggest(run_cli: Run) -> None:
    _bad(run_cli("analyze", "-m", "llama2-70", "-H", "h100-sxm"), "unknown model", "did you mean llama2-70b")
    _bad(run_cli("analyze", "-m", "llama2-7b", "-H", "h100sxm"), "unknown hardware", "did you mean h100-sxm")


@pytest.mark.parametrize("flag", ["--batch", "--input-len", "--output-len", "--tp", "--pp"])
def test_non_positive_sizes(run_cli: Run, flag: str) -> None:
    r = run_cli("analyze", "-m", "llama2-7b", "-H", "h100-sxm", flag, "0")
    _bad(r, f"{flag} must be a whole number from 1")


def test_does_not_fit_suggests_tp(run_cli: Run) -> None:
    _bad(run_cli("analyze", "-m", "llama2-70b", "-H", "a100"), "needs", "has 85.9 GB (80.0 GiB)", "--tp")
    r = run_cli("analyze", "-m", "llama2-70b", "-H", "a100", "--ignore-capacity", "--json")
    assert r.code == 0 and json.loads(r.out)["fits"] is False


def test_malformed_files(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: [oops\n")
    _bad(run_cli("analyze", "-m", "llama2-7b", "-H", str(tmp_path / "bad.yaml")), "not valid YAML")
    (tmp_path / "config.json").write_text("{not json")
    _bad(run_cli("analyze", "-m", str(tmp_path / "config.json")), "not valid JSON")
    _bad(run_cli("analyze", "-m", str(tmp_path / "missing.json")), "does not exist")


def test_bad_dtype_tp_and_options(run_cli: Run) -> None:
    _bad(run_cli("analyze", "-m", "llama2-7b", "--weight-dtype", "fp7"), "unknown data type")
    _bad(run_cli("analyze", "-m", "llama2-7b", "--tp", "3"), "does not divide")
    _bad(run_cli("analyze", "-m", "llama2-7b", "--attention", "sparse"), "--attention")
    _bad(run_cli("analyze", "-m", "llama2-7b", "--plot", "x.txt"), ".png")


def test_usage_error_is_exit_2(run_cli: Run) -> None:
    r = run_cli("analyze", "--batch", "many")
    assert r.code == 2 and "Traceback" not in r.err
