"""Fuzz `hetsim explore` as a hostile user would: mutated specs (run, dry run, frontier only),
SQL and Pareto options over a store, and damaged stores (resume, query, pareto). The oracles
of tests/fuzzing.py hold for every case: exit 0 or one line with exit 2, within the time
limit, nothing written outside the folder the command may write (a store only under
``out/``; a query writes nothing), every row physically possible, and a resumed store equal,
row for row, to an undamaged one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import (
    COUNTS,
    SECRET,
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

pytest.importorskip("duckdb")

AXES: dict[str, Any] = {
    "model": ["llama2-7b", "llama2-13b"],
    "hardware": ["h100-sxm", "a100-80gb-sxm"],
    "tp": [1, 2],
    "batch": [1, 8],
    "input_len": [128, 512],
    "output_len": [16, 64],
}
SPEC: dict[str, Any] = {"axes": AXES, "chunk_size": 8}  # 64 points in 8 chunks
SERVING: dict[str, Any] = {
    "mode": "serving",
    "axes": {
        "model": "llama2-7b",
        "hardware": "h100-sxm",
        "rate": 2.0,
        "requests": 8,
        "input_len": 128,
        "output_len": 16,
    },
}

values = st.sampled_from([
    None, True, 0, -1, 1, 2, 3, 1.5, 2**31, 2**40, 10**400, float("nan"), float("inf"), "", "x", "fits",
    "llama2-7b", "h100-sxm", "h2m2", "gh200", "tpot_s <= 0.05", "batch >= 4", "model <= 1", "96 GB", "3 TB/s",
    "../secret.yaml", "secret.yaml", "/etc/passwd", "[red]x", [], [1, 8], ["fp16", "fp8"], {}, {"a": 1},
    {"by": "ttft_s", "k": 2}, {"by": "model"}, {"pareto": True}, "min", "max", [["input_len", "output_len"]],
])  # fmt: skip
keys = st.sampled_from(
    [
        "axes",
        "filters",
        "objectives",
        "reduce",
        "zip",
        "hardware_params",
        "chunk_size",
        "mode",
        "prices",
        "name",
        "bogus",
    ]
)
axis_names = st.sampled_from(
    [
        *AXES,
        "pp",
        "weight_dtype",
        "kv_dtype",
        "act_dtype",
        "policy",
        "attention",
        "overlap",
        "rate",
        "requests",
        "engine",
        "slo",
        "modle",
        "hbm.capacity",
    ]
)


@st.composite
def specs(draw: st.DrawFn) -> bytes:
    spec: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from([SPEC, SPEC, SPEC, SERVING]))))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["axis", "axis", "top"]))
        if where == "axis" and isinstance(spec.get("axes"), dict):
            spec["axes"][draw(axis_names)] = draw(values)
        elif where == "top":
            spec[draw(keys)] = draw(values)
    text = (
        yaml.safe_dump(spec).encode() if draw(st.integers(0, 9)) else json.dumps(spec, default=str).encode()
    )
    how = draw(st.sampled_from(["plain"] * 6 + ["bytes", "truncate", "list"]))
    if how == "bytes":
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from([b"\xff", b"\x00", b":", b"[", b"&a"])) + text[pos:]
    elif how == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "list":
        text = b"- " + text
    return text


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hetsim.explore import explore

    out = tmp_path_factory.mktemp("pristine") / "store"
    explore(SPEC, out, workers=1)
    return out


def _rows(store: Path) -> dict[str, list[Any]]:
    from hetsim.explore import read_results

    cols = read_results(store)
    order = np.argsort(cols["index"])
    return {k: v[order].tolist() for k, v in cols.items()}


def _check_store_rows(store: Path, where: object) -> None:
    """Every row a run kept is physically possible."""
    rows = _rows(store)
    n = len(rows.get("index", []))
    for i in range(0, n, max(n // 16, 1)):
        check_physics({k: v[i] for k, v in rows.items() if not isinstance(v[i], str)}, where)


def _run_case(root: Path, args: list[str], allowed: list[str], harness: str) -> tuple[int, str, str]:
    COUNTS[harness] += 1
    before = snapshot(root)
    code, out, err = run_cli(args, limit_s=120)
    after = snapshot(root)
    check_cli(args, code, out, err)
    assert SECRET not in out + err, (args, "a secret reached the output")
    assert_confined(before, after, allowed, args)
    check_new_files(before, after, args)
    return code, out, err


def test_fuzz_specs(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_sandbox(tmp_path / "box")
    monkeypatch.chdir(root)

    @fuzz_settings(request, 12, 10_000)
    @given(specs(), st.sampled_from([[], ["--dry-run"], ["--frontier-only"], ["--json"]]))
    def case(text: bytes, extra: list[str]) -> None:
        reset_out(root)
        (root / "in" / "spec.yaml").write_bytes(text)
        args = ["explore", "in/spec.yaml", "--out", "out/st", "--workers", "1", *extra]
        code, _, _ = _run_case(root, args, ["out"], "explore specs")
        if code == 0 and "--dry-run" not in extra:
            _check_store_rows(root / "out" / "st", args)
        reset_out(root)

    case()


sql_parts = st.sampled_from(
    [
        "SELECT * FROM results",
        "SELECT count(*) FROM results",
        "SELECT hardware, min(ttft_s) FROM results GROUP BY 1",
        "SELECT * FROM read_text('secret.txt')",
        "SELECT * FROM read_csv('../secret.txt')",
        "COPY results TO 'out/x.csv'",
        "ATTACH 'out/x.db'",
        "SELECT 1; COPY results TO 'out/y.csv'",
        "DESCRIBE results",
        "SELECT * FROM glob('*')",
        "INSTALL httpfs",
        "SET enable_external_access=true",
        "DROP VIEW results",
        "SELECT '[/]', '[bold]'",
        "SELECT 1/0",
        "SELECT NULL",
        "SELECT 'inf'::DOUBLE, 'nan'::DOUBLE",
        "",
        ";",
        "SELECT ?",
        "SELECT * FROM results WHERE",
        "SELECT x'00'",
        "SELECT [1, 2], {'a': 1}",
        "SELECT now()",
        "SELECT * FROM results LIMIT -1",
        "PRAGMA version",
        "SELECT * FROM parquet_metadata('secret.txt')",
        "CREATE TABLE t AS SELECT 1",
        "SELECT 9" + "9" * 60,
        "EXPORT DATABASE 'out/dump'",
        "SELECT 'x' || chr(0)",
    ]
)
where_parts = st.sampled_from([
    "batch >= 8", "tpot_s <= 0.05", "1=1", "1=1; COPY results TO 'out/z.csv'", "model = 'llama2-7b'", "",
    "1=1) UNION ALL SELECT * FROM read_text('secret.txt') --", "nope > 1", "batch >", "NULL", "ttft_s < 0",
])  # fmt: skip
columns = st.sampled_from(["tok_per_s_per_user", "tok_per_s_per_device", "ttft_s", "usd_per_mtoken", "model",
                           "hardware", "index", "fits", "nope", "", "mbu"])  # fmt: skip


@st.composite
def store_commands(draw: st.DrawFn) -> list[str]:
    if draw(st.booleans()):
        sql = draw(sql_parts)
        if draw(st.integers(0, 3)) == 0:
            sql = sql + draw(st.sampled_from([" --", ";", " LIMIT 1", "'", ")", "\x00"]))
        return ["explore", "query", "st", sql, *draw(st.sampled_from([[], ["--json"], ["--csv"]]))]
    args = ["explore", "pareto", "st"]
    for flag in draw(
        st.lists(st.sampled_from(["--x", "--y", "--sense", "--where", "--plot", "--force"]), max_size=4)
    ):
        if flag == "--force":
            args.append(flag)
        elif flag == "--sense":
            args += [flag, draw(st.sampled_from(["max,max", "min,max", "min", "up,down", "", "max,max,max"]))]
        elif flag == "--where":
            args += [flag, draw(where_parts)]
        elif flag == "--plot":
            args += [flag, draw(st.sampled_from(["out/f.png", "out/existing.png", "no/f.png", "out"]))]
        else:
            args += [flag, draw(columns)]
    return args


def test_fuzz_store_queries(
    request: pytest.FixtureRequest, tmp_path: Path, pristine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_sandbox(tmp_path / "box")
    shutil.copytree(pristine, root / "st")
    monkeypatch.chdir(root)

    @fuzz_settings(request, 30, 20_000)
    @given(store_commands())
    def case(args: list[str]) -> None:
        reset_out(root)
        _run_case(root, args, ["out"], "explore queries")  # the store itself is read-only
        reset_out(root)

    case()


DAMAGES = ("truncate", "flip", "line", "manifest", "link", "stray", "delete", "foreign_line")


@st.composite
def damages(draw: st.DrawFn) -> list[tuple[str, int, bytes]]:
    junk = st.sampled_from(
        [
            b'{"chunk": "x"}',
            b"[]",
            b"null",
            b"\xff\xfe",
            b'{"chunk": 3, "start": 0}',
            b"{",
            b'{"chunk": 99}',
            b'{"chunk": -1, "start": 0, "stop": 8, "rows": 1, "removed": {}}',
        ]
    )
    return draw(
        st.lists(st.tuples(st.sampled_from(DAMAGES), st.integers(0, 7), junk), min_size=1, max_size=3)
    )


def _damage(store: Path, outside: Path, how: str, k: int, junk: bytes) -> None:
    chunk = store / "chunks" / f"c-{k:06d}.parquet"
    if how in ("truncate", "flip", "link", "delete") and not chunk.exists():
        return
    if how == "truncate":
        chunk.write_bytes(chunk.read_bytes()[: k * 40])
    elif how == "flip":
        data = bytearray(chunk.read_bytes())
        data[(k * 97) % len(data)] ^= 0x5A
        chunk.write_bytes(bytes(data))
    elif how == "line":
        with open(store / "done.jsonl", "ab") as f:
            f.write(junk + b"\n")
    elif how == "manifest":
        (store / "manifest.json").write_bytes(junk)
    elif how == "link":
        chunk.unlink()
        os.symlink(outside, chunk)
    elif how == "stray":
        (store / "chunks" / f"c-notes-{k}.parquet").write_bytes(junk)
    elif how == "delete":
        chunk.unlink()
    elif how == "foreign_line":
        line = json.loads((store / "done.jsonl").read_text().splitlines()[0])
        with open(store / "done.jsonl", "a") as f:
            f.write(json.dumps({**line, "chunk": k, "spec": "0" * 16}) + "\n")


def test_fuzz_damaged_stores(
    request: pytest.FixtureRequest, tmp_path: Path, pristine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_sandbox(tmp_path / "box")
    outside = root / "in" / "outside.parquet"
    shutil.copy(pristine / "chunks" / "c-000001.parquet", outside)
    monkeypatch.chdir(root)
    reference = _rows(pristine)

    @fuzz_settings(request, 8, 3_000)
    @given(damages(), st.sampled_from(["resume", "resume", "query", "pareto"]))
    def case(ops: list[tuple[str, int, bytes]], command: str) -> None:
        reset_out(root)
        store = root / "out" / "st"
        shutil.copytree(pristine, store)
        for how, k, junk in ops:
            _damage(store, outside, how, k, junk)
        args = {"resume": ["explore", "--resume", "out/st", "--workers", "1"],
                "query": ["explore", "query", "out/st", "SELECT count(*) FROM results"],
                "pareto": ["explore", "pareto", "out/st"]}[command]  # fmt: skip
        code, _, _ = _run_case(root, args, ["out/st"], "explore damaged stores")
        if command == "resume" and code == 0:
            assert _rows(store) == reference, ops  # repaired: equal to the undamaged store
        reset_out(root)

    case()
