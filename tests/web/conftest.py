"""A dashboard on a free port of 127.0.0.1 for the web tests (skipped without the web extra)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("plotly", reason="the web extra (pip install 'hetsim[web]') is not installed")

from hetsim.calibration.measurements import find_realdata
from hetsim.web.context import Context
from hetsim.web.server import Dashboard, warm

BAD_YAML = "name: broken\nsides: [unclosed\n"


# a small sweep (288 points, a few tenths of a second) for the Explore page
SWEEP = {"axes": {"model": ["llama2-7b", "llama2-13b"], "hardware": ["h100-sxm", "l40s"], "tp": [1, 2],
                  "batch": [1, 4, 16, 64], "input_len": [128, 512, 2048], "output_len": [16, 64, 256]},
         "chunk_size": 100}  # fmt: skip


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pyarrow", reason="the explore store needs pyarrow")
    from hetsim.explore import explore

    root = tmp_path_factory.mktemp("sweeps")
    explore(SWEEP, root / "small", workers=1)
    (root.parent / "outside.csv").write_text("secret\n")
    return root


@pytest.fixture(scope="session")
def dashboard(sweep_dir: Path) -> Iterator[Dashboard]:
    ctx = Context(sweep_dir=sweep_dir, realdata_dir=find_realdata(), max_upload_bytes=64 * 1024)
    dash = Dashboard(ctx, "127.0.0.1", 0).start()
    # as `hetsim dashboard` does: the slow default views (H2M2) are built in the background
    threading.Thread(target=warm, args=(ctx, dash.builder), daemon=True).start()
    yield dash
    dash.stop()


@pytest.fixture
def bad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    return path
