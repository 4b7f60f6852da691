"""The store survives: resume after a real kill -9 equals an uninterrupted run; no overwrites."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hetsim.explore import explore, read_results
from hetsim.explore.store import StoreError
from tests.conftest import sigint_as_at_a_terminal

SPEC = {"axes": {"model": ["llama2-7b", "llama2-13b"], "hardware": ["h100-sxm", "l40s"], "tp": [1, 2],
                 "batch": [1, 4, 16, 64], "input_len": [128, 512, 2048], "output_len": [16, 64, 256]},
        "chunk_size": 12}  # fmt: skip  # 288 points in 24 chunks


def _sorted(cols: dict[str, np.ndarray]) -> dict[str, list[object]]:
    order = np.argsort(cols["index"])
    return {k: v[order].tolist() for k, v in cols.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[object]]:
    out = tmp_path_factory.mktemp("ref") / "store"
    s = explore(SPEC, out, workers=1)
    assert s.chunks_run == s.n_chunks == 24
    return _sorted(read_results(out))


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path: Path, reference: dict) -> None:  # type: ignore[type-arg]
    out = tmp_path / "store"
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    slow = (
        "import time, hetsim.explore.backends as b\n"
        "orig = b.run_chunk\n"
        "def slow(*a):\n"
        "    time.sleep(0.05)\n"
        "    return orig(*a)\n"
        "b.run_chunk = slow\n"
        f"from hetsim.explore import explore\nexplore({str(spec_file)!r}, {str(out)!r}, workers=1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", slow])
    done = out / "done.jsonl"
    deadline = time.monotonic() + 60
    while not (done.exists() and done.read_text().count("\n") >= 2):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.3))  # a random moment mid-way
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    before = sum(1 for ln in done.read_text().splitlines() if ln.endswith("}"))  # complete lines
    assert 2 <= before < 24, f"killed too late ({before} chunks done)"
    s = explore(None, out, resume=True, workers=1)
    assert s.chunks_run == 24 - before
    got = _sorted(read_results(out))
    assert got == reference
    assert len(set(got["index"])) == len(got["index"])


def test_torn_manifest_line_and_stray_files_are_redone(tmp_path: Path, reference: dict) -> None:  # type: ignore[type-arg]
    out = tmp_path / "store"
    explore(SPEC, out, workers=1)
    lines = (out / "done.jsonl").read_text().splitlines()
    (out / "done.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:7])  # torn, no newline
    (out / "chunks" / ".c-000009.tmp").write_bytes(b"partial")
    s = explore(None, out, resume=True, workers=1)
    assert s.chunks_run == 19
    assert _sorted(read_results(out)) == reference
    assert not list((out / "chunks").glob(".*"))


def test_never_writes_into_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty and not an explore store"):
        explore(SPEC, tmp_path, workers=1)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    out = tmp_path / "s"
    explore({**SPEC, "chunk_size": 1000}, out, workers=1)
    with pytest.raises(StoreError, match="already holds a sweep; continue it with --resume"):
        explore(SPEC, out, workers=1)


def test_pool_equals_inline(tmp_path: Path, reference: dict) -> None:  # type: ignore[type-arg]
    explore(SPEC, tmp_path / "pool", workers=2)
    assert _sorted(read_results(tmp_path / "pool")) == reference


def test_ctrl_c_stops_cleanly_and_the_store_resumes(tmp_path: Path, reference: dict) -> None:  # type: ignore[type-arg]
    out = tmp_path / "store"
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    code = (
        "import time, hetsim.explore.backends as b\n"
        "orig = b.run_chunk\n"
        "def slow(*a):\n"
        "    time.sleep(0.05)\n"
        "    return orig(*a)\n"
        "b.run_chunk = slow\n"
        "from hetsim.cli import main\n"
        f"main(['explore', {str(spec_file)!r}, '--out', {str(out)!r}, '--workers', '1'])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_at_a_terminal
    )
    done = out / "done.jsonl"
    deadline = time.monotonic() + 60
    while not (done.exists() and done.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"hetsim explore --resume {out}" in err and "Traceback" not in err
    explore(None, out, resume=True, workers=1)
    assert _sorted(read_results(out)) == reference


def test_progress_is_reported_up_to_the_total(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    explore(SPEC, tmp_path / "s", workers=1, on_progress=lambda d, t: seen.append((d, t)))
    done = [d for d, _ in seen]
    assert seen[0] == (0, 288) and seen[-1] == (288, 288)
    assert done == sorted(done) and len(seen) == 25  # once at the start, then once per chunk
