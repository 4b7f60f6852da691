"""Request workloads: when requests arrive and how long their prompts and outputs are.

A :class:`RequestSet` holds one array per field (``(K,)``, K requests): arrival time (s),
prompt tokens, output tokens, and the length of a prompt prefix shared by every request (a
system prompt; 0 for none). Arrival processes: ``poisson`` (exponential gaps at ``rate``
requests/s), ``offline`` (all at t = 0, the "max throughput" run), ``closed`` (a fixed
number of users, each sending its next request when the previous one finishes; arrival
times are then decided by the engine) and a trace file. Length distributions: fixed,
uniform, normal and lognormal clipped to [lo, hi]. Everything is drawn from one seeded
NumPy generator, so the same seed gives the same requests bit for bit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hetsim.errors import ConfigError
from hetsim.workload.ops import FloatArray

Arrival = Literal["poisson", "closed", "offline", "trace"]
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal")
IntArray = np.ndarray


@dataclass(frozen=True, slots=True)
class LengthDist:
    """Token-length distribution. ``fixed``: ``mean``; ``uniform``: [lo, hi]; ``normal`` and
    ``lognormal``: ``mean`` and ``std`` of the length itself, clipped to [lo, hi]."""

    kind: str = "fixed"
    mean: float = 128.0
    std: float = 0.0
    lo: int = 1
    hi: int = 1 << 20

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTIONS:
            raise ConfigError(f"length distribution {self.kind!r}: choose from {', '.join(DISTRIBUTIONS)}")
        if self.mean < 1 or self.std < 0 or self.lo < 1 or self.hi < self.lo:
            raise ConfigError(
                f"length distribution needs mean >= 1, std >= 0 and 1 <= lo <= hi; got mean={self.mean}, "
                f"std={self.std}, lo={self.lo}, hi={self.hi}"
            )

    @classmethod
    def parse(cls, text: str) -> LengthDist:
        """``256`` (fixed), ``uniform:100:300``, ``normal:512:128[:lo:hi]``,
        ``lognormal:512:256[:lo:hi]``."""
        parts = str(text).strip().split(":")
        try:
            if len(parts) == 1:
                return cls("fixed", float(int(parts[0])))
            kind, nums = parts[0], [float(p) for p in parts[1:]]
        except ValueError:
            raise ConfigError(
                f"length {text!r}: give a positive integer, uniform:LO:HI, normal:MEAN:STD[:LO:HI] "
                "or lognormal:MEAN:STD[:LO:HI]"
            ) from None
        if kind == "uniform" and len(nums) == 2:
            return cls("uniform", (nums[0] + nums[1]) / 2, 0.0, int(nums[0]), int(nums[1]))
        if kind in ("normal", "lognormal") and len(nums) in (2, 4):
            lo, hi = (int(nums[2]), int(nums[3])) if len(nums) == 4 else (1, 1 << 20)
            return cls(kind, nums[0], nums[1], lo, hi)
        raise ConfigError(f"length {text!r}: expected uniform:LO:HI or {kind}:MEAN:STD[:LO:HI]")

    def sample(self, rng: np.random.Generator, k: int) -> IntArray:
        if self.kind == "fixed":
            x = np.full(k, self.mean)
        elif self.kind == "uniform":
            x = rng.integers(self.lo, self.hi + 1, size=k).astype(float)
        elif self.kind == "normal":
            x = rng.normal(self.mean, self.std, size=k)
        else:  # lognormal with the given mean and std of the length
            s2 = np.log1p((self.std / self.mean) ** 2)
            x = rng.lognormal(np.log(self.mean) - s2 / 2, np.sqrt(s2), size=k)
        out: IntArray = np.clip(np.rint(x), self.lo, self.hi).astype(np.int64)
        return out


@dataclass(frozen=True, slots=True)
class RequestSet:
    """K requests. ``arrival_s`` is NaN for requests of a closed loop that the engine
    releases when a user's previous request finishes."""

    arrival_s: FloatArray
    input_len: IntArray
    output_len: IntArray
    arrival: Arrival = "poisson"
    rate_per_s: float = float("nan")  # poisson rate; NaN otherwise
    concurrency: int = 0  # users of a closed loop; 0 otherwise
    prefix_len: int = 0  # tokens of a prompt prefix every request shares

    def __post_init__(self) -> None:
        k = len(self.input_len)
        if k == 0:
            raise ConfigError("a workload needs at least one request")
        if len(self.output_len) != k or len(self.arrival_s) != k:
            raise ConfigError("arrival_s, input_len and output_len must have one entry per request")
        if self.prefix_len < 0 or self.prefix_len >= int(np.min(self.input_len)):
            raise ConfigError(
                f"shared prefix of {self.prefix_len} tokens must be shorter than every prompt "
                f"(shortest: {int(np.min(self.input_len))})"
            )

    def __len__(self) -> int:
        return len(self.input_len)


def make_requests(
    n: int,
    *,
    arrival: Arrival = "poisson",
    rate_per_s: float | None = None,
    concurrency: int | None = None,
    input_len: LengthDist | int | str = 128,
    output_len: LengthDist | int | str = 128,
    prefix_len: int = 0,
    seed: int = 0,
) -> RequestSet:
    """Draw ``n`` requests (seeded; bit-identical for the same arguments)."""
    if isinstance(n, bool) or n < 1:
        raise ConfigError(f"--requests must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    ind = input_len if isinstance(input_len, LengthDist) else LengthDist.parse(str(input_len))
    outd = output_len if isinstance(output_len, LengthDist) else LengthDist.parse(str(output_len))
    inp, out = ind.sample(rng, n), outd.sample(rng, n)
    rate, users = float("nan"), 0
    if arrival == "poisson":
        if rate_per_s is None or not rate_per_s > 0 or not np.isfinite(rate_per_s):
            raise ConfigError(f"--rate must be a positive number of requests per second, got {rate_per_s}")
        rate = float(rate_per_s)
        gaps = rng.exponential(1.0 / rate, size=n)
        gaps[0] = 0.0  # the first request opens the run
        t = np.cumsum(gaps)
    elif arrival == "offline":
        t = np.zeros(n)
    elif arrival == "closed":
        if concurrency is None or concurrency < 1:
            raise ConfigError(
                f"--concurrency must be a positive integer for a closed loop, got {concurrency}"
            )
        users = int(concurrency)
        t = np.full(n, np.nan)
        t[: min(users, n)] = 0.0
    else:
        raise ConfigError(f"arrival {arrival!r}: choose from poisson, closed, offline (or pass --trace FILE)")
    return RequestSet(t, inp, out, arrival, rate, users, prefix_len)


TRACE_COLUMNS = ("arrival_s", "input_len", "output_len")


def load_trace(path: str | Path, *, prefix_len: int = 0) -> RequestSet:
    """Requests from a CSV with columns ``arrival_s, input_len, output_len`` (a header row;
    other columns ignored; rows sorted by arrival)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"trace {p}: no such file")
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in TRACE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                f"trace {p}: missing column(s) {', '.join(missing)}; need {', '.join(TRACE_COLUMNS)}"
            )
        rows = list(reader)
    if not rows:
        raise ConfigError(f"trace {p}: no requests")
    vals = np.empty((len(rows), 3))
    for i, row in enumerate(rows, start=2):
        try:
            vals[i - 2] = [float(row[c]) for c in TRACE_COLUMNS]
        except (TypeError, ValueError):
            raise ConfigError(
                f"trace {p}, line {i}: arrival_s, input_len and output_len must be numbers"
            ) from None
        a, x, y = vals[i - 2]
        if not (np.isfinite(a) and a >= 0) or x < 1 or y < 1 or x != int(x) or y != int(y):
            raise ConfigError(
                f"trace {p}, line {i}: need arrival_s >= 0 and positive integer lengths, "
                f"got {a:g}, {x:g}, {y:g}"
            )
    order = np.argsort(vals[:, 0], kind="stable")
    vals = vals[order]
    return RequestSet(
        vals[:, 0].copy(),
        vals[:, 1].astype(np.int64),
        vals[:, 2].astype(np.int64),
        "trace",
        prefix_len=prefix_len,
    )
