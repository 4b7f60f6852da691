"""Multi-turn agentic sessions: each turn's prompt is the whole previous context (its prompt and
answer) plus a new message (a user reply or a tool result), so with prefix caching a turn
reuses the KV cache of the turn before it, and that reuse is priced (a hit skips those tokens'
prefill; a hit in a lower KV tier pays the copy back, :mod:`hetsim.serving.prefix`).

Sessions start as a Poisson process; a turn is sent ``think_s`` after the previous turn's last
token (the agent's tool call or the user's reading time), so the engine's own speed decides
when the next turn arrives. A session ends after its turns, or earlier when the next turn would
no longer fit ``max_context`` tokens.
"""

from __future__ import annotations

import numpy as np

from hetsim.errors import ConfigError
from hetsim.serving.requests import LengthDist, RequestSet, check_seed


def make_sessions(
    n_sessions: int,
    *,
    rate_per_s: float,
    turns: LengthDist | int | str = 4,
    first_input: LengthDist | int | str = 1024,
    turn_input: LengthDist | int | str = 128,
    output_len: LengthDist | int | str = 256,
    think_s: float = 1.0,
    max_context: int = 8192,
    seed: int = 0,
) -> RequestSet:
    """Requests of ``n_sessions`` sessions, turn by turn (seeded)."""
    if isinstance(n_sessions, bool) or not 1 <= n_sessions <= 1_000_000:
        raise ConfigError(f"--sessions must be a whole number from 1 to 1,000,000, got {n_sessions}")
    if not 0 < rate_per_s < float("inf"):
        raise ConfigError(f"--rate (sessions per second) must be a positive number, got {rate_per_s}")
    if not 0 <= think_s < float("inf"):
        raise ConfigError(f"--think-time must be a finite number of seconds >= 0, got {think_s}")
    rng = np.random.default_rng(check_seed(seed))

    def dist(x: LengthDist | int | str) -> LengthDist:
        return x if isinstance(x, LengthDist) else LengthDist.parse(str(x))

    n_turns = dist(turns).sample(rng, n_sessions)
    first, new_msg = dist(first_input), dist(turn_input)
    out_d = dist(output_len)
    starts = np.cumsum(rng.exponential(1.0 / rate_per_s, size=n_sessions))
    starts -= starts[0]
    arrival: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    pid: list[int] = []
    plen: list[int] = []
    follows: list[int] = []
    for s in range(n_sessions):
        ctx = 0  # tokens of the session so far (prompts and answers)
        for k in range(int(n_turns[s])):
            p = int((first if k == 0 else new_msg).sample(rng, 1)[0]) + ctx
            g = int(out_d.sample(rng, 1)[0])
            if p + g > max_context:
                break
            arrival.append(float(starts[s]) if k == 0 else float("nan"))
            follows.append(-1 if k == 0 else len(inp) - 1)
            inp.append(p)
            out.append(g)
            pid.append(s)
            plen.append(ctx)
            ctx = p + g
    if not inp:
        raise ConfigError(f"no session turn fits the {max_context}-token context; shorten the lengths")
    k = len(inp)
    return RequestSet(
        np.asarray(arrival), np.asarray(inp, dtype=np.int64), np.asarray(out, dtype=np.int64), "trace",
        rate_per_s=float(rate_per_s), prefix_id=np.asarray(pid, dtype=np.int64),
        prefix_tokens=np.asarray(plen, dtype=np.int64), follows=np.asarray(follows, dtype=np.int64),
        think_s=np.full(k, float(think_s)), mix="sessions",
    )  # fmt: skip
