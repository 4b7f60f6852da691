"""`explore query` and `explore pareto --where` read the store's table and nothing else: no file
is read or written through SQL (``read_text``, ``COPY … TO``, ``ATTACH``, ``EXPORT``), no second
statement is injected, no setting or extension is changed. Each attack ends in one line, exit 2,
and leaves the folder as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

pytest.importorskip("duckdb")

Run = Callable[..., CliResult]
SPEC = {"axes": {"model": "llama2-7b", "hardware": ["h100-sxm", "a100-80gb-sxm"], "tp": [1, 2],
                 "batch": [1, 8], "input_len": 512, "output_len": 64}}  # fmt: skip
SECRET = "hunter2-not-for-sql"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hetsim.explore import explore

    root = tmp_path_factory.mktemp("sql") / "st'o\"re"  # quotes in the folder name
    explore(SPEC, root, workers=1)
    return root


def _tree(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def _attacks(tmp: Path) -> list[str]:
    secret = tmp / "secret.txt"
    return [
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT content FROM read_blob('{secret}')",
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        f"COPY (SELECT 1 AS x) TO '{tmp / 'out.csv'}'",
        f"COPY results TO '{tmp / 'out.parquet'}' (FORMAT parquet)",
        f"ATTACH '{tmp / 'evil.db'}' AS evil",
        f"EXPORT DATABASE '{tmp / 'dump'}'",
        f"SELECT 1; COPY (SELECT 1) TO '{tmp / 'out.csv'}'",
        f"SELECT count(*) FROM results; SELECT * FROM read_text('{secret}')",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE t AS SELECT 1",
        "DROP VIEW results",
        "PRAGMA database_list",
        "CALL pragma_version()",
        "",
        "   ",
        ";",
    ]


def _outside_untouched(tmp: Path) -> None:
    assert sorted(p.name for p in tmp.iterdir()) == ["secret.txt"], list(tmp.iterdir())


def test_query_attacks_fail_with_one_line(run_cli: Run, store: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    before = _tree(store)
    modes: tuple[tuple[str, ...], ...] = ((), ("--json",), ("--csv",))
    for i, sql in enumerate(_attacks(tmp_path)):
        extra = modes[i % 3]  # each output mode in turn (the refusal comes before any output)
        r = run_cli("explore", "query", str(store), sql, *extra)
        assert r.code == 2, (sql, extra, r.code, r.out, r.err)
        assert r.err.startswith("error: ") and r.err.count("\n") == 1, (sql, r.err)
        assert SECRET not in r.out + r.err and "root:" not in r.out, sql
    _outside_untouched(tmp_path)
    assert _tree(store) == before


def test_where_injection_fails_with_one_line(run_cli: Run, store: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    secret = tmp_path / "secret.txt"
    before = _tree(store)
    for where in (
        f"1=1; COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
        f"1=1); COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'; SELECT (1",
        f"batch > (SELECT length(content) FROM read_text('{secret}'))",
        f"1=1) UNION ALL SELECT * FROM read_text('{secret}') --",
        f"1=1; ATTACH '{tmp_path / 'evil.db'}'",
        "1=1; SET enable_external_access=true",
        "",
        "batch >",
    ):
        r = run_cli("explore", "pareto", str(store), "--where", where)
        assert r.code == 2, (where, r.code, r.out, r.err)
        assert r.err.startswith("error: ") and r.err.count("\n") == 1, (where, r.err)
        assert SECRET not in r.out + r.err, where
    _outside_untouched(tmp_path)
    assert _tree(store) == before


def test_plain_queries_still_work(run_cli: Run, store: Path) -> None:
    r = run_cli("explore", "query", str(store), "SELECT count(*) AS n FROM results", "--json")
    assert r.code == 0, r.err
    n = json.loads(r.out)[0]["n"]
    assert n > 0
    r = run_cli("explore", "query", str(store), "WITH t AS (SELECT * FROM results) SELECT max(tp) FROM t;")
    assert r.code == 0, r.err
    r = run_cli("explore", "query", str(store), "DESCRIBE results", "--csv")
    assert r.code == 0 and "batch" in r.out, r.err
    r = run_cli("explore", "pareto", str(store), "--where", "batch >= 8")
    assert r.code == 0, r.err
    # text that looks like Rich markup is printed as it is
    r = run_cli("explore", "query", str(store), "SELECT '[/]' AS a, '[bold]x' AS \"[red]\"")
    assert r.code == 0 and "[/]" in r.out and "[bold]x" in r.out, (r.out, r.err)
