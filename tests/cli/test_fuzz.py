"""Fuzz the CLI in-process (Typer's test runner): random option values and combinations, and
mutated hardware YAMLs, model YAMLs and Hugging Face ``config.json`` files. Every case must end
in exit 0 with finite, in-range JSON, or exit 2 with one ``error:`` line and no traceback
(exit 3 is an internal error: a bug). ``pytest --long`` (``make fuzz``) runs 100,000 cases."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hetsim.cli import main

ROOT = Path(__file__).parents[2] / "src/hetsim"
HW_PRESET = (ROOT / "hardware/presets/h100-sxm.yaml").read_text()
MODEL_PRESET = (ROOT / "workload/presets/llama2-7b.yaml").read_text()
HF_CONFIG = {"model_type": "llama", "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
             "num_key_value_heads": 4, "intermediate_size": 2816, "vocab_size": 32000}  # fmt: skip
RUNNER = CliRunner()

ints = st.one_of(
    st.integers(1, 4096).map(str),
    st.sampled_from(["0", "-1", "-3", "1.5", "nan", "inf", "1e9", "abc", "", str(2**31), str(10**30)]),
)
names_model = st.sampled_from(["llama2-7b", "llama2-70b", "mixtral-8x7b", "gpt2", "llama2-70", "", "x" * 300])
names_hw = st.sampled_from(["h100-sxm", "a100", "h200", "mi210", "tpu-v5e", "gh200", "h2m2", "h100sxm"])
dtypes = st.sampled_from(["fp16", "bf16", "fp8", "int8", "int4", "fp32", "fp7", "FP16"])
flags = st.sampled_from([
    ("--tp",), ("--pp",), ("-b",), ("-p",), ("-g",), ("--weight-dtype",), ("--kv-dtype",),
    ("--act-dtype",), ("--attention",), ("--overlap",), ("--ignore-capacity",), ("--csv",), ("--plot",),
])  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn, files: dict[str, Path]) -> list[str]:
    cmd = draw(st.sampled_from(["analyze", "analyze", "analyze", "compare", "models", "hardware"]))
    args = [cmd]
    if cmd in ("models", "hardware"):
        return args + draw(st.sampled_from([[], ["--json"], ["--bogus"]]))
    args += ["-m", draw(st.one_of(names_model, st.sampled_from([str(files["model"]), str(files["hf"])])))]
    args += ["-H", draw(st.one_of(names_hw, st.just(str(files["hw"]))))]
    for (flag,) in draw(st.lists(flags, max_size=4)):
        if flag in ("--ignore-capacity", "--csv"):
            args.append(flag)
        elif flag.endswith("dtype"):
            args += [flag, draw(dtypes)]
        elif flag in ("--attention", "--overlap"):
            args += [flag, draw(st.sampled_from(["fused", "unfused", "max", "sum", "x"]))]
        elif flag == "--plot":  # only paths that are refused before any plotting (speed)
            args += [flag, str(draw(st.sampled_from([files["existing"], files["missing"], files["under_file"],
                                                     files["dir"], files["txt"]])))]  # fmt: skip
        else:
            args += [flag, draw(ints)]
    if draw(st.booleans()):
        args.append("--json")
    return args


def _mutate(data: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    """Replace, drop or corrupt one value somewhere in ``data``."""
    if isinstance(data, dict) and data and depth < 6 and (depth == 0 or draw(st.booleans())):
        key = draw(st.sampled_from(sorted(data, key=str)))
        out = dict(data)
        if draw(st.integers(0, 4)) == 0:
            del out[key]
        else:
            out[key] = _mutate(data[key], draw, depth + 1)
        return out
    if isinstance(data, list) and data and depth < 6 and draw(st.booleans()):
        i = draw(st.integers(0, len(data) - 1))
        return [*data[:i], _mutate(data[i], draw, depth + 1), *data[i + 1 :]]
    return draw(st.sampled_from([
        None, True, -1, 0, 1.5, 10**400, float("nan"), float("inf"), -1e-9, "3 TB/s", "400 Gb/s", "500 Ms",
        "80 gb", "0 B", "", [], {}, [1, 2], {"a": 1}, "x" * 50, 6.7, "1e400 GB", "-5 ns", 2**63,
    ]))  # fmt: skip


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["hw", "model", "hf"]))
    base: Any = (yaml.safe_load(HW_PRESET) if kind == "hw" else yaml.safe_load(MODEL_PRESET)
                 if kind == "model" else dict(HF_CONFIG))  # fmt: skip
    for _ in range(draw(st.integers(1, 3))):
        base = _mutate(base, draw)
    how = draw(st.sampled_from(["plain", "plain", "plain", "bytes", "deep", "alias", "dupkey"]))
    if kind == "hf":
        text = json.dumps(base, allow_nan=True, default=str).encode()
    else:
        text = yaml.safe_dump(base, allow_unicode=True).encode() if isinstance(base, dict | list) else b"x: 1"
    if how == "bytes":
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xc3"])) + text[pos:]
    elif how == "deep":
        text += b"\nzz: " + b"[" * 500 + b"]" * 500 + b"\n"
    elif how == "alias":
        text += b"\nq0: &q0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + b"".join(
            b"q%d: &q%d [*q%d, *q%d, *q%d, *q%d, *q%d, *q%d, *q%d, *q%d, *q%d]\n" % ((i, i) + (i - 1,) * 9)
            for i in range(1, 9)
        )
    elif how == "dupkey":
        text += b"\nname: again\n" if kind != "hf" else b""
    return kind, text


def _run(args: list[str]) -> tuple[int, str, str]:
    with RUNNER.isolation() as streams:
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, streams[0].getvalue().decode(), streams[1].getvalue().decode()


def _finite(obj: Any, where: str = "") -> None:
    if isinstance(obj, float):
        assert math.isfinite(obj), where
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite(v, f"{where}[{i}]")


def check_outcome(args: list[str], code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err, (args, err)
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
        if "--json" in args:
            assert "kind" in json.loads(out)["error"], (args, out)
        return
    assert code == 0, (args, code, err)
    if "--json" in args and "--csv" not in args and args[0] in ("analyze", "compare"):
        data = json.loads(out)  # strict: json.loads would accept NaN, _finite refuses it
        _finite(data)
        for row in data if isinstance(data, list) else [data]:
            for key in ("mbu", "mfu"):
                if row[key] is not None:
                    assert 0 <= row[key] <= 1, (args, key, row[key])
            if row["ttft_s"] is not None:
                assert row["ttft_s"] > 0 and row["energy_j_per_token"] > 0, args


def _examples(request: pytest.FixtureRequest, short: int) -> int:
    """``short`` cases locally, four times as many in CI (2,000 in all, about 50 s on two
    idle cores), 100,000 with ``--long``."""
    if request.config.getoption("--long"):
        return 100_000
    return 4 * short if os.environ.get("CI") else short


def test_fuzz_command_lines(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    files = {"existing": tmp_path / "mine.png", "missing": tmp_path / "no" / "x.png",
             "under_file": tmp_path / "mine.png" / "x.png", "dir": tmp_path, "txt": tmp_path / "x.txt",
             "hw": tmp_path / "hw.yaml", "model": tmp_path / "m.yaml",
             "hf": tmp_path / "config.json"}  # fmt: skip
    files["existing"].write_bytes(b"precious")
    files["hw"].write_text(HW_PRESET)
    files["model"].write_text(MODEL_PRESET)
    files["hf"].write_text(json.dumps(HF_CONFIG))

    @settings(max_examples=_examples(request, 300), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(command_lines(files))
    def case(args: list[str]) -> None:
        check_outcome(args, *_run(args))

    case()
    assert files["existing"].read_bytes() == b"precious"  # never overwritten without --force
    assert not files["missing"].parent.exists()  # never created


def test_fuzz_mutated_files(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    @settings(max_examples=_examples(request, 200), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(mutated_files(), st.booleans())
    def case(file: tuple[str, bytes], as_json: bool) -> None:
        kind, text = file
        path = tmp_path / ("config.json" if kind == "hf" else f"{kind}.yaml")
        path.write_bytes(text)
        args = ["analyze", "-p", "64", "-g", "8", "--ignore-capacity"]
        args += ["-H", str(path)] if kind == "hw" else ["-m", str(path), "-H", "h200"]
        args += ["--json"] if as_json else []
        check_outcome(args, *_run(args))

    case()
