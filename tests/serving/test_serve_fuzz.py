"""Fuzz `hetsim serve-sim` (seeded): random flag values and combinations, hostile numbers, and
mutated trace files (CSV and JSON Lines: NaN, infinities, huge numbers, Latin-1 and binary
bytes, ragged rows). Every case ends in exit 0 with finite JSON, or exit 2 with one ``error:``
line; never a traceback, never exit 3, never a file written beside a refused command.
``pytest --long`` (``make fuzz``) runs 100,000 cases."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import check_physics, run_cli

NUMS = st.sampled_from(
    [
        "0",
        "-1",
        "1",
        "3",
        "1.5",
        "nan",
        "inf",
        "-inf",
        "1e30",
        "1e400",
        "abc",
        "",
        "9" * 40,
        str(2**63),
        "0x10",
    ]
)
LENGTHS = st.sampled_from(
    ["64", "0", "-5", "uniform:1:1e30", "uniform:5:2", "normal:512:10:nan:100", "normal:M:S",
     "lognormal:1e308:1", "lognormal:200:100:1:400", "uniform:1:300", "normal:100:50", "normal:1:2:3",
     "x:1:2", "", "64:64"]
)  # fmt: skip
ENGINES = st.sampled_from(["vllm", "trtllm", "sglang", "tgi", "llama.cpp", "hf-transformers", "vlm", ""])
SCHEDULERS = st.sampled_from(
    ["fcfs", "prefill-first", "stall-free", "shortest-job", "priority", "static", "fifo"]
)
SLOS = st.sampled_from(
    [
        "ttft=0.5",
        "ttft=inf",
        "ttft=nan",
        "tpot=0",
        "e2e=-1",
        "latency=3",
        "ttft=1e-9",
        "=",
        "ttft=0.5,tpot=0.05",
    ]
)
TIERS = st.sampled_from(
    ["auto", "none", "dram:512GB:50GB/s", "dram:1TB", "dram:-1GB:1GB/s", "d:1e400GB:1GB/s"]
)
FLAGS = st.sampled_from(
    [
        ("--rate", NUMS), ("-n", st.sampled_from(["1", "5", "30", "0", "-3", "1e9", "10000001", "x"])),
        ("-p", LENGTHS), ("-g", LENGTHS), ("--seed", NUMS), ("--tp", NUMS), ("--concurrency", NUMS),
        ("--arrival", st.sampled_from(["poisson", "closed", "offline", "bogus", ""])), ("--engine", ENGINES),
        ("--scheduler", SCHEDULERS), ("--slo", SLOS),
        ("--mix", st.sampled_from(["sharegpt", "azure-code", "longbench", "nope"])),
        ("--scenario", st.sampled_from(["offline", "server", "online"])),
        ("--disaggregate", st.sampled_from(["1:1", "0:1", "1:99999", "x", "2:1", "1:"])),
        ("--decode-hardware", st.sampled_from(["h200", "a100-80gb-sxm", "nope"])), ("--kv-offload", TIERS),
        ("--kv-link", st.sampled_from(["50GB/s", "50GB/s,10us", "0GB/s", "fast"])),
        ("--max-num-seqs", NUMS), ("--max-num-batched-tokens", NUMS), ("--block-size", NUMS),
        ("--prefill-chunk-tokens", NUMS), ("--prefix-len", NUMS), ("--max-queue", NUMS),
        ("--preemption", st.sampled_from(["swap", "recompute", "x"])), ("--slo-attainment", NUMS),
        ("--sessions", st.sampled_from(["1", "3", "0", "-1"])), ("--turns", LENGTHS), ("--think-time", NUMS),
    ]
)  # fmt: skip
BOOLS = st.sampled_from(["--json", "--max-rate", "--interactive", "--static-placement"])


@st.composite
def command_lines(draw: st.DrawFn, files: dict[str, Path]) -> list[str]:
    args = ["serve-sim", "-m", draw(st.sampled_from(["llama3-8b", "llama2-7b", "gpt-j-6b", "llama2-13b"])),
            "-H", draw(st.sampled_from(["h100-sxm", "a100-80gb-sxm", "flexgen-t4", "l40s"])),
            "-n", "12", "-p", "96", "-g", "12"]  # fmt: skip
    for flag, values in draw(st.lists(FLAGS, max_size=5)):
        args += [flag, draw(values)]
    for flag in draw(st.lists(BOOLS, max_size=2, unique=True)):
        args.append(flag)
    if draw(st.integers(0, 6)) == 0:
        args += ["--trace", str(files[draw(st.sampled_from(sorted(files)))])]
    if draw(st.integers(0, 8)) == 0:
        args += [
            "--csv-out",
            str(files["out"].parent / "o.csv"),
            "--trace-out",
            str(files["out"].parent / "o.csv"),
        ]
    if "--max-rate" in args:  # keep a search small: few requests, short lengths
        args += ["-n", "50"]
    return args


def _traces(tmp: Path) -> dict[str, Path]:
    rows = {
        "good": "arrival_s,input_len,output_len\n0,64,8\n0.1,80,4\n",
        "nan": "arrival_s,input_len,output_len\nnan,64,8\n",
        "inf": "arrival_s,input_len,output_len\n0,inf,8\n",
        "huge": "arrival_s,input_len,output_len\n0,1e30,8\n",
        "neg": "arrival_s,input_len,output_len\n-1,64,8\n",
        "ragged": "arrival_s,input_len,output_len\n0,64\n1,2,3,4\n",
        "header": "a,b\n1,2\n",
        "empty": "",
        "jsonl": '{"timestamp": 5, "input_length": 70, "output_length": 9}\n{"timestamp": "x"}\n',
        "prefix": "arrival_s,input_len,output_len,prefix_id,prefix_len\n0,64,8,a,100\n",
        "context": "arrival_s,input_len,output_len\n0,9000,8\n",
    }
    out = {}
    for k, v in rows.items():
        p = tmp / (f"{k}.jsonl" if k == "jsonl" else f"{k}.csv")
        p.write_text(v)
        out[k] = p
    (tmp / "latin1.csv").write_bytes(b"arrival_s,input_len,output_len,n\n0,64,8,caf\xe9\n")
    (tmp / "binary.csv").write_bytes(b"\xff\xfe\x00\x00\x01")
    out["latin1"], out["binary"] = tmp / "latin1.csv", tmp / "binary.csv"
    out["dir"] = tmp
    out["missing"] = tmp / "no" / "t.csv"
    out["out"] = tmp / "outputs" / "x"
    (tmp / "outputs").mkdir()
    return out


def _examples(request: pytest.FixtureRequest, short: int) -> int:
    if request.config.getoption("--long"):
        return 100_000
    return 4 * short if os.environ.get("CI") else short


def test_fuzz_serve_sim(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    files = _traces(tmp_path)

    @settings(max_examples=_examples(request, 60), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(command_lines(files))
    def case(args: list[str]) -> None:
        code, out, err = run_cli(args)
        assert "Traceback" not in out + err, (args, err)
        if code == 2:
            assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
            assert not any((tmp_path / "outputs").iterdir()), args  # a refused command writes nothing
            return
        assert code == 0, (args, code, err)
        if "--json" in args:
            data = json.loads(out)
            _finite(data)
            check_physics({k: v for k, v in data.items() if not isinstance(v, dict | list)}, args)
            if "completed" in data:
                assert 0 <= data["completed"] <= data["n_requests"]
                assert data["energy_j"] is None or data["energy_j"] > 0
        for p in (tmp_path / "outputs").iterdir():
            p.unlink()

    case()


def _finite(obj: object, where: str = "") -> None:
    """Every float of a JSON document is finite."""
    if isinstance(obj, float):
        assert math.isfinite(obj), where
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite(v, f"{where}[{i}]")
