"""A dashboard on a free port of 127.0.0.1 for the web tests (skipped without the web extra)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("plotly", reason="the web extra (pip install 'hetsim[web]') is not installed")

from hetsim.calibration.measurements import find_realdata
from hetsim.web.context import Context
from hetsim.web.server import Dashboard

BAD_YAML = "name: broken\nsides: [unclosed\n"


@pytest.fixture(scope="session")
def dashboard() -> Iterator[Dashboard]:
    ctx = Context(realdata_dir=find_realdata(), max_upload_bytes=64 * 1024)
    dash = Dashboard(ctx, "127.0.0.1", 0).start()
    yield dash
    dash.stop()


@pytest.fixture
def bad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    return path
