"""The op graphs, footprints and weight splits of the models that existed before layers were
built from blocks are unchanged (fingerprint taken on the single-function builder; see
``fingerprint.py``)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.workload import fingerprint as fpr

REL = 1e-12  # floating-point reordering only


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            label = x.get("name", i) if isinstance(x, dict) else i
            _same(x, y, f"{where}[{label}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-9), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def pinned() -> dict[str, Any]:
    return fpr.load()


@pytest.mark.parametrize("name", fpr.MODELS)
def test_op_graph_unchanged(name: str, pinned: dict[str, Any]) -> None:
    _same(pinned[name], fpr.model_fingerprint(name), name)
