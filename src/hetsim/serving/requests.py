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

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hetsim.errors import ConfigError
from hetsim.workload.ops import FloatArray

Arrival = Literal["poisson", "closed", "offline", "trace"]
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal")
IntArray = np.ndarray
# the longest prompt or output a request may ask for: above every model context in use (Llama 4
# Scout: 10M tokens); a larger number is a typo or hostile input, refused with a clear error
MAX_LENGTH_TOKENS = 1 << 24
MAX_SEED = 2**63 - 1
# requests one run may ask for: the request records of 10^7 requests take about 1 GB; more is
# refused rather than run out of memory (split the run, or sample fewer: the statistics of a
# steady state converge long before)
MAX_REQUESTS = 10_000_000


@dataclass(frozen=True, slots=True)
class LengthDist:
    """Token-length distribution. ``fixed``: ``mean``; ``uniform``: [lo, hi]; ``normal`` and
    ``lognormal``: ``mean`` and ``std`` of the length itself, clipped to [lo, hi]."""

    kind: str = "fixed"
    mean: float = 128.0
    std: float = 0.0
    lo: int = 1
    hi: int = MAX_LENGTH_TOKENS

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTIONS:
            raise ConfigError(f"length distribution {self.kind!r}: choose from {', '.join(DISTRIBUTIONS)}")
        top = MAX_LENGTH_TOKENS
        if not (1 <= self.mean <= top and 0 <= self.std <= top and 1 <= self.lo <= self.hi <= top):
            raise ConfigError(
                f"length distribution needs 1 <= mean <= {top:,}, 0 <= std <= {top:,} and "
                f"1 <= lo <= hi <= {top:,} tokens; got mean={self.mean:g}, std={self.std:g}, "
                f"lo={self.lo}, hi={self.hi}"
            )

    @classmethod
    def parse(cls, text: str) -> LengthDist:
        """``256`` (fixed), ``uniform:100:300``, ``normal:512:128[:lo:hi]``,
        ``lognormal:512:256[:lo:hi]``."""
        usage = (
            f"length {text!r}: give a positive integer, uniform:LO:HI, normal:MEAN:STD[:LO:HI] "
            "or lognormal:MEAN:STD[:LO:HI] (tokens)"
        )
        parts = str(text).strip().split(":")
        try:
            nums = [float(p) for p in parts[1:]] if len(parts) > 1 else [float(int(parts[0]))]
        except ValueError:
            raise ConfigError(usage) from None
        if not all(map(math.isfinite, nums)):
            raise ConfigError(f"length {text!r}: every number must be finite")
        if len(parts) == 1:
            return cls("fixed", nums[0])
        kind = parts[0]
        bounds = nums[:2] if kind == "uniform" else nums[2:]
        if any(b != int(b) or not 1 <= b <= MAX_LENGTH_TOKENS for b in bounds):
            raise ConfigError(
                f"length {text!r}: bounds must be whole numbers of tokens from 1 to {MAX_LENGTH_TOKENS:,}"
            )
        if kind == "uniform" and len(nums) == 2:
            return cls("uniform", (nums[0] + nums[1]) / 2, 0.0, int(nums[0]), int(nums[1]))
        if kind in ("normal", "lognormal") and len(nums) in (2, 4):
            lo, hi = (int(nums[2]), int(nums[3])) if len(nums) == 4 else (1, MAX_LENGTH_TOKENS)
            return cls(kind, nums[0], nums[1], lo, hi)
        raise ConfigError(usage)

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
    # per request (K,), or None: requests with the same prefix id >= 0 share the first
    # ``prefix_tokens`` tokens of their prompts (a system prompt, the previous turns of a session)
    prefix_id: IntArray | None = None
    prefix_tokens: IntArray | None = None
    priority: IntArray | None = None  # (K,) scheduling priority, lower served first; None: all 0
    mix: str = ""  # the named request mix the lengths come from ("" : given directly)
    # (K,) the request whose answer releases this one (a session's previous turn), -1: none;
    # a follower's arrival_s is NaN and it is sent ``think_s`` after its predecessor finishes
    follows: IntArray | None = None
    think_s: FloatArray | None = None

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
        if (self.prefix_id is None) != (self.prefix_tokens is None):
            raise ConfigError("prefix_id and prefix_tokens go together")
        for name in ("prefix_id", "prefix_tokens", "priority"):
            v = getattr(self, name)
            if v is not None and len(v) != k:
                raise ConfigError(f"{name} must have one entry per request")
        if (self.follows is None) != (self.think_s is None):
            raise ConfigError("follows and think_s go together")
        if self.follows is not None and self.think_s is not None:
            bad = (self.follows >= np.arange(k)) | (self.follows < -1) | ~(self.think_s >= 0)
            if np.any(bad):
                raise ConfigError("a follower must follow an earlier request, after a think time >= 0")
        if self.prefix_tokens is not None and (
            np.any(self.prefix_tokens < 0) or np.any(self.prefix_tokens >= self.input_len)
        ):
            i = int(np.argmax((self.prefix_tokens < 0) | (self.prefix_tokens >= self.input_len)))
            raise ConfigError(
                f"request {i}: its shared prefix ({int(self.prefix_tokens[i])} tokens) must be shorter "
                f"than its prompt ({int(self.input_len[i])} tokens)"
            )

    def prefixes(self) -> tuple[IntArray, IntArray]:
        """(prefix id, shared prefix tokens) per request, the one shared prefix of
        ``prefix_len`` (id 0) when no per-request prefixes were given; id -1: none."""
        if self.prefix_id is not None and self.prefix_tokens is not None:
            return self.prefix_id, self.prefix_tokens
        k = len(self)
        if self.prefix_len:
            return np.zeros(k, dtype=np.int64), np.full(k, self.prefix_len, dtype=np.int64)
        return np.full(k, -1, dtype=np.int64), np.zeros(k, dtype=np.int64)

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
    mix: str | None = None,
    max_context: int = 0,
) -> RequestSet:
    """Draw ``n`` requests (seeded; bit-identical for the same arguments). ``mix``: the lengths
    come from a named request mix (:mod:`hetsim.serving.mixes`) instead of ``input_len`` and
    ``output_len``, keeping only requests within ``max_context`` tokens (0: all)."""
    if isinstance(n, bool) or not 1 <= n <= MAX_REQUESTS:
        raise ConfigError(f"--requests must be a whole number from 1 to {MAX_REQUESTS:,}, got {n}")
    check_seed(seed)
    rng = np.random.default_rng(seed)
    if mix:
        from hetsim.serving.mixes import get_mix

        inp, out = get_mix(mix).sample(rng, n, max_context)
    else:
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
    return RequestSet(t, inp, out, arrival, rate, users, prefix_len, mix=mix or "")


def check_seed(seed: int) -> int:
    """``seed`` if NumPy can seed a generator with it (0 to 2**63 - 1)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
    return int(seed)
