"""When requests reach an engine instance's scheduler: open arrivals in time order, and those a
finished request releases (a closed-loop user's next request, a session's next turn), each
after the engine's front-end time ``o`` (the loop runs on engine arrivals; the clients' times
are ``engine - o``)."""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import RECORD_LIMIT
from hetsim.serving.state import EngineState


class Arrivals:
    """The requests not yet at the scheduler of one instance."""

    def __init__(self, reqs: RequestSet, o: float) -> None:
        K = len(reqs)
        self.o = o
        self.arr = np.asarray(reqs.arrival_s, dtype=float) + o  # by request id (released ones set later)
        self.closed = reqs.arrival == "closed"
        self.order: Any = np.arange(K) if self.closed else np.argsort(self.arr, kind="stable")
        self.n_open = int(np.sum(np.isfinite(reqs.arrival_s)))
        self.t_open: Any = self.arr[self.order[: self.n_open]]  # open arrivals in time order
        if K <= RECORD_LIMIT:  # Python lists read faster; long runs keep the arrays (memory)
            self.order, self.t_open = self.order.tolist(), self.t_open.tolist()
        self.ai = 0
        self.released = self.n_open  # the next closed-loop request a finish releases
        # released, not at the scheduler yet: (engine arrival, order, request)
        self.later: list[tuple[float, int, int]] = []
        self.next_turn = {} if reqs.follows is None else {
            int(j): i for i, j in enumerate(reqs.follows.tolist()) if j >= 0
        }  # fmt: skip
        self.think = reqs.think_s.tolist() if reqs.think_s is not None else []
        self.releases = self.closed or bool(self.next_turn)
        self.K = K

    def admit(self, st: EngineState, t: float) -> tuple[int, float]:
        """Every request that has reached the scheduler by ``t`` joins the wait queue; returns the
        next request to reach it and when (-1, inf: none known yet)."""
        ai, n_open, t_open = self.ai, self.n_open, self.t_open
        if ai < n_open and t_open[ai] <= t:
            order, waiting = self.order, st.waiting
            while ai < n_open and t_open[ai] <= t:
                waiting.push(st.enter(int(order[ai]), float(t_open[ai])))
                ai += 1
            self.ai = ai
        later = self.later
        while later and later[0][0] <= t:
            a, _, r = heapq.heappop(later)
            st.waiting.push(st.enter(r, a))
        if ai < n_open:
            ta = float(t_open[ai])
            if later and later[0][0] < ta:
                return later[0][2], later[0][0]
            return int(self.order[ai]), ta
        if later:
            return later[0][2], later[0][0]
        return -1, math.inf

    def release(self, st: EngineState, finished: list[int]) -> None:
        """The requests the ``finished`` slots' answers release."""
        o = self.o
        for i in finished:
            done_at = st.finish[i]
            if self.closed and self.released < self.K:  # the user sends the next request
                r = self.released
                self.arr[r] = done_at + o
                heapq.heappush(self.later, (done_at + o, r, r))
                self.released += 1
            j = self.next_turn.get(st.rid[i], -1) if self.next_turn else -1
            if j >= 0:  # a session's next turn, after the agent's or user's think time
                self.arr[j] = done_at + self.think[j] + o
                heapq.heappush(self.later, (float(self.arr[j]), j, j))

    def clients(self) -> np.ndarray:
        """(K,) the clients' send times."""
        return self.arr - self.o if self.o else self.arr
