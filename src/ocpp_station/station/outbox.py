"""What the station wants to send, in order, and the timers that make it want to.

Plain data structures, no I/O: the link shell asks `Station.next_call()` for the next message when no
call of ours is outstanding (OCPP-J 1.6 §4.1.1: one CALL at a time) and reports its fate back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]


@dataclass(slots=True)
class OutboundCall:
    action: str
    payload: Payload
    unique_id: str
    on_result: Callable[[Payload], None] | None = None
    # Called on a CallError, a response timeout or a lost link; the argument says which.
    on_failure: Callable[[str], None] | None = None
    queue_seq: int | None = None  # set for durable transaction-related messages (OCPP 1.6 §3.7)
    order: float = 0.0  # the causal order of the event that queued it (Station.next_call)


@dataclass(slots=True)
class StatusEntry:
    """A StatusNotification to send; the payload is fixed when the status changes."""

    connector_id: int
    payload: Payload
    eligible_at: float  # MinimumStatusDuration (OCPP 1.6 §9.1.20): not before this monotonic time
    order: int = 0  # the causal order of the status change (Station.next_call)


@dataclass(slots=True)
class _Timer:
    key: Hashable
    callback: Callable[[], None]
    cancelled: bool = False


class Timers:
    """Named one-shot timers on the monotonic clock; re-arming a name replaces it."""

    __slots__ = ("_by_key", "_heap", "_seq")

    def __init__(self) -> None:
        # (deadline, arming number, timer): tuples compare in C, and the number keeps equal deadlines in the order
        # they were armed without ever comparing two timers.
        self._heap: list[tuple[float, int, _Timer]] = []
        self._by_key: dict[Hashable, _Timer] = {}
        self._seq = 0

    def arm(self, key: Hashable, deadline: float, callback: Callable[[], None]) -> None:
        self.cancel(key)
        self._seq += 1
        timer = _Timer(key, callback)
        self._by_key[key] = timer
        heapq.heappush(self._heap, (deadline, self._seq, timer))

    def cancel(self, key: Hashable) -> None:
        old = self._by_key.pop(key, None)
        if old is not None:
            old.cancelled = True

    def cancel_all(self) -> None:
        self._heap.clear()
        self._by_key.clear()

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def fire_due(self, now: float) -> int:
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            if timer.cancelled:
                continue
            del self._by_key[timer.key]
            timer.callback()
            fired += 1
        return fired
