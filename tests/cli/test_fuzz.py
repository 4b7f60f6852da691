"""Fuzz the CLI in-process (the real entry point): random option values and combinations of
analyze, compare, report, the dashboard's flags and the catalogues, and mutated hardware YAMLs,
model YAMLs, Hugging Face ``config.json`` files, ONNX graphs and analyze JSON (report's input).
Every case runs in a sandbox (tests/fuzzing.py) and must end in exit 0 with finite, in-range
JSON, or exit 2 with one ``error:`` line and no traceback (exit 3 is an internal error: a bug),
within its time limit, writing nothing outside ``out/``, never replacing ``out/existing.png``
without ``--force``, and creating files that follow the umask. ``make fuzz`` (``--long``) runs
100,000 cases of each harness here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
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

ROOT = Path(__file__).parents[2] / "src/hetsim"
HW_PRESET = (ROOT / "hardware/presets/h100-sxm.yaml").read_text()
MODEL_PRESET = (ROOT / "workload/presets/llama2-7b.yaml").read_text()
HF_CONFIG = {"model_type": "llama", "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
             "num_key_value_heads": 4, "intermediate_size": 2816, "vocab_size": 32000}  # fmt: skip
LONG = 100_000

ints = st.one_of(
    st.integers(1, 4096).map(str),
    st.sampled_from(
        ["0", "-1", "-3", "1.5", "nan", "inf", "1e9", "abc", "", str(2**31), str(10**30), "9" * 5000]
    ),
)
names_model = st.sampled_from(["llama2-7b", "llama2-70b", "mixtral-8x7b", "gpt2", "llama2-70", "", "x" * 300,
                               "secret.yaml", "../secret.yaml", "in", "in/hf", "nul\x00l",
                               "[bold]x[/]"])  # fmt: skip
names_hw = st.sampled_from(["h100-sxm", "a100", "h200", "mi210", "tpu-v5e", "gh200", "h2m2", "h100sxm",
                            "secret.yaml", "secret.txt", "/dev/null", "out", ""])  # fmt: skip
dtypes = st.sampled_from(["fp16", "bf16", "fp8", "int8", "int4", "fp32", "fp7", "FP16"])
flags = st.sampled_from([
    ("--tp",), ("--pp",), ("-b",), ("-p",), ("-g",), ("--weight-dtype",), ("--kv-dtype",),
    ("--act-dtype",), ("--attention",), ("--overlap",), ("--ignore-capacity",), ("--csv",), ("--plot",),
    ("--force",),
])  # fmt: skip
# output paths: refused before any work (missing folder, a file as folder, a folder, an
# existing file), outside out/ (must be refused or never written), and a new file in out/
out_paths = st.sampled_from(["out/existing.png", "no/x.png", "out/existing.png/x.png", "out", "secret.txt",
                             "out/new.png", "out/new.svg", "out/new.txt", "/dev/null/x.png"])  # fmt: skip
dashboard_bad = st.sampled_from([["--port", "-1"], ["--port", "70000"], ["--max-upload-mb", "0"],
                                 ["--max-upload-mb", "nan"], ["--sweep", "no-such-folder"],
                                 ["--measurements", "secret.txt"], ["--port", "x"], ["--bogus"]])  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    # report writes a 4.6 MB page (Plotly inlined): drawn rarely, so the sample stays short
    cmd = draw(
        st.sampled_from(["analyze"] * 9 + ["compare"] * 2 + ["models", "hardware", "report", "dashboard"])
    )
    args = [cmd]
    if cmd in ("models", "hardware"):
        return args + draw(st.sampled_from([[], ["--json"], ["--bogus"]]))
    if cmd == "dashboard":  # only lines refused before serving (a valid one would serve forever)
        return args + draw(dashboard_bad) + draw(st.sampled_from([[], ["--host", "127.0.0.1"]]))
    if cmd == "report":
        src = draw(
            st.sampled_from(["in/run.json", "in/run.json", "secret.yaml", "in/hw.yaml", "missing.json", "in"])
        )
        args += [src, "--html", draw(st.sampled_from(["out/r.html", "out/existing.png", "out", "no/r.html",
                                                      "secret.txt"]))]  # fmt: skip
        return args + (["--force"] if draw(st.booleans()) else [])
    args += ["-m", draw(st.one_of(names_model, st.sampled_from(["in/m.yaml", "in/hf/config.json", "in/hf"])))]
    args += ["-H", draw(st.one_of(names_hw, st.just("in/hw.yaml")))]
    for (flag,) in draw(st.lists(flags, max_size=4)):
        if flag in ("--ignore-capacity", "--csv", "--force"):
            args.append(flag)
        elif flag.endswith("dtype"):
            args += [flag, draw(dtypes)]
        elif flag in ("--attention", "--overlap"):
            args += [flag, draw(st.sampled_from(["fused", "unfused", "max", "sum", "x"]))]
        elif flag == "--plot":
            args += [flag, draw(out_paths)]
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
        "../secret.yaml", "[red]x[/]", "\x00",
    ]))  # fmt: skip


def _onnx_bytes() -> bytes:
    """A small ONNX graph (MatMul, Add, Relu) to corrupt."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(__import__("numpy").ones((16, 16), dtype="float32"), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 16]) for n in "xy")
    graph = helper.make_graph(nodes, "g", [x], [y], [w])
    return bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


@st.composite
def mutated_files(draw: st.DrawFn, run_json: str) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["hw"] * 3 + ["model"] * 2 + ["hf"] * 3 + ["report", "onnx"]))
    if kind == "onnx":
        data = bytearray(_onnx_bytes())
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            pos = draw(st.integers(0, len(data) - 1))
            if op == "flip":
                data[pos] ^= draw(st.integers(1, 255))
            elif op == "cut":
                del data[pos:]
                if not data:
                    break
            else:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        return kind, bytes(data)
    base: Any = {"hw": lambda: yaml.safe_load(HW_PRESET), "model": lambda: yaml.safe_load(MODEL_PRESET),
                 "hf": lambda: dict(HF_CONFIG), "report": lambda: json.loads(run_json)}[kind]()  # fmt: skip
    for _ in range(draw(st.integers(1, 3))):
        base = _mutate(base, draw)
    how = draw(st.sampled_from(["plain", "plain", "plain", "bytes", "deep", "alias", "dupkey"]))
    if kind in ("hf", "report"):
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
        text += b"\nname: again\n" if kind not in ("hf", "report") else b""
    return kind, text


def check_outcome(args: list[str], code: int, out: str, err: str) -> None:
    """The CLI oracle (:func:`tests.fuzzing.check_cli`) plus the physics of analyze/compare JSON."""
    check_cli(args, code, out, err)
    if code == 0 and "--json" in args and "--csv" not in args and args[0] in ("analyze", "compare"):
        data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON: {args}"))
        for row in data if isinstance(data, list) else [data]:
            check_physics({k: v for k, v in row.items() if not isinstance(v, list | dict)}, args)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fuzz sandbox with the inputs under in/, the working folder set to it."""
    root = make_sandbox(tmp_path / "box")
    (root / "in" / "hw.yaml").write_text(HW_PRESET)
    (root / "in" / "m.yaml").write_text(MODEL_PRESET)
    (root / "in" / "hf").mkdir()
    (root / "in" / "hf" / "config.json").write_text(json.dumps(HF_CONFIG))
    monkeypatch.chdir(root)
    code, out, err = run_cli(
        ["analyze", "-m", "llama2-7b", "-H", "h100-sxm", "-p", "64", "-g", "4", "--json"]
    )
    assert code == 0, err
    (root / "in" / "run.json").write_text(out)
    return root


def _case(root: Path, args: list[str], harness: str) -> None:
    """Run one command line in the sandbox and check every oracle."""
    COUNTS[harness] += 1
    reset_out(root)  # also after a failed case, whose files hypothesis would otherwise replay into
    before = snapshot(root)
    code, out, err = run_cli(args)
    after = snapshot(root)
    check_outcome(args, code, out, err)
    assert_confined(before, after, ["out"], args)
    if "--force" not in args:
        assert (root / "out" / "existing.png").read_bytes() == PRECIOUS, args
    check_new_files(before, after, args)
    reset_out(root)


def test_fuzz_command_lines(request: pytest.FixtureRequest, sandbox: Path) -> None:
    @fuzz_settings(request, 300, LONG)
    @given(command_lines())
    def case(args: list[str]) -> None:
        _case(sandbox, args, "cli command lines")

    case()


def test_fuzz_mutated_files(request: pytest.FixtureRequest, sandbox: Path) -> None:
    run_json = (sandbox / "in" / "run.json").read_text()

    @fuzz_settings(request, 200, LONG)
    @given(mutated_files(run_json), st.booleans())
    def case(file: tuple[str, bytes], as_json: bool) -> None:
        kind, text = file
        name = {"hf": "in/hf/config.json", "report": "in/run-x.json", "onnx": "in/g.onnx"}.get(
            kind, f"in/{kind}.yaml"
        )
        (sandbox / name).write_bytes(text)
        if kind == "report":
            args = ["report", name, "--html", "out/r.html"]
        else:
            args = ["analyze", "-p", "64", "-g", "8", "--ignore-capacity"]
            args += ["-H", name] if kind == "hw" else ["-m", name, "-H", "h200"]
            args += ["--json"] if as_json else []
        _case(sandbox, args, "cli mutated files")

    case()
