"""`hetsim compare`: every row is hetsim.analyze's answer; table, JSON, CSV and the bar plot."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import hetsim
from tests.conftest import CliResult

Run = Callable[..., CliResult]


def test_compare_rows_are_analyze_results(run_cli: Run) -> None:
    r = run_cli("compare", "-m", "llama2-7b,mixtral-8x7b", "-H", "h100-sxm", "-H", "h200",
                "--weight-dtype", "fp16,fp8", "-b", "4", "-p", "256", "-g", "32", "--json")  # fmt: skip
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert len(rows) == 8
    by = {(x["model"], x["hardware"], x["precision"]): x for x in rows}
    want = hetsim.analyze("llama2-7b", "h200", hetsim.Workload(4, 256, 32), hetsim.Precision.of("fp8"))
    got = by[("llama2-7b", "h200", want.precision)]
    assert got["tpot_s"] == want.tpot_s and got["energy_j_per_token"] == want.energy_j_per_token
    mixtral_h100 = by[("mixtral-8x7b", "h100-sxm", "Wfp16/Afp16/KVfp16")]
    assert mixtral_h100["fits"] is False and mixtral_h100["tpot_s"] is None  # no figures for a non-fit


def test_compare_table_csv_and_plot(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("compare", "-H", "h100-sxm,a100", "-b", "2", "-p", "128", "-g", "16")
    assert r.code == 0 and "h100-sxm" in r.out and "TPOT" in r.out
    r = run_cli("compare", "-H", "h100-sxm,a100", "-b", "2", "-p", "128", "-g", "16", "--csv")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [x["hardware"] for x in rows] == ["h100-sxm", "a100-80gb-sxm"]
    plot = tmp_path / "cmp.png"
    r = run_cli("compare", "-H", "h100-sxm,a100", "-b", "2", "-p", "128", "-g", "16", "--plot", str(plot))
    assert r.code == 0, r.err
    assert plot.stat().st_size > 20_000
    r = run_cli("compare", "-H", "h100-sxm", "--plot", str(plot))
    assert r.code == 2 and "exists" in r.err  # not replaced without --force


def test_compare_bad_input(run_cli: Run) -> None:
    for args, needle in ((("-H", "h100-sxm,,h200"), "empty name"), (("-H", "h100sxm"), "did you mean"),
                         (("--tp", "0"), "--tp must be a whole number from 1"),
                         (("--json", "--csv"), "choose one")):  # fmt: skip
        r = run_cli("compare", *args)
        assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, r.err
