"""Default scope of the committed fit, in a module without heavy imports (the CLI's help
text reads it at start-up)."""

from __future__ import annotations

DEFAULT_FIT_HARDWARE = ("a100-80gb-sxm", "a40")
# kernel-level files whose rows time kernels alone (CUDA time); LLMCompass times wall clock
# through PyTorch (launch included) and lmdeploy is end to end: both are kept as checks.
DEFAULT_FIT_FILES = ("vidur_ops.csv", "gpu_stream.csv", "vidur_allreduce.csv")
DEFAULT_SKIP_TAGS = frozenset({"per_gpu_vs_total"})
