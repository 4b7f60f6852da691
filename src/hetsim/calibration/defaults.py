"""Default scope of the committed fit, in a module without heavy imports (the CLI's help
text reads it at start-up)."""

from __future__ import annotations

DEFAULT_FIT_HARDWARE = ("a100-80gb-sxm", "a40")
# kernel-level files whose rows time kernels alone (CUDA time); LLMCompass times wall clock
# through PyTorch (launch included; its own floors are fitted by calibration/wallclock_fit.py)
# and lmdeploy is end to end: both are kept as checks of this fit.
DEFAULT_FIT_FILES = ("vidur_ops.csv", "gpu_stream.csv", "vidur_allreduce.csv")
# rows whose parallel configuration the source does not state cannot be simulated; a
# per-GPU vs total doubt is scored with the unit the file gives (tokens/s/GPU) and shown apart
# under its tag (``--skip-tag per_gpu_vs_total`` leaves those rows out)
# rows the source itself calls unrepresentative (torchao's int8 dynamic quantisation at batch 1,
# "slow"; see data/measurements/published/ADDED.md) and STREAM rows of a GPU system's host CPU
# (the GB200 VM's Grace sockets, counted as the GPU's memory otherwise) are left out by default
# too (``--keep-tag`` scores them)
DEFAULT_SKIP_TAGS = frozenset(
    {"parallel_config_unknown", "slow_path_noted_by_source", "cpu_side_of_gpu_system"}
)
# fields ``validate --by`` groups by (calibration.report.GROUPS holds their key functions)
GROUP_FIELDS = ("hardware", "precision", "model", "framework", "metric", "source", "file", "tp", "role",
                "level", "timing", "tag")  # fmt: skip
