"""Fuzz `hetsim serve-sim` with the oracles of tests/fuzzing.py: random flag values and
combinations (hostile numbers, engines, schedulers, SLOs, KV tiers, disaggregation, expert
parallelism, DP attention, speculation), output paths in a sandbox, and mutated trace files
(CSV and JSON Lines: NaN, infinities, huge numbers, Latin-1 and binary bytes, ragged rows).
Every case ends in exit 0 or exit 2 with one ``error:`` line; never a traceback or a hang; a
result vouched for by exit 0 is finite and physically possible; nothing is written outside
``out/``, an existing file is never replaced without ``--force``, two outputs on one path are
refused, and a refused command leaves no file behind. ``make fuzz`` (``--long``) runs
100,000 cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import (
    COUNTS,
    PRECIOUS,
    assert_confined,
    check_cli,
    check_new_files,
    check_physics,
    fuzz_settings,
    make_sandbox,
    reset_out,
    run_cli,
    snapshot,
)

NUMS = st.sampled_from(["0", "-1", "1", "3", "4", "1.5", "nan", "inf", "-inf", "1e30", "1e400", "abc", "",
                        "9" * 40, str(2**63), "0x10", "10000000", "1000000000"])  # fmt: skip
LENGTHS = st.sampled_from(
    ["512", "64", "1", "0", "-5", "1e9", "uniform:1:1e30", "uniform:10:5", "uniform:1:64", "uniform:1:300",
     "normal:512:10", "normal:512:10:nan:100", "normal:M:S", "normal:100:50", "normal:1:2:3",
     "lognormal:512:0.5", "lognormal:0:0", "lognormal:1e308:1", "lognormal:200:100:1:400", "x:1:2", "x",
     "", "64:64"]
)  # fmt: skip
ENGINES = st.sampled_from(["vllm", "trtllm", "sglang", "tgi", "llama.cpp", "hf-transformers", "vlm", ""])
SCHEDULERS = st.sampled_from(
    ["fcfs", "prefill-first", "stall-free", "shortest-job", "priority", "static", "fifo"]
)
SLOS = st.sampled_from(["ttft=0.5", "ttft=inf", "ttft=nan", "tpot=0", "e2e=-1", "latency=3", "ttft=1e-9", "=",
                        "ttft=0.5,tpot=0.05", "x", ""])  # fmt: skip
TIERS = st.sampled_from(
    ["auto", "none", "dram:512GB:50GB/s", "dram:1TB", "dram:-1GB:1GB/s", "d:1e400GB:1GB/s"]
)
SPECS = st.sampled_from(["eagle", "eagle,k=3,accept=0.8", "mtp", "draft,draft=llama3.2-1b", "draft", "medusa",
                         "eagle,k=0", "eagle,accept=2", "eagle,k=x", "none", ""])  # fmt: skip
VALUED = st.sampled_from(
    [
        ("--rate", NUMS), ("-n", st.sampled_from(["1", "5", "20", "0", "-3", "1e9", "10000001", "x"])),
        ("-p", LENGTHS), ("-g", LENGTHS), ("--seed", NUMS), ("--tp", NUMS), ("--concurrency", NUMS),
        ("--arrival", st.sampled_from(["poisson", "closed", "offline", "bogus", "x", ""])),
        ("--engine", ENGINES),
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
        ("--ep", st.sampled_from(["1", "2", "4", "3", "0", "x"])), ("--ep-skew", NUMS), ("--spec", SPECS),
    ]
)  # fmt: skip
BOOLS = st.sampled_from(
    ["--json", "--max-rate", "--interactive", "--static-placement", "--force", "--dp-attention"]
)
OUTPUTS = ("--plot-cdf", "--plot-kv", "--csv-out", "--trace-out")
PATHS = st.sampled_from(["out/a.png", "out/a.png", "out/b.csv", "out/existing.png", "no/x.png", "out"])
TRACES = {  # in/<name>: the bytes a user's trace file might hold
    "good.csv": b"arrival_s,input_len,output_len\n0,64,8\n0.1,80,4\n",
    "comment.csv": "arrival_s,input_len,output_len\n0,128,16\n# caf\xe9\n".encode("latin-1"),
    "nan.csv": b"arrival_s,input_len,output_len\nnan,64,8\n",
    "inf.csv": b"arrival_s,input_len,output_len\n0,inf,8\n",
    "huge.csv": b"arrival_s,input_len,output_len\n0,1e30,8\n",
    "neg.csv": b"arrival_s,input_len,output_len\n-1,64,8\n",
    "ragged.csv": b"arrival_s,input_len,output_len\n0,64\n1,2,3,4\n",
    "header.csv": b"a,b\n1,2\n",
    "column.csv": b"arrival_s\n1\n",
    "empty.csv": b"",
    "trace.jsonl": b'{"timestamp": 5, "input_length": 70, "output_length": 9}\n{"timestamp": "x"}\n',
    "prefix.csv": b"arrival_s,input_len,output_len,prefix_id,prefix_len\n0,64,8,a,100\n",
    "context.csv": b"arrival_s,input_len,output_len\n0,9000,8\n",
    "latin1.csv": b"arrival_s,input_len,output_len,n\n0,64,8,caf\xe9\n",
    "binary.csv": b"\xff\xfe\x00\x00\x01",
}
TRACE_PATHS = st.sampled_from([f"in/{k}" for k in sorted(TRACES)] + ["in", "in/no/t.csv", "secret.txt"])


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    model = draw(
        st.sampled_from(["llama3-8b", "llama2-7b", "gpt-j-6b", "llama2-13b", "qwen3-30b-a3b", "nope"])
    )
    hw = draw(st.sampled_from(["h100-sxm", "a100-80gb-sxm", "flexgen-t4", "l40s"]))
    args = ["serve-sim", "-m", model, "-H", hw, "-n", "12", "-p", "96", "-g", "12"]
    for flag, values in draw(st.lists(VALUED, max_size=5)):
        args += [flag, draw(values)]
    for flag in draw(st.lists(BOOLS, max_size=2, unique=True)):
        args.append(flag)
    if draw(st.integers(0, 5)) == 0:
        args += ["--trace", draw(TRACE_PATHS)]
    for flag in draw(st.lists(st.sampled_from(OUTPUTS), max_size=2)):
        args += [flag, draw(PATHS)]
    if "--max-rate" in args:  # keep a search small: few requests, short lengths
        args += ["-n", "50"]
    return args


def test_fuzz_serve_sim(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_sandbox(tmp_path / "box")
    for name, data in TRACES.items():
        (root / "in" / name).write_bytes(data)
    monkeypatch.chdir(root)

    @fuzz_settings(request, 60, 100_000)
    @given(command_lines())
    def case(args: list[str]) -> None:
        COUNTS["serve-sim"] += 1
        reset_out(root)
        before = snapshot(root)
        code, out, err = run_cli(args, limit_s=60)
        after = snapshot(root)
        check_cli(args, code, out, err)
        assert_confined(before, after, ["out"], args)
        check_new_files(before, after, args)
        if "--force" not in args:
            assert (root / "out" / "existing.png").read_bytes() == PRECIOUS, args
        outs = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in OUTPUTS}  # a repeated flag: its last
        if len(outs) != len(set(outs.values())):
            assert code == 2, (args, "two outputs on one path")
        if code == 2:
            assert not after.keys() - before.keys(), (args, "a refused command left a file behind")
        elif "--json" in args:
            data = json.loads(out)
            _finite(data)
            check_physics({k: v for k, v in data.items() if not isinstance(v, dict | list)}, args)
            if "completed" in data:
                assert 0 <= data["completed"] <= data["n_requests"], args
                assert data["energy_j"] is None or data["energy_j"] > 0, args
                assert data.get("tokens_per_step", 1.0) >= 1.0, args
        reset_out(root)

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
