"""Fuzz `hetsim serve-sim` command lines and traces with the oracles of tests/fuzzing.py (exit 0
or one line with exit 2, no hang, possible figures, nothing written outside ``out/``, never a
file replaced without ``--force``, never two outputs on one path)."""

from __future__ import annotations

import json
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

lengths = st.sampled_from(
    [
        "512",
        "1",
        "0",
        "-5",
        "uniform:1:1e30",
        "uniform:10:5",
        "normal:512:10",
        "x",
        "",
        "normal:512:10:nan:100",
        "lognormal:512:0.5",
        "lognormal:0:0",
        "1e9",
        "uniform:1:64",
    ]
)
numbers = st.sampled_from(["1", "4", "0", "-1", "nan", "inf", "1e30", "abc", "", "10000000", "1000000000"])
FLAGS = st.sampled_from(
    [
        "-p",
        "-g",
        "-n",
        "--rate",
        "--seed",
        "--arrival",
        "--trace",
        "--plot-cdf",
        "--plot-kv",
        "--csv-out",
        "--trace-out",
        "--slo",
        "--concurrency",
        "--force",
        "--json",
    ]
)
paths = st.sampled_from(["out/a.png", "out/a.png", "out/b.csv", "out/existing.png", "no/x.png", "out"])
traces = st.sampled_from([
    b"arrival_s,input_len,output_len\n0,128,16\n0.5,64,8\n",
    "arrival_s,input_len,output_len\n0,128,16\n# caf\xe9\n".encode("latin-1"),
    b"arrival_s,input_len,output_len\nnan,128,16\n", b"arrival_s,input_len,output_len\n0,inf,16\n",
    b"", b"arrival_s\n1\n", b"arrival_s,input_len,output_len\n-1,128,16\n", b"\x00\x01",
])  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    args = ["serve-sim", "-m", draw(st.sampled_from(["llama2-7b", "llama3-8b", "nope"])), "-n", "20"]
    for flag in draw(st.lists(FLAGS, max_size=5)):
        if flag in ("--force", "--json"):
            args.append(flag)
        elif flag in ("-p", "-g"):
            args += [flag, draw(lengths)]
        elif flag == "--arrival":
            args += [flag, draw(st.sampled_from(["poisson", "closed", "offline", "x"]))]
        elif flag == "--trace":
            args += [flag, "in/trace.csv"]
        elif flag == "--slo":
            args += [flag, draw(st.sampled_from(["ttft=0.5,tpot=0.05", "ttft=inf", "x", ""]))]
        elif flag.startswith(("--plot", "--csv", "--trace-out")):
            args += [flag, draw(paths)]
        else:
            args += [flag, draw(numbers)]
    return args


def test_fuzz_serve_sim(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_sandbox(tmp_path / "box")
    monkeypatch.chdir(root)

    @fuzz_settings(request, 30, 20_000)
    @given(command_lines(), traces)
    def case(args: list[str], trace: bytes) -> None:
        COUNTS["serve-sim"] += 1
        reset_out(root)
        (root / "in" / "trace.csv").write_bytes(trace)
        before = snapshot(root)
        code, out, err = run_cli(args, limit_s=60)
        after = snapshot(root)
        check_cli(args, code, out, err)
        assert_confined(before, after, ["out"], args)
        check_new_files(before, after, args)
        if "--force" not in args:
            assert (root / "out" / "existing.png").read_bytes() == PRECIOUS, args
        outs = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--plot-cdf", "--plot-kv", "--csv-out",
                                                                          "--trace-out")]  # fmt: skip
        if len(outs) != len(set(outs)):
            assert code == 2, (args, "two outputs on one path")
        if code == 2:
            assert not after.keys() - before.keys(), (args, "a refused command left a file behind")
        if code == 0 and "--json" in args:
            data = json.loads(out)
            check_physics({k: v for k, v in data.items() if isinstance(v, int | float)}, args)
        reset_out(root)

    case()
