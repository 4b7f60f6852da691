"""A damaged store is repaired by --resume, never trusted: every chunk it keeps is checked
(checksum, size, schema, row count, index range, spec digest) and the rest are redone, so the
result equals an undamaged run; reading a damaged store before that names the repair. Files
outside the store (a link's target) are never touched."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hetsim.explore import explore, read_results
from tests.conftest import CliResult

pytest.importorskip("duckdb")
Run = Callable[..., CliResult]
SPEC = {"axes": {"model": ["llama2-7b", "llama2-13b"], "hardware": ["h100-sxm", "l40s"], "tp": [1, 2],
                 "batch": [1, 4, 16, 64], "input_len": [128, 512, 2048], "output_len": [16, 64, 256]},
        "chunk_size": 12}  # fmt: skip  # 288 points in 24 chunks
FOREIGN = {**SPEC, "axes": {**SPEC["axes"], "model": ["llama2-70b", "llama2-7b"]}}  # same shape


def _sorted(cols: dict[str, np.ndarray]) -> dict[str, list[object]]:  # type: ignore[type-arg]
    order = np.argsort(cols["index"])
    return {k: v[order].tolist() for k, v in cols.items()}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pristine") / "store"
    explore(SPEC, out, workers=1)
    return out


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("foreign") / "store"
    explore(FOREIGN, out, workers=1)
    return out


@pytest.fixture
def store(pristine: Path, tmp_path: Path) -> Path:
    out = tmp_path / "box" / "store"
    shutil.copytree(pristine, out)
    return out


def _append(store: Path, *lines: str | bytes) -> None:
    with open(store / "done.jsonl", "ab") as f:
        for ln in lines:
            f.write((ln.encode() if isinstance(ln, str) else ln) + b"\n")


def _line(store: Path, k: int) -> dict[str, object]:
    lines = [json.loads(ln) for ln in (store / "done.jsonl").read_text().splitlines()]
    return next(r for r in lines if r["chunk"] == k)


def _resume_equals(run_cli: Run, store: Path, pristine: Path, redone: int | None) -> None:
    r = run_cli("explore", "--resume", str(store), "--workers", "1", "--json")
    assert r.code == 0, r.err
    if redone is not None:
        assert json.loads(r.out)["chunks_run"] == redone, r.out
    assert _sorted(read_results(store)) == _sorted(read_results(pristine))
    q = run_cli(
        "explore",
        "query",
        str(store),
        "SELECT count(*) - count(DISTINCT index) AS dup FROM results",
        "--json",
    )
    assert q.code == 0 and json.loads(q.out) == [{"dup": 0}], (q.out, q.err)


def _query_refused(run_cli: Run, store: Path, needle: str) -> None:
    r = run_cli("explore", "query", str(store), "SELECT count(*) FROM results")
    assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, r.err


def test_truncated_chunk_is_named_then_redone(run_cli: Run, store: Path, pristine: Path) -> None:
    path = store / "chunks" / "c-000003.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _query_refused(run_cli, store, "--resume")
    _resume_equals(run_cli, store, pristine, redone=1)


def test_altered_chunk_of_the_same_size_is_redone(run_cli: Run, store: Path, pristine: Path) -> None:
    path = store / "chunks" / "c-000004.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _resume_equals(run_cli, store, pristine, redone=1)


def test_bad_done_lines_are_skipped(run_cli: Run, store: Path, pristine: Path) -> None:
    good = _line(store, 2)
    _append(store, '{"chunk": "x"}', "[]", "null", "17", '{"chunk": 99999, "start": 0, "stop": 1}',
            '{"chunk": -1}', '{"chunk": true}', '{"chunk": 1.5}', b"\xff\xfe garbage",
            json.dumps({**good, "start": 0, "stop": 5}), json.dumps({**good, "rows": -1}),
            json.dumps({**good, "removed": [1]}), json.dumps({**good, "removed": {"fits": "x"}}),
            json.dumps({**good, "bytes": "big"}), json.dumps(good))  # fmt: skip
    _resume_equals(run_cli, store, pristine, redone=0)


def test_manifest_that_is_not_a_mapping(run_cli: Run, store: Path) -> None:
    for text in ("[]", '"x"', "{}", '{"spec": []}', '{"spec": {}, "n_points": -1, "chunk_size": 1}', "\xff"):
        (store / "manifest.json").write_text(text, encoding="latin-1")
        for args in (("explore", "--resume", str(store)), ("explore", "query", str(store), "SELECT 1")):
            r = run_cli(*args)
            assert r.code == 2 and r.err.startswith("error: ") and r.err.count("\n") == 1, (text, args, r.err)


def test_edited_manifest_spec_is_refused(run_cli: Run, store: Path) -> None:
    man = json.loads((store / "manifest.json").read_text())
    man["spec"]["axes"]["tp"] = [1, 2, 4]
    (store / "manifest.json").write_text(json.dumps(man))
    r = run_cli("explore", "--resume", str(store))
    assert r.code == 2 and "does not match" in r.err, r.err


def test_stray_files_in_chunks_are_left_alone(run_cli: Run, store: Path, pristine: Path) -> None:
    notes = store / "chunks" / "c-notes.parquet"
    notes.write_text("my notes")
    (store / "chunks" / "c-12.parquet").write_text("not ours either")
    (store / "chunks" / "sub").mkdir()
    _resume_equals(run_cli, store, pristine, redone=0)
    assert notes.read_text() == "my notes"


def test_foreign_chunk_with_its_line_is_redone(
    run_cli: Run, store: Path, pristine: Path, foreign: Path
) -> None:
    shutil.copy(foreign / "chunks" / "c-000005.parquet", store / "chunks" / "c-000005.parquet")
    _append(store, json.dumps(_line(foreign, 5)))
    _resume_equals(run_cli, store, pristine, redone=1)


def test_foreign_chunk_under_our_line_is_redone(
    run_cli: Run, store: Path, pristine: Path, foreign: Path
) -> None:
    ours = _line(store, 7)
    src = foreign / "chunks" / "c-000007.parquet"
    shutil.copy(src, store / "chunks" / "c-000007.parquet")
    _append(store, json.dumps({**ours, "bytes": src.stat().st_size}))  # a line that fits the size
    _resume_equals(run_cli, store, pristine, redone=1)


def test_symlinked_chunk_is_refused_and_its_target_untouched(
    run_cli: Run, store: Path, pristine: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.parquet"
    shutil.copy(pristine / "chunks" / "c-000006.parquet", outside)  # even a valid chunk
    before = outside.read_bytes()
    link = store / "chunks" / "c-000006.parquet"
    link.unlink()
    os.symlink(outside, link)
    _query_refused(run_cli, store, "links")
    _resume_equals(run_cli, store, pristine, redone=1)
    assert outside.read_bytes() == before and not link.is_symlink()


def test_missing_chunks_folder(run_cli: Run, store: Path) -> None:
    shutil.rmtree(store / "chunks")
    r = run_cli("explore", "--resume", str(store))
    assert r.code == 2 and "not an explore store" in r.err, r.err
