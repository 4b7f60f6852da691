"""The one hardware vocabulary: free-text hardware names as measurement sources write them
(``../shared/realdata/README.md``, "The vocabulary a reader must handle") -> the system that
prices them, or the reason a row is skipped.

A name maps to a preset (``H800 (SXM5)`` -> ``h800``), to a composed system where the text
describes a GPU with its host (``RTX 4090 + 2x Xeon 8480 + 512 GB DDR5`` ->
``rtx-4090+xeon-8480x2+dram:512GB``, see :mod:`hetsim.hardware.compose`), to a name kept for
kernel-level rows whose hardware has no preset (``A100 40GB`` -> ``a100-40gb``), or to nothing
with a reason. Patterns see the lower-cased text with bracketed remarks removed; the first
match wins. ``calibration.vocabulary`` and ``serving.rows`` both read this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hetsim.hardware.family import Family

# (pattern, name): a preset, or a name of hardware with kernel-level rows but no preset.
# Order matters: specific forms first (GH200 before H200, GB200 before B200, H100 PCIe before H100).
HARDWARE_RULES: tuple[tuple[str, str], ...] = (
    (r"a100.*40\s*gb", "a100-40gb"),
    (r"a100.*pcie", "a100-pcie"),  # the PCIe board (its own preset), never the SXM board
    (r"a100", "a100-80gb-sxm"),  # Vidur "A100", lmdeploy "A100-80G", "A100 80GB", "A100 DGX"
    (r"gh200", "gh200"),  # before h200: "GH200 480GB"
    (r"gb300", "gb300"),
    (r"gb200", "gb200"),  # before b200: "GB200 192GB (GB200 NVL72)"
    (r"\bb300\b", "b300"),
    (r"\bb200\b", "b200"),
    (r"h100.*pcie", "h100-pcie"),
    (r"h100", "h100-sxm"),  # Vidur H100 / H100 DGX: SXM5 boards
    (r"\bh800\b", "h800"),
    (r"\bh200\b", "h200"),
    (r"\bh20\b", "h20"),
    (r"\bl40s\b", "l40s"),
    (r"\bl40\b", "l40"),
    (r"\bl4\b", "l4"),
    (r"\ba10g\b", "a10g"),
    (r"\ba40\b", "a40"),
    (r"rtx\s*(pro\s*)?6000.*blackwell|rtx\s*pro\s*6000", "rtx-pro-6000"),
    (r"\bt4\b.*(dram|ssd)", "flexgen-t4"),  # the FlexGen offload box (T4 + host DRAM + NVMe)
    (r"a6000.*host", "a6000-offload"),  # the ZeRO-Inference offload workstation
    (r"(rtx\s*)?a6000", "rtx-a6000"),
    (r"(rtx\s*)?5090", "rtx-5090"),
    (r"(rtx\s*)?4090", "rtx-4090"),
    (r"(rtx\s*)?3090\s*ti", "rtx-3090-ti"),
    (r"(rtx\s*)?2080\s*ti", "rtx-2080-ti"),
    (r"titan\s*rtx", "titan-rtx"),
    (r"mi355x", "mi355x"),
    (r"mi325x", "mi325x"),
    (r"mi300x", "mi300x"),
    (r"mi250x", "mi250x"),
    (r"mi210", "mi210"),
    (r"mi100", "mi100"),
    (r"v100", "v100"),
    (r"gaudi\s*-?\s*3", "gaudi3"),
    (r"gaudi\s*-?\s*2", "gaudi2"),
    (r"tpu\s*v5e|v5litepod", "tpu-v5e"),
    (r"tpu\s*v5p", "tpu-v5p"),
    (r"tpu\s*v6e|trillium", "tpu-v6e"),
    (r"6900\s*xt", "rx6900xt"),
)

# bracketed or prose variants that pick another preset of the same part: (pattern on the
# whole text, base name, variant name)
VARIANTS: tuple[tuple[str, str, str], ...] = ((r"one\s+gcd|single\s+gcd|1\s*gcd", "mi250x", "mi250x-gcd"),)

# names that bare "Gaudi 2/3" forms denote ("Intel Gaudi 2/3" is two parts, not one)
AMBIGUOUS: tuple[tuple[str, str], ...] = (
    (r"gaudi\s*2\s*/\s*3", "names two parts (Gaudi 2 and Gaudi 3); the row must say which"),
)

# host CPUs a prose row may name -> CPU preset (see hardware/presets/*-cpu parts)
HOST_RULES: tuple[tuple[str, str], ...] = (
    (r"xeon.*6980p", "xeon-6980p"),
    (r"xeon.*8592", "xeon-8592"),
    (r"xeon.*8480", "xeon-8480"),
    (r"xeon.*6454s", "xeon-6454s"),
    (r"epyc.*9755", "epyc-9755"),
    (r"epyc.*9654", "epyc-9654"),
    (r"\bgrace\b", "grace"),
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\(.*?\)", " ", text.lower())).strip()


def normalise_hardware(text: str) -> str:
    """Preset-style name of a free-text hardware name, also of hardware without a preset that
    kernel-level rows describe ('' when nothing matches)."""
    return _read(text).system


@dataclass(frozen=True, slots=True)
class Match:
    """What a hardware string denotes: ``system`` (a preset, a composition spec, or a name of
    hardware without a preset), or '' with ``reason``."""

    system: str
    reason: str = ""


def _host(low: str, gpu: str) -> str:
    """A composition spec for a GPU written with its host (CPU, sockets, DRAM), or ''."""
    cpu = next((name for pat, name in HOST_RULES if re.search(pat, low)), "")
    dram = re.search(
        r"(\d+(?:\.\d+)?)\s*(tb|gb)\s*(?:of\s+)?(?:ddr\d?\S*\s*)?(?:host|dram|ram|memory|cpu memory)", low
    )
    if not cpu and not dram:
        return ""
    parts = [gpu]
    if cpu:
        sockets = re.search(r"(\d)\s*(?:x|×)\s*(?:intel\s+|amd\s+)?(?:xeon|epyc)|dual[- ]socket", low)
        n = 2 if sockets and sockets.group(0).startswith("dual") else int(sockets.group(1)) if sockets else 1
        parts.append(cpu + (f"x{n}" if n > 1 else ""))
    if dram:
        parts.append(f"dram:{dram.group(1)}{dram.group(2).upper()}")
    if re.search(r"nvme|ssd", low):
        parts.append("nvme")
    return "+".join(parts)


def _read(text: str) -> Match:
    """The name (or composition) a free-text hardware name reads as, or the reason it has none."""
    whole = text.lower()
    low = _clean(text)
    for pattern, reason in AMBIGUOUS:
        if re.search(pattern, whole):
            return Match("", f"hardware {text!r} {reason}")
    name = next((n for pat, n in HARDWARE_RULES if re.search(pat, low)), "")
    if not name:  # a machine named by its box, the GPU in brackets: 'Intel 265K PC (Nvidia RTX 4090)'
        inner = " ".join(re.findall(r"\(([^()]*)\)", whole))
        name = next((n for pat, n in HARDWARE_RULES if re.search(pat, inner)), "")
    if not name:
        return Match("", f"hardware {text!r} matches no known hardware")
    for pattern, base, variant in VARIANTS:
        if name == base and re.search(pattern, whole):
            name = variant
    if name in ("flexgen-t4", "a6000-offload"):
        return Match(name)
    host = _host(low, name) if "+" in text or " with " in low else ""
    return Match(host or name)


def resolve(text: str) -> Match:
    """The system a free-text hardware name denotes and hetsim can price (a preset or a
    composition of presets), or the reason the row is skipped."""
    from hetsim.hardware.loader import HARDWARE

    m = _read(text)
    if not m.system:
        return m
    known = set(HARDWARE.names()) | set(_aliases())
    missing = [p.split(":")[0] for p in m.system.split("+") if p.split(":")[0] not in ("dram", "nvme")
               and re.sub(r"x\d+$", "", p) not in known]  # fmt: skip
    if missing:
        return Match("", f"hardware {text!r} reads as {m.system}, and {', '.join(missing)} has no preset")
    return m


def _aliases() -> list[str]:
    from hetsim.hardware.loader import preset_aliases

    return preset_aliases()


def preset_family(name: str, description: str = "") -> Family:
    """The family of the preset a user file's name or description names (the vocabulary's
    match), or an unknown family."""
    from hetsim.hardware.loader import HARDWARE

    for text in (name, description):
        match = resolve(text).system.split("+")[0]
        if match and match in HARDWARE.names():
            dev = HARDWARE.get_item(match)
            if dev.architecture:
                return Family(dev.vendor, dev.architecture, f"inferred: {text!r} reads as the preset {match}")
    return Family()
