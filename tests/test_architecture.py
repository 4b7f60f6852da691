"""Imports run one way through the pipeline (docs/architecture.md): lower layers never import upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

import hetsim

ROOT = Path(hetsim.__file__).parent
# A module may import only from its own layer or layers listed before it.
LAYERS = [
    {"units", "errors", "safeload", "outfiles", "datafiles"},
    {"workload"},
    {"ingest"},
    {"hardware"},
    {"engines"},  # engine records: data read by sim (analyze --framework) and serving
    {"memory"},
    {"cost"},
    {"dataflow"},
    {"placement"},
    {"analysis"},
    {"sim"},
    {"serving"},
    {"calibration"},
    {"explore"},
    {"experiments"},
    {"report"},
    {"web"},
    {"api", "cli", "__main__", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1].removesuffix(".py") if len(parts) > 1 else "__init__"


def test_imports_point_left_or_down() -> None:
    bad = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        here = _layer(".".join(rel.parts))
        if here not in RANK:
            bad.append(f"{rel}: package {here!r} has no layer in this test")
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hetsim."):
                there = _layer(node.module)
                if there in RANK and RANK[there] > RANK[here]:
                    bad.append(f"{rel} imports {node.module}")
    assert not bad, "imports against the pipeline direction:\n" + "\n".join(bad)
