"""One timer structure for a whole fleet: a heap of (deadline, seq, owner) and one loop callback at its head.

A station's timers live in its own `Timers` (the pure core); the fleet only needs each owner's earliest
deadline. Rescheduling pushes a new entry and leaves the old one in the heap (lazy deletion: an entry whose
deadline is no longer its owner's is skipped when it surfaces), so a reschedule is O(log n) and allocates one
tuple. The heap is compacted when stale entries outnumber live ones.

The loop callback is armed on a grid of GRAIN_S (never early, at most GRAIN_S late): deadlines that fall in
the same slot fire in one loop wake-up, and a reschedule within the armed slot re-arms nothing. A wake-up
(epoll, the loop's turn, the heap) costs as much as handling a message, so a fleet firing one deadline per
wake-up spent most of its CPU waking up; 20 ms is far inside the 1 s lateness the fleet promises.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable
from typing import Protocol

GRAIN_S = 0.02


class TimerOwner(Protocol):
    # The deadline this owner is currently scheduled for (math.inf: none); the heap compares against it.
    scheduled: float

    def on_timer(self, now: float, deadline: float) -> None: ...


class SharedTimers:
    """Deadlines on `time.monotonic()`, the stations' clock (a loop's own `time()` may be cached: uvloop's is)."""

    __slots__ = ("_handle", "_handle_at", "_heap", "_lateness", "_live", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop, lateness: Callable[[float], None] | None = None) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, TimerOwner]] = []
        self._seq = 0
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = math.inf
        self._lateness = lateness
        self._live = 0  # owners with a deadline: the heap holds at least that many entries

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, owner: TimerOwner, deadline: float) -> None:
        """Set `owner`'s one deadline (math.inf cancels it)."""
        previous = owner.scheduled
        if deadline == previous:
            return
        owner.scheduled = deadline
        if previous == math.inf:
            self._live += 1
        if deadline == math.inf:
            self._live -= 1
            return
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, owner))
        if len(self._heap) > 4096 and len(self._heap) > 4 * self._live:
            self._compact()
        if deadline < self._handle_at:
            slot = math.ceil(deadline / GRAIN_S) * GRAIN_S
            if slot < self._handle_at:
                self._arm(slot)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if entry[0] == entry[2].scheduled]
        heapq.heapify(self._heap)

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = deadline
        self._handle = self._loop.call_later(max(0.0, deadline - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._handle_at = math.inf
        now = time.monotonic()
        heap = self._heap
        # Only entries pushed before this round: one rescheduled into the past runs in the next loop iteration, so
        # an owner can never keep this loop (and the event loop) busy.
        last = self._seq
        lateness = self._lateness
        while heap and heap[0][0] <= now and heap[0][1] <= last:
            deadline, _, owner = heapq.heappop(heap)
            if owner.scheduled != deadline:
                continue  # rescheduled since: a stale entry
            owner.scheduled = math.inf
            self._live -= 1
            if lateness is not None:
                lateness(now - deadline)
            owner.on_timer(now, deadline)
        while heap and heap[0][0] != heap[0][2].scheduled:
            heapq.heappop(heap)
        if heap and heap[0][0] < self._handle_at:
            # call_at in the past runs at the next iteration, after the I/O
            self._arm(math.ceil(heap[0][0] / GRAIN_S) * GRAIN_S)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._handle_at = math.inf
        self._heap.clear()
        self._live = 0
