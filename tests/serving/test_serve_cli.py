"""`hetsim serve-sim` end to end: JSON, files it writes, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Run = Callable[..., CliResult]
BASE = ("serve-sim", "-m", "llama3-8b", "-H", "h100-sxm", "-n", "200", "-p", "256", "-g", "64")


def test_json_and_outputs(run_cli: Run, tmp_path: Path) -> None:
    files = {
        k: tmp_path / n for k, n in (("csv", "r.csv"), ("trace", "t.json"), ("cdf", "c.png"), ("kv", "k.png"))
    }
    r = run_cli(
        *BASE, "--rate", "10", "--slo", "ttft=0.5,tpot=0.05", "--json", "--csv-out", str(files["csv"]),
        "--trace-out", str(files["trace"]), "--plot-cdf", str(files["cdf"]), "--plot-kv", str(files["kv"]),
    )  # fmt: skip
    assert r.code == 0, r.err
    d = json.loads(r.out)
    for key in ("request_throughput_per_s", "output_throughput_tok_per_s", "total_throughput_tok_per_s",
                "goodput_req_per_s", "slo_attainment", "kv_peak_utilization", "preemptions"):  # fmt: skip
        assert key in d
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_latency_s"):
        assert d[key]["p50"] <= d[key]["p90"] <= d[key]["p99"]
    assert d["completed"] == 200 and 0 < d["slo_attainment"] <= 1
    rows = files["csv"].read_text().splitlines()
    assert rows[0].startswith("request,arrival_s") and len(rows) == 201
    trace = json.loads(files["trace"].read_text())
    assert any(e.get("name") == "kv_cache" for e in trace["traceEvents"])
    assert files["cdf"].stat().st_size > 5000 and files["kv"].stat().st_size > 5000
    again = run_cli(*BASE, "--rate", "10", "--csv-out", str(files["csv"]))
    assert again.code == 2 and "exists; pass --force" in again.err  # never overwrites without --force


def test_table_offline_closed_and_max_rate(run_cli: Run) -> None:
    r = run_cli(*BASE, "--arrival", "offline", "--engine", "trtllm")
    assert r.code == 0 and "TTFT" in r.out
    r = run_cli(*BASE, "--arrival", "closed", "--concurrency", "8", "--engine", "sglang", "--json")
    assert r.code == 0 and json.loads(r.out)["completed"] == 200
    r = run_cli(*BASE, "--max-rate", "--slo", "ttft=0.2", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert 0 < d["max_rate_per_s"] <= d["offline_throughput_per_s"] and d["attainment"] >= 0.9
    assert d["offline_capacity_steady"] is False and "too short for a steady state" in d["note"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "0"), "--rate must be a positive"),
        (("--rate", "-3"), "--rate must be a positive"),
        (("--rate", "5", "--slo", "latency=3"), "unknown metric 'latency'"),
        (("--rate", "5", "-p", "9000"), "more than the 8192-token context"),
        (("--rate", "5", "--engine", "vlm"), "did you mean vllm"),
        (("--arrival", "closed"), "--arrival closed needs --concurrency N"),
        (("--arrival", "closed", "--concurrency", "0"), "--concurrency must be a positive"),
        (
            ("--rate", "5", "-p", "uniform:1:1e30"),
            "bounds must be whole numbers of tokens from 1 to 16,777,216",
        ),
        (("--rate", "5", "-g", "normal:512:10:nan:100"), "every number must be finite"),
        (("--rate", "5", "--seed", "-1"), "--seed must be a whole number from 0"),
        (("--rate", "5", "-n", "1000000000"), "--requests must be a whole number from 1 to 10,000,000"),
        (("--rate", "5", "--slo", "ttft=inf"), "finite positive number of seconds"),
        (("--rate", "5", "--max-queue", "-1"), "--max-queue must be >= 0"),
        (("--rate", "5", "--slo-attainment", "2"), "--slo-attainment must be in (0, 1]"),
        (("--rate", "5", "--engine", "trt-lm"), "did you mean"),
        (("--rate", "5", "--scheduler", "fifo"), "did you mean fcfs"),
        (("--rate", "5", "--mix", "sharegp"), "did you mean sharegpt"),
        (("--rate", "5", "--kv-offload", "auto"), "describes no memory beyond the GPU"),
        (("--rate", "5", "--kv-offload", "dram:1TB"), "give NAME:CAPACITY:BANDWIDTH"),
        (("--rate", "5", "--disaggregate", "1:99999"), "from 1 to 4,096"),
        (("--rate", "5", "--scenario", "online"), "--scenario 'online': choose offline or server"),
        (("--scenario", "server"), "needs --rate"),
        (("--rate", "5", "--scenario", "server", "-m", "llama2-13b"), "no Server benchmark for llama2-13b"),
        (("--rate", "5", "-p", "normal:abc"), "length 'normal:abc'"),
        (("--rate", "5", "--disaggregate", "x"), "PREFILL:DECODE"),
        (("--rate", "5", "--policy", "ofload"), "did you mean offload"),
    ],
)
def test_bad_input_one_line_exit_2(run_cli: Run, args: tuple[str, ...], message: str) -> None:
    r = run_cli(*BASE, *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_bad_traces_and_kv_capacity(run_cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,input_len\n0,10\n")
    r = run_cli(*BASE, "--trace", str(bad))
    assert r.code == 2 and "missing column(s) output length (output_len" in r.err
    bad.write_text("arrival_s,input_len,output_len\n0,10,5\n0.5,-4,5\n")
    r = run_cli(*BASE, "--trace", str(bad))
    assert r.code == 2 and "line 3" in r.err
    good = tmp_path / "good.csv"
    good.write_text("arrival_s,input_len,output_len\n0,100,20\n0.2,300,10\n")
    r = run_cli(*BASE, "--trace", str(good), "--json")
    assert r.code == 0 and json.loads(r.out)["completed"] == 2
    # 70B on one H100 leaves no KV cache at all
    r = run_cli("serve-sim", "-m", "llama3-70b", "-H", "h100-sxm", "--rate", "1")
    assert r.code == 2 and "larger --tp" in r.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--cross-validate", "model"), "needs --serving-fit"),
        (("--serving-fit", "--cross-validate", "gpu"), "choose hardware or model"),
    ],
)
def test_serving_validate_bad_fold_one_line_exit_2(
    run_cli: Run, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("source_id,hardware,model,batch_or_concurrency,input_len,output_len,metric,value,unit\n")
    r = run_cli("validate", "--serving", *extra, str(csv))
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_help_shows_the_length_forms_as_written(run_cli: Run) -> None:
    r = run_cli("serve-sim", "--help")
    assert r.code == 0 and "normal:MEAN:SD" in r.out and "Ⓜ" not in r.out  # no Rich emoji codes


def test_slo_is_printed_in_words_not_as_a_dict(run_cli: Run) -> None:
    r = run_cli(*BASE, "--rate", "5", "--slo", "ttft=0.5,tpot=0.05")
    assert r.code == 0 and "SLO TTFT <= 500 ms, TPOT <= 50 ms" in r.out and "{'ttft'" not in r.out


def test_outputs_naming_one_file_are_refused_before_anything_is_written(run_cli: Run, tmp_path: Path) -> None:
    same = tmp_path / "same.png"
    r = run_cli(*BASE, "--rate", "5", "--plot-cdf", str(same), "--plot-kv", str(same))
    assert r.code == 2 and "name the same file" in r.err and not same.exists()
    x = tmp_path / "x"
    r = run_cli(*BASE, "--rate", "5", "--csv-out", str(x), "--trace-out", str(x))
    assert r.code == 2 and not x.exists() and not list(tmp_path.iterdir())
