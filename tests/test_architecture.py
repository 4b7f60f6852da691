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
    {"options"},  # the analysis options, defined once (read by explore, the API and the front ends)
    {"calibration"},
    {"explore"},
    {"experiments"},
    {"api"},  # the one door of the front ends
    {"report"},
    {"web"},
    {"cli", "__main__", "__init__"},
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


FRONT_ENDS = ("cli", "web", "report")
# What a front end may import besides the API (hetsim.api.*) and the front ends themselves:
# the base layer's utilities, which are not part of the model (errors, units, output files,
# file reading) and the option set the API itself takes (its flags' help is built from it).
BASE = {"hetsim", "hetsim.errors", "hetsim.units", "hetsim.outfiles", "hetsim.safeload",
        "hetsim.datafiles", "hetsim.options"}  # fmt: skip
# Remaining exceptions, each with its reason; the test fails when one is no longer used, so the
# list only shrinks.
EXCEPTIONS: dict[str, str] = {}


def _front_end_imports() -> dict[str, set[str]]:
    """Deep modules each front end imports (module -> files), at load time or in a function."""
    found: dict[str, set[str]] = {}
    for fe in FRONT_ENDS:
        for path in (ROOT / fe).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                mods = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hetsim"):
                    mods = [node.module]
                elif isinstance(node, ast.Import):
                    mods = [a.name for a in node.names if a.name.startswith("hetsim")]
                for m in mods:
                    parts = m.split(".")
                    if m in BASE or (len(parts) > 1 and parts[1] in (*FRONT_ENDS, "api")):
                        continue
                    found.setdefault(m, set()).add(str(path.relative_to(ROOT)))
    return found


def test_front_ends_use_only_the_api() -> None:
    """cli/, web/ and report/ reach the core through hetsim.api only (issue 19: a change inside
    the core must not ripple into three front ends)."""
    found = _front_end_imports()
    bad = [f"{m} (in {', '.join(sorted(fs))})" for m, fs in sorted(found.items()) if m not in EXCEPTIONS]
    assert not bad, "front ends importing the core past hetsim.api:\n" + "\n".join(bad)
    stale = sorted(set(EXCEPTIONS) - set(found))
    assert not stale, f"exceptions no longer used (remove them from EXCEPTIONS): {stale}"


def test_the_api_exports_what_it_names() -> None:
    """Every lazily exported name of the API resolves (a moved core symbol fails here, once)."""
    import importlib

    for sub in ("analysis", "lookup", "serving", "validation", "reproduce", "explore"):
        mod = importlib.import_module(f"hetsim.api.{sub}")
        for name in mod.__all__:
            assert getattr(mod, name) is not None, (sub, name)
    api = importlib.import_module("hetsim.api")
    for name in api.__all__:
        assert getattr(api, name) is not None, name
