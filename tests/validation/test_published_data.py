"""The project carries its own data: every published measurement it reads is committed in
``data/measurements/published/`` with the source of every row, and the folder's README lists
each file with its row count. Readers find the folder without anything beside the checkout."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from hetsim.calibration.measurements import COLUMNS, PUBLISHED_DIR, find_realdata
from hetsim.errors import MeasurementError

FILES = sorted(PUBLISHED_DIR.glob("*.csv"))
README = PUBLISHED_DIR / "README.md"


def test_the_folder_is_inside_the_repository() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert PUBLISHED_DIR == repo / "data" / "measurements" / "published"
    assert len(FILES) >= 10  # the development set, power and energy, offload runs


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_row_names_its_source(path: Path) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert rows
    for i, row in enumerate(rows, start=2):
        assert row["source_id"].strip(), f"{path.name}:{i} has no source_id"
        assert re.match(r"https?://\S+$", row["source_url"]), f"{path.name}:{i} has no source URL"


def test_the_readme_lists_every_file_with_its_row_count() -> None:
    listed = dict(re.findall(r"^\| `([^`]+\.csv)` \| (\d+) \|", README.read_text(encoding="utf-8"), re.M))
    counted = {}
    for path in FILES:
        with path.open(encoding="utf-8", newline="") as f:
            counted[path.name] = str(sum(1 for _ in csv.DictReader(f)))
    assert listed == counted


def test_the_default_folder_and_its_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HETSIM_REALDATA", raising=False)
    assert find_realdata() == PUBLISHED_DIR
    monkeypatch.setenv("HETSIM_REALDATA", str(tmp_path))
    assert find_realdata() == tmp_path
    monkeypatch.setenv("HETSIM_REALDATA", str(tmp_path / "missing"))
    with pytest.raises(MeasurementError, match=r"HETSIM_REALDATA\) is not a folder"):
        find_realdata()


def test_a_copy_without_its_data_asks_for_measurements(
    run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An installed wheel has no data/measurements/published/ beside it: validate says what to
    pass, in one line, exit 2."""
    import hetsim.calibration.measurements as measurements

    monkeypatch.delenv("HETSIM_REALDATA", raising=False)
    monkeypatch.setattr(measurements, "PUBLISHED_DIR", tmp_path / "absent")
    r = run_cli("validate")
    assert r.code == 2 and "pass --measurements FILE.csv or set HETSIM_REALDATA" in r.err
    assert len(r.err.strip().splitlines()) == 1
