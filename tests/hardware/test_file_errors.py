"""Hardware files a user gets wrong: one line saying where and what, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsides:\n  - name: a\n   memory: {capacity: 1 GB\n", "is not valid YAML: line 4, column 4"),
        ("name: x\nsidez: []\n", "did you mean 'sides' for 'sidez'?"),
        (
            "name: x\nsides:\n  - name: a\n    memroy: {}\n    units: []\n",
            "did you mean 'memory' for 'memroy'?",
        ),
        ("name: x\nfamily: {architecture: hoper}\nsides: []\n", "did you mean hopper"),
        ("name: x\ncompose: {gpu: rtx-4090, hots: xeon-8480}\n", "did you mean 'host' for 'hots'?"),
    ],
)
def test_bad_hardware_files(run_cli, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hw.yaml"
    path.write_text(text)
    res = run_cli("analyze", "-m", "llama3-8b", "-H", str(path))
    out = res.out + res.err
    assert res.code == 2 and message in out and "Traceback" not in out
