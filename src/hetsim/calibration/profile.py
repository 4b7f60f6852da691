"""Calibrated overlays on disk: ``hardware/calibrated/<device>.yaml``.

An overlay holds the fitted kernel-model parameters (``kernels:``, each with provenance) and
its *scope*: which hardware and files the fit used. ``role: fitted`` marks a device whose own
rows were fitted; ``role: transferred`` a device that received the shared shape parameters
without any of its rows being used, so its rows are held out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hetsim.datafiles import read_mapping
from hetsim.hardware.kernels import KernelParams, kernel_params_to_mapping, overlay_path
from hetsim.hardware.provenance import Provenance
from hetsim.outfiles import atomic_write_text, check_new_file

# parameters no fit touches, with where their value comes from
ASSUMED: dict[str, str] = {
    "split_k_min_k": "assumed: cuBLAS-style split-K keeps at least 256 of K per part",
    "tiles": "assumed: CUTLASS fp16 tensor-core output tiles 256x128 down to 64x64",
    "attention_efficiency": "assumed: fused (flash) attention forward ~50% of matrix peak (FlashAttention-2 "
    "reports 50-73% on A100); no kernel-level attention rows in the fit set",
    "launch_overhead_s": "assumed: gap between dependent kernels launched from C++ (TurboMind) ~2 us",
    "step_overhead_s": "assumed: host work per forward pass (scheduling, sampling, sync) in a C++ engine",
    "vector_latency_s": "assumed: minimum vector-kernel duration ~2 us, used only on a unit without a "
    "datasheet clock (otherwise vector_latency_cycles)",
}


@dataclass(frozen=True, slots=True)
class Scope:
    role: str  # "fitted" | "transferred"
    hardware: tuple[str, ...]  # hardware whose rows were fitted
    files: tuple[str, ...]  # base names of the files whose rows were fitted

    def fitted(self, hardware: str, file: str) -> bool:
        return hardware in self.hardware and file in self.files


def read_scope(device: str) -> Scope | None:
    path = overlay_path(device)
    if not path.is_file():
        return None
    raw = read_mapping(path)
    fit = raw.get("fit", {}) or {}
    return Scope(
        str(raw.get("role", "fitted")),
        tuple(str(h) for h in fit.get("hardware", ())),
        tuple(str(f) for f in fit.get("files", ())),
    )


def overlay_text(
    device: str,
    params: KernelParams,
    *,
    role: str,
    fit_hardware: Sequence[str],
    fit_files: Sequence[str],
    fit_rows: Mapping[str, int],
    rms_log_error: Mapping[str, float],
) -> str:
    """YAML text of one overlay."""
    data: dict[str, Any] = {
        "hardware": device,
        "role": role,
        "fit": {
            "hardware": list(fit_hardware),
            "files": list(fit_files),
            "rows": dict(fit_rows),
            "rms_log_error": {k: round(v, 4) for k, v in rms_log_error.items()},
        },
        "kernels": kernel_params_to_mapping(params),
    }
    head = (
        f"# Calibrated kernel model of {device} ({role}); written by `hetsim calibrate`, do not edit.\n"
        "# Parameters are shared shape values (fractions of this device's own datasheet peak and\n"
        "# bandwidth, latencies, tile-edge cost); the device's datasheet numbers come from its preset.\n"
    )
    return head + yaml.safe_dump(data, sort_keys=False, width=110)


def provenance_for(
    names: Sequence[str], files: Sequence[str], hardware: Sequence[str], rows: int, rms: float, target: str
) -> dict[str, Provenance]:
    where = ", ".join(files)
    hw = ", ".join(hardware)
    moved = "" if target in hardware else f"; transferred to {target} (none of its rows used)"
    text = f"{where} rows of {hw} (n={rows}), least squares on log error, RMS {rms:.3f}{moved}"
    return {n: Provenance("calibrated", text) for n in names}


def write_overlays(
    texts: Mapping[str, str], out_dir: Path | None = None, *, force: bool = True
) -> dict[str, Path]:
    """Write ``{device: overlay text}`` as ``<device>.yaml`` into ``out_dir`` (an existing
    folder; default: the package's overlay folder). Every target is checked before the first
    is written (so a refusal writes nothing); each file is written atomically."""
    paths = {d: (out_dir / f"{d}.yaml") if out_dir else overlay_path(d) for d in texts}
    for path in paths.values():
        check_new_file(path, force, "overlay")
    for d, path in paths.items():
        atomic_write_text(path, texts[d])
    return paths


def assumed_provenance() -> dict[str, Provenance]:
    return {k: Provenance.parse(v) for k, v in ASSUMED.items()}
