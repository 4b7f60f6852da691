"""`hetsim reproduce h2m2` writes its report and prints the issue's JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_reproduce_h2m2_json(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    r = run_cli("reproduce", "h2m2", "--out", str(tmp_path), "--json")
    assert r.code == 0, r.err
    obj = json.loads(r.out)
    assert set(obj) >= {"models", "literal", "dynamic_lengths", "hbm8_speedup",
                        "energy_per_token_vs_lpddr", "calibration"}  # fmt: skip
    assert obj["models"]["llama2-70b"]["h2m2"]["mean_speedup"] > 1
    for name in ("report.md", "results.json", "speedup_gpt3-175b.png", "mapping_over_iterations.png",
                 "occupancy_over_iterations.png"):  # fmt: skip
        assert (tmp_path / name).exists(), name
    assert "arithmetic behind the gaps" in (tmp_path / "report.md").read_text()
