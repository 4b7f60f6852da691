"""The paged KV cache of one engine instance: blocks in use, and the growth of the decoding
sequences' blocks in closed form.

Every decoding sequence adds one token per step, so a run of k decode steps is never walked
token by token. A sequence with ``o`` tokens in its own blocks (its shared prefix blocks
excluded) needs a new block at the steps j in [0, k) with (o + j) = 0 (mod block size); so a
run of k = m B + t steps (B the block size) needs m blocks per sequence plus one for each
sequence with (-o) mod B < t. The pool keeps the decoding sequences' counts per residue
``o_base mod B`` (``o = o_base + clock``, clock the decode steps taken since the start, the same
for every decoding sequence), so both the blocks a run needs and the longest run the free
blocks allow are O(B) list sums, independent of the batch.
"""

from __future__ import annotations

__all__ = ["BlockPool"]


class BlockPool:
    """``total`` blocks of ``block_tokens`` tokens; ``used`` of them allocated."""

    __slots__ = ("block_tokens", "count", "n_decoding", "total", "used")

    def __init__(self, total: int, block_tokens: int) -> None:
        self.total = total
        self.block_tokens = block_tokens
        self.used = 0
        self.count = [0] * block_tokens  # decoding sequences per residue of their own-token base
        self.n_decoding = 0

    @property
    def free(self) -> int:
        return self.total - self.used

    def blocks(self, tokens: int) -> int:
        """Blocks that hold ``tokens`` tokens."""
        return -(-tokens // self.block_tokens)

    def join(self, own_base: int) -> None:
        """A sequence starts decoding with ``own_base + clock`` tokens in its own blocks."""
        self.count[own_base % self.block_tokens] += 1
        self.n_decoding += 1

    def leave(self, own_base: int) -> None:
        self.count[own_base % self.block_tokens] -= 1
        self.n_decoding -= 1

    def grow_next(self, clock: int) -> int:
        """Decoding sequences whose next token starts a new block."""
        return self.count[-clock % self.block_tokens]

    def _extra(self, clock: int, t: int) -> int:
        """Sequences that start a new block within the first ``t`` (< B) steps from ``clock``."""
        if t <= 0:
            return 0
        bs, c = self.block_tokens, self.count
        e = -clock % bs
        lo = e - t + 1
        return sum(c[lo : e + 1]) if lo >= 0 else sum(c[: e + 1]) + sum(c[bs + lo :])

    def new_blocks(self, clock: int, k: int) -> int:
        """Blocks the decoding sequences need over the next ``k`` steps."""
        m, t = divmod(k, self.block_tokens)
        return self.n_decoding * m + self._extra(clock, t)

    def steps_within(self, clock: int, free: int, k_max: int) -> int:
        """Most decode steps (1 <= k <= k_max) whose new blocks fit in ``free``; the caller has
        made room for one step."""
        if self.new_blocks(clock, k_max) <= free:
            return k_max
        n = self.n_decoding
        m = free // n
        room = free - n * m
        lo, hi = 0, self.block_tokens - 1  # the largest t with _extra(t) <= room
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._extra(clock, mid) <= room:
                lo = mid
            else:
                hi = mid - 1
        return max(1, min(k_max, m * self.block_tokens + lo))
