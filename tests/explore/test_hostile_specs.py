"""Specs and command lines that crashed or hung `hetsim explore`: each now ends in one line and
exit 2, within seconds, before any point is evaluated."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliResult

Run = Callable[..., CliResult]
BASE: dict[str, Any] = {"model": "llama2-7b", "hardware": "h100-sxm", "batch": [1, 8], "input_len": 512,
                        "output_len": 64}  # fmt: skip
SERVING: dict[str, Any] = {"model": "llama2-7b", "hardware": "h100-sxm", "rate": 1, "requests": 10,
                           "input_len": 512, "output_len": 64}  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"axes": BASE, "reduce": {"top_k": 5}}, "reduce.top_k"),
        ({"axes": BASE, "reduce": {"top_k": {"by": "bogus"}}}, "unknown numeric reduce.top_k.by column"),
        ({"axes": BASE, "reduce": {"top_k": {"by": "model", "k": 2}}}, "unknown numeric"),
        ({"axes": BASE, "reduce": {"top_k": {"k": 2}}}, "reduce.top_k"),
        ({"axes": BASE, "reduce": {"top_k": {"by": "ttft_s", "k": 0}}}, "at least 1"),
        ({"axes": BASE, "reduce": {"top_k": {"by": "ttft_s", "order": "up"}}}, "min or max"),
        ({"axes": BASE, "reduce": {"pareto": 5}}, "true or false"),
        ({"axes": BASE, "objectives": {"model": "min"}}, "unknown numeric objective column"),
        ({"axes": BASE, "filters": ["hardware <= 3"]}, "unknown numeric column in filter"),
        ({"axes": {**BASE, "batch": 2**40}}, "from 1 to"),
        ({"mode": "serving", "axes": {**SERVING, "requests": 10**8}}, "from 1 to 100,000"),
        ({"mode": "serving", "axes": {**SERVING, "rate": float("inf")}}, "finite"),
        (
            {
                "axes": {**BASE, "batch": list(range(1, 1001)), "input_len": list(range(1, 102))},
                "chunk_size": 1,
            },
            "chunk files",
        ),
        ({"axes": BASE, "chunk_size": 10**12}, "chunk_size must be"),
        (
            {
                "axes": {a: list(range(1, 2001)) for a in ("batch", "input_len", "output_len", "tp")}
                | {"model": "llama2-7b", "hardware": "h100-sxm"}
            },
            "split it",
        ),
    ],
)
def test_bad_specs_fail_fast(run_cli: Run, tmp_path: Path, spec: dict[str, Any], needle: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    for extra in ((), ("--dry-run",)):
        t0 = time.perf_counter()
        r = run_cli("explore", str(path), "--out", str(tmp_path / "out"), "--workers", "1", *extra)
        assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, (spec, r.err)
        assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "out").exists()


def test_query_and_pareto_misuse(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"axes": BASE}))
    store = tmp_path / "store"
    assert run_cli("explore", str(path), "--out", str(store), "--workers", "1").code == 0
    for args, needle in (
        (("query", str(store), ""), "empty"),
        (("pareto", str(store), "--x", "model"), "unknown numeric column 'model'"),
        (("pareto", str(store), "--y", "hardware"), "unknown numeric column 'hardware'"),
        (("pareto", str(store), "--x", "index"), "unknown numeric column 'index'"),
        (("query", str(tmp_path / "nope"), "SELECT 1"), "not an explore store"),
        (("pareto", str(path), "--x", "ttft_s"), "not an explore store"),
    ):
        r = run_cli("explore", *args)
        assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, (args, r.err)
