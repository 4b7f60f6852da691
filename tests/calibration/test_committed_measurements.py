"""Every measurement CSV committed under data/measurements/ (published rows and hetsim's own)
is in the shared schema, reads with the project's loader without losing a row to a parse
error, and names the source of every row."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hetsim.calibration.measurements import COLUMNS, read_measurements

DATA = Path(__file__).resolve().parents[2] / "data" / "measurements"
FILES = sorted(DATA.rglob("*.csv"))


def test_there_are_committed_measurement_files() -> None:
    assert FILES, f"no measurement CSV under {DATA}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(DATA)) for p in FILES])
def test_file_reads_with_the_loader_and_every_row_names_its_source(path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS, f"{path.name}: header is not the shared schema"
        raw = list(reader)
    assert raw, f"{path.name} has no rows"
    no_url = [i for i, r in enumerate(raw, start=2) if not (r["source_url"] or "").strip().startswith("http")]
    assert not no_url, f"{path.name}: lines without a source_url: {no_url[:10]}"
    no_id = [i for i, r in enumerate(raw, start=2) if not (r["source_id"] or "").strip()]
    assert not no_id, f"{path.name}: lines without a source_id: {no_id[:10]}"

    rows, skipped = read_measurements([path])
    # a value or an integer field the loader cannot read is a transcription defect, not a
    # modelling gap: nothing may be lost to it
    for reason in ("unparsable_row", "non_numeric_value"):
        assert skipped[reason] == 0, f"{path.name}: {skipped[reason]} rows skipped as {reason}"
    assert len(rows) + sum(skipped.values()) == len(raw), f"{path.name}: rows were dropped without a reason"
    assert all(r.value == r.value and r.value >= 0 for r in rows), f"{path.name}: NaN or negative value"
