"""Hardware families, and the rule that decides which calibrated knobs price a device.

A device's *family* is its vendor and architecture (tensor-core generation for a GPU, core
generation for a CPU); its memory technology is on its memory tier. The calibrated kernel
knobs (:class:`~hetsim.hardware.kernels.KernelParams`) are fractions of a device's own
datasheet peak and bandwidth, so they transfer to devices of a family that executes kernels
the same way. The rules, tried in order (the first that applies decides):

1. **own overlay**: a preset with ``hardware/calibrated/<name>.yaml`` (fitted on its rows,
   or written for it by ``hetsim calibrate --transfer-to``). A user file never takes a
   preset's own overlay, even when it carries the preset's name.
2. **GPU family**: an NVIDIA or AMD GPU (SIMT cores with tensor / matrix cores): the shared
   knobs of the :data:`TRANSFER_SOURCE` overlay, fitted on NVIDIA Ampere kernel rows
   (A100-80GB HBM2e, A40 GDDR6) and checked held out on Hopper (H100 SXM Vidur ops; H100
   PCIe, H200 stream) and CDNA 2 (MI210 stream): 9.6% kernel MAPE (docs/calibration.md).
   Without an SM count and output tile (``n_parallel``, ``tile_mn``) the wave/tile part of
   the GEMM model is off; the output says which fields to add.
3. **memory technology**: an accelerator of another kind (systolic arrays: TPU, Gaudi; a
   dataflow chip) with HBM or GDDR memory: only the streaming fraction of bandwidth
   (``memory_efficiency``, fitted on HBM2e / GDDR6 stream rows) transfers, as the memory
   tier's constant efficiency; compute keeps the file's efficiency curves.
4. **nothing transfers** (a CPU, a research concept, an unknown family): the datasheet
   roofline with the file's efficiency curves; the output names the curves' provenance
   (calibrated: CPU presets carry the CPU fit, ``hetsim.calibration.cpu_fit``) or says the
   device runs at its datasheet peak, and which fields to add.

The family is the file's ``family: {vendor, architecture}``; a file without one is placed by
the hardware vocabulary (:mod:`hetsim.hardware.names`) from its name and description.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hetsim.datafiles import read_mapping
from hetsim.errors import ConfigError, UnknownNameError
from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.kernels import KernelParams, load_overlay, overlay_path
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device, Side

# architecture -> (vendor, class); class: gpu (SIMT + tensor/matrix cores), systolic, dataflow,
# cpu, soc (unified-memory SoC GPU), research (concept systems of papers)
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "volta": ("nvidia", "gpu"),
    "turing": ("nvidia", "gpu"),
    "ampere": ("nvidia", "gpu"),
    "ada": ("nvidia", "gpu"),
    "hopper": ("nvidia", "gpu"),
    "blackwell": ("nvidia", "gpu"),
    "blackwell-ultra": ("nvidia", "gpu"),
    "cdna2": ("amd", "gpu"),
    "cdna3": ("amd", "gpu"),
    "cdna4": ("amd", "gpu"),
    "gaudi2": ("intel", "systolic"),
    "gaudi3": ("intel", "systolic"),
    "tpu-v5e": ("google", "systolic"),
    "tpu-v5p": ("google", "systolic"),
    "tpu-v6e": ("google", "systolic"),
    "rdu": ("sambanova", "dataflow"),
    "davinci": ("huawei", "systolic"),  # Ascend 910B / 910C (cube cores)
    "sapphire-rapids": ("intel", "cpu"),
    "emerald-rapids": ("intel", "cpu"),
    "granite-rapids": ("intel", "cpu"),
    "cascade-lake": ("intel", "cpu"),
    "zen3": ("amd", "cpu"),
    "zen4": ("amd", "cpu"),
    "zen5": ("amd", "cpu"),
    "neoverse-v2": ("nvidia", "cpu"),
    "apple-m2": ("apple", "soc"),
    "apple-m3": ("apple", "soc"),
    "apple-m4": ("apple", "soc"),
    "research": ("", "research"),
}

# The overlay whose knobs transfer to a GPU that has none of its own: the hardware the shared
# kernel parameters were fitted on.
TRANSFER_SOURCE = "a100-80gb-sxm"
GPU_RULE = (
    "GPU family (SIMT cores with tensor / matrix cores): the shared knobs are fractions of the "
    "device's own datasheet peak and bandwidth, fitted on NVIDIA Ampere kernel rows (A100-80GB, "
    "A40: gpu_stream, vidur_ops, vidur_allreduce) and checked held out on Hopper and CDNA 2 "
    "(H100 SXM ops, H100 PCIe / H200 / MI210 stream: 9.6% kernel MAPE, docs/calibration.md)"
)
MEMORY_RULE = (
    "memory technology: the streaming fraction of bandwidth (memory_efficiency, fitted on HBM2e / "
    "GDDR6 stream rows of A100-80GB and A40) transfers to {tech}; no kernel rows of a {cls} "
    "accelerator were fitted, so compute keeps this file's efficiency curves"
)
FAMILY_HINT = (
    "add family: {vendor: nvidia, architecture: hopper} (architectures: " + ", ".join(ARCHITECTURES) + ")"
)


@dataclass(frozen=True, slots=True)
class Family:
    vendor: str = ""
    architecture: str = ""
    how: str = ""  # where it came from: the file, or the vocabulary match of its name

    @property
    def kind(self) -> str:
        return ARCHITECTURES.get(self.architecture, ("", ""))[1]

    def __str__(self) -> str:
        what = " ".join(x for x in (self.vendor, self.architecture) if x) or "unknown"
        return f"{what} ({self.how})" if self.how else what


def parse_family(raw: object, where: str) -> tuple[str, str]:
    """(vendor, architecture) of a ``family:`` mapping; the architecture must be known."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: family must be a mapping {{vendor, architecture}}; {FAMILY_HINT}")
    unknown = sorted(set(raw) - {"vendor", "architecture"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: architecture, vendor"
        )
    arch = str(raw.get("architecture", "")).strip().lower()
    if arch not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    vendor = str(raw.get("vendor", "") or ARCHITECTURES[arch][0]).strip().lower()
    if ARCHITECTURES[arch][0] and vendor != ARCHITECTURES[arch][0]:
        raise ConfigError(f"{where}: architecture {arch!r} is {ARCHITECTURES[arch][0]}'s, not {vendor!r}")
    return vendor, arch


def family_of(dev: Device, *, infer: bool = True) -> Family:
    """The device's family: its file's, else (``infer``) the vocabulary's match of its name or
    description (presets declare theirs: they are read before the vocabulary can look them up)."""
    if dev.architecture:
        return Family(dev.vendor, dev.architecture, "the file's family")
    if not infer:
        return Family()
    from hetsim.hardware.names import preset_family

    return preset_family(dev.name, dev.description)


@dataclass(frozen=True, slots=True)
class Choice:
    """What prices a device: its kernel knobs (None: datasheet roofline), a short label (the
    ``calibration`` of results) and notes (the rule, its provenance, the knobs applied, and
    which fields to add where nothing transferred)."""

    kernels: KernelParams | None
    label: str
    notes: tuple[str, ...]
    memory_efficiency: float | None = None  # rule 3: the memory tiers' constant efficiency


def _knobs(kp: KernelParams) -> str:
    names = ("gemm_efficiency", "memory_efficiency", "attention_efficiency", "link_efficiency")
    return ", ".join(f"{n} {getattr(kp, n):.3g}" for n in names)


def _curve_note(dev: Device) -> str:
    """How the roofline's efficiency is set on the primary side (or that it is not)."""
    side = dev.primary
    parts = [(u.name, u.efficiency) for u in side.units] + [(side.memory.name, side.memory.efficiency)]
    full = [n for n, c in parts if c.values == (1.0,)]
    kinds = sorted({c.provenance.kind for _, c in parts if c.values != (1.0,)})
    if full:
        return (
            f"priced at datasheet peak on {', '.join(full)} (no efficiency curve): add efficiency "
            "curves, or a family whose knobs transfer"
        )
    return f"datasheet roofline with this file's efficiency curves ({'/'.join(kinds)})"


def uncalibrated_notes(dev: Device) -> tuple[str, ...]:
    """The notes of a run asked to be uncalibrated (the datasheet roofline)."""
    return ("calibration: none (an uncalibrated run was asked for)", _curve_note(dev))


def _overlay_role(name: str) -> str:
    path = overlay_path(name)
    return str(read_mapping(path).get("role", "fitted")) if path.is_file() else ""


def choose(dev: Device, *, preset: bool) -> Choice:
    """Apply the rules above to ``dev`` (``preset``: a shipped preset, which may own an overlay)."""
    own = load_overlay(dev.name) if preset else None
    if own is not None:
        role = _overlay_role(dev.name)
        note = f"calibration: {dev.name} overlay ({role}); knobs {_knobs(own)}"
        if role == "transferred":
            return Choice(own, f"{dev.name} overlay", (f"{note}; rule: {GPU_RULE}",))
        return Choice(own, f"{dev.name} overlay", (note,))
    fam = family_of(dev, infer=not preset)
    shared = load_overlay(TRANSFER_SOURCE)
    if fam.kind == "gpu" and shared is not None:
        notes = [
            f"calibration: transferred from {TRANSFER_SOURCE} overlay by family {fam}; rule: {GPU_RULE}; "
            f"knobs {_knobs(shared)}"
        ]
        unit = dev.primary.unit_for("matrix")
        if unit.n_parallel <= 0 or min(unit.tile_mn) <= 0:
            notes.append(
                "the GEMM wave/tile model is off: add n_parallel (SMs / CUs) and tile_mn to unit "
                f"{unit.name!r}"
            )
        return Choice(shared, f"transferred from {TRANSFER_SOURCE} overlay", tuple(notes))
    tech = dev.primary.memory.technology.upper()
    if fam.kind in ("systolic", "dataflow") and shared is not None and tech.startswith(("HBM", "GDDR")):
        rule = MEMORY_RULE.format(tech=dev.primary.memory.technology, cls=fam.kind)
        note = (
            f"calibration: memory knobs transferred from {TRANSFER_SOURCE} overlay by family {fam}; rule: "
            f"{rule}; memory_efficiency {shared.memory_efficiency:.3g}"
        )
        return Choice(
            None,
            f"memory knobs from {TRANSFER_SOURCE} overlay",
            (note, _curve_note(dev)),
            shared.memory_efficiency,
        )
    if fam.kind == "cpu" and dev.primary.memory.efficiency.provenance.kind == "calibrated":
        rule = (
            "CPU: roofline from the datasheet (cores x SIMD / AMX width x clock; channels x transfer rate) x "
            "the CPU fit's efficiencies (hetsim.calibration.cpu_fit: stream efficiency fitted leaving "
            "one source "
            "out on CPU decode rows; AMX efficiency on one prefill source)"
        )
        return Choice(
            None, "cpu fit", (f"calibration: cpu fit by family {fam}; rule: {rule}", _curve_note(dev))
        )
    why = (
        f"family {fam}: no fitted knobs transfer to a {fam.kind} device"
        if fam.kind
        else f"family unknown (no family in the file, and its name matches no known hardware): {FAMILY_HINT}"
    )
    return Choice(None, "none", (f"calibration: none; {why}", _curve_note(dev)))


def _with_memory_efficiency(side: Side, eff: float, prov: Provenance) -> Side:
    mem = dataclasses.replace(side.memory, efficiency=EfficiencyCurve.constant(eff, prov))
    return dataclasses.replace(side, memory=mem)


# tensor-core generations the 8- / 4-bit GEMM knob (KernelParams.narrow_gemm_efficiency) was
# fitted on (DeepGEMM on H800, cuBLASLt on H100 / H200 / GB200): elsewhere (Ada's FP8, CDNA's)
# an 8-bit GEMM keeps the shared main-loop efficiency, for want of held-out rows of its own
NARROW_ARCHITECTURES = ("hopper", "blackwell", "blackwell-ultra")


def scoped_kernels(dev: Device, kp: KernelParams | None) -> KernelParams | None:
    """``kp`` as it applies to ``dev``: the narrow-GEMM knob only on its fitted generations."""
    if kp is None or kp.narrow_gemm_efficiency <= 0:
        return kp
    if family_of(dev).architecture in NARROW_ARCHITECTURES:
        return kp
    return dataclasses.replace(kp, narrow_gemm_efficiency=0.0)


def apply(dev: Device, choice: Choice) -> Device:
    """``dev`` priced as ``choice`` says."""
    sides = dev.sides
    if choice.memory_efficiency is not None:
        prov = Provenance(
            "calibrated", f"memory_efficiency of the {TRANSFER_SOURCE} overlay, by memory technology"
        )
        sides = (_with_memory_efficiency(sides[0], choice.memory_efficiency, prov), *sides[1:])
    kernels = scoped_kernels(dev, choice.kernels)
    return dataclasses.replace(
        dev, sides=sides, kernels=kernels, calibration=choice.label, calibration_notes=choice.notes
    )
