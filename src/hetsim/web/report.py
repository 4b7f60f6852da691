"""``hetsim report RUN.json --html FILE``: one self-contained HTML file (Plotly and the
renderer inlined, no server, no network) of an analysis, a comparison or the H2M2
reproduction, rendered by the dashboard's own page views."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from hetsim import __version__
from hetsim.api.analysis import AnalysisResult, LinkResult, OpResult, PhaseResult, RemapResult, SideResult
from hetsim.api.lookup import Device, Precision
from hetsim.errors import ConfigError, HetsimError
from hetsim.outfiles import atomic_write_text, check_new_file
from hetsim.web.shell import render_page
from hetsim.web.view import View

KINDS = (
    "an analysis (hetsim analyze --json), a comparison (hetsim compare --json, or a JSON list of analyses) "
    "or an H2M2 results.json"
)


def _has_default(cls: Any, name: str) -> bool:
    f = cls.__dataclass_fields__[name]
    return f.default is not MISSING or f.default_factory is not MISSING


def _number(v: Any, where: str) -> float:
    """A JSON number (null, written for a non-finite value, reads back as NaN)."""
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, int) and abs(v) > 2**63):
        raise ConfigError(f"{where}: expected a number, got {v!r:.40}")
    return float(v) if isinstance(v, int) else v


def _typed(v: Any, tp: Any, where: str) -> Any:
    """``v`` checked against the field type ``tp`` of a result record (one-line error)."""
    if tp is float:
        return _number(v, where)
    if tp is bool or tp is str:
        if not isinstance(v, tp):
            raise ConfigError(f"{where}: expected {'true/false' if tp is bool else 'text'}, got {v!r:.40}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**63:
            raise ConfigError(f"{where}: expected a whole number, got {v!r:.40}")
        return v
    origin, args = get_origin(tp), get_args(tp)
    if origin is dict:
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: expected an object, got {v!r:.40}")
        return {str(k): _typed(x, args[1], f"{where}.{k}") for k, x in v.items()}
    if origin is list and args[0] in (str, float):
        if not isinstance(v, list):
            raise ConfigError(f"{where}: expected a list, got {v!r:.40}")
        return [_typed(x, args[0], f"{where}[{i}]") for i, x in enumerate(v)]
    return v  # nested records and lists of them: rebuilt by the caller


def _record(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object")
    names = [f.name for f in fields(cls) if f.init]  # derived fields (bands) are rebuilt
    missing = [n for n in names if n not in data and not _has_default(cls, n)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    hints = get_type_hints(cls)
    return {n: _typed(data[n], hints[n], f"{where}.{n}") for n in names if n in data}


def analysis_from_json(d: Any, where: str = "analysis") -> AnalysisResult:
    """Rebuild a result from ``hetsim analyze --json`` output (null floats become inf)."""
    kw = _record(AnalysisResult, d, where)
    ops = []
    if not isinstance(d.get("ops", []), list):
        raise ConfigError(f"{where}.ops: expected a list of operators")
    for i, o in enumerate(d.get("ops", [])):
        ok = _record(OpResult, o, f"{where}.ops[{i}]")
        ok = {k: (math.inf if isinstance(v, float) and math.isnan(v) else v) for k, v in ok.items()}
        ops.append(OpResult(**ok))
    kw["ops"] = ops
    kw["prefill"] = PhaseResult(**_record(PhaseResult, d["prefill"], f"{where}.prefill"))
    kw["decode"] = PhaseResult(**_record(PhaseResult, d["decode"], f"{where}.decode"))
    kw["notes"] = _typed(d.get("notes", []), list[str], f"{where}.notes")
    for key, cls in (("sides", SideResult), ("links", LinkResult), ("remaps", RemapResult)):
        if key in kw and not isinstance(kw[key] or [], list):
            raise ConfigError(f"{where}.{key}: expected a list")
        if key in kw:
            kw[key] = [cls(**_record(cls, x, f"{where}.{key}[{i}]")) for i, x in enumerate(kw[key] or [])]
    try:
        return AnalysisResult(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _comparison_row(d: Any, where: str) -> dict[str, Any]:
    """A comparison row: a whole ``hetsim analyze --json`` object, or a ``hetsim compare --json`` row."""
    from hetsim.web.pages.compare import IDENTITY_KEYS, summary

    if isinstance(d, dict) and "ops" in d:
        return summary(analysis_from_json(d, where))
    need = (*IDENTITY_KEYS, "ttft_s")
    if not isinstance(d, dict) or any(k not in d for k in need):
        missing = [k for k in need if not isinstance(d, dict) or k not in d]
        raise ConfigError(f"{where}: not a hetsim analyze or compare row (missing {', '.join(missing)})")
    return dict(d)


def _device(name: str) -> Device | None:
    """The preset a result names (a name in a results file never opens a file)."""
    from hetsim.api.lookup import hardware_preset

    try:
        return hardware_preset(name)
    except HetsimError:
        return None


def _compute_dtype(label: str) -> str:
    """'Wfp16/Afp16/KVfp16' -> the dtype the matrix units run at."""
    try:
        w, a, kv = (p[len(k) :] for p, k in zip(label.split("/"), ("W", "A", "KV"), strict=True))
        return Precision.of(w, a, kv).compute.name
    except (ValueError, HetsimError):
        return "fp16"


def view_of(data: Any, where: str) -> tuple[str, str, View]:
    """(page slug, page title, view) for a parsed RUN.json."""
    from hetsim.web.pages.analyze import analysis_view
    from hetsim.web.pages.compare import comparison_view
    from hetsim.web.pages.h2m2 import h2m2_view

    if isinstance(data, dict) and "comparison" in data:
        data = data["comparison"]
    if isinstance(data, list):
        if len(data) < 2:
            raise ConfigError(f"{where}: a comparison needs at least two runs")
        rows = [_comparison_row(d, f"{where}[{i}]") for i, d in enumerate(data)]
        r0 = rows[0]
        title = (
            f"{r0['model']}: {r0['precision']}, batch {r0['batch']}, "
            f"{r0['input_len']} + {r0['output_len']} tokens"
        )
        devices = [_device(str(r["hardware"])) for r in rows]
        return "compare", "Comparison", comparison_view(rows, devices, title)
    if isinstance(data, dict) and "ops" in data and "ttft_s" in data:
        r = analysis_from_json(data, where)
        return "analyze", "Analysis", analysis_view(r, _device(r.hardware), _compute_dtype(r.precision))
    if isinstance(data, dict) and {"targets", "models", "literal"} <= set(data):
        return "h2m2", "H2M2 reproduction", h2m2_view(data)
    raise ConfigError(f"{where}: not {KINDS}")


def html_of(slug: str, title: str, view: View, source: str) -> str:
    spec = {
        "page": slug,
        "title": title,
        "intro": f"Static report written by hetsim {__version__} from {source}; opens without a server.",
        "fields": [],
        "view": view.to_json(),
        "static": True,
    }
    return render_page(spec, [], inline=True)


def write_html(text: str, out: Path, *, force: bool) -> Path:
    """Write ``text`` to ``out`` atomically; refuse another suffix, a missing folder, or an
    existing file without ``force`` (the rules of :mod:`hetsim.outfiles`)."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--html {out}: use a .html file name")
    check_new_file(out, force, "--html")
    return atomic_write_text(out, text)


def report(run: Path, out: Path, *, force: bool = False) -> Path:
    """Write the HTML report of ``run`` (a JSON file) to ``out``; returns ``out``."""
    from hetsim.datafiles import read_mapping

    if not run.is_file():
        raise ConfigError(f"{run} does not exist (give a JSON file written by hetsim)")
    if run.suffix.lower() != ".json":
        raise ConfigError(f"{run}: expected a .json file, {KINDS}")
    try:
        data: Any = json.loads(run.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = read_mapping(run)  # raises the loaders' one-line error
    slug, title, view = view_of(data, run.name)
    return write_html(html_of(slug, title, view, run.name), out, force=force)


def write_analysis_html(r: AnalysisResult, device: Device, compute_dtype: str, out: Path) -> Path:
    """The demo's analysis report (overwrites: ``out`` belongs to the demo)."""
    from hetsim.web.pages.analyze import analysis_view

    return write_html(
        html_of("analyze", "Analysis", analysis_view(r, device, compute_dtype), "hetsim demo"),
        out,
        force=True,
    )


def write_h2m2_html(rep: Any, out: Path) -> Path:
    """The reproduction's report with its memory-tier timeline (overwrites, like report.md)."""
    from hetsim.web.pages.h2m2 import h2m2_view

    view = h2m2_view(rep.results, rep.dynamic_records["h2m2"], rep.capacity_bytes)
    return write_html(html_of("h2m2", "H2M2 reproduction", view, "hetsim reproduce h2m2"), out, force=True)
