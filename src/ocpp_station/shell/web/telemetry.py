"""What the panel and `/metrics` know about each station's link: a frame log, counters and response times.

A `StationWatch` is a frame observer (see `frame_events`): it parses each frame once, pairs responses
with the calls they answer, counts, and fans the frame out to the live feeds that subscribed. Nothing
here is module state: each `Telemetry` (one per control API) owns its watches.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ocpp_station.shell.frame_events import FrameEvent, FrameObserver

FRAME_LOG_SIZE = 500  # per station: what a page shows on load; older frames are in the trace log
RESPONSE_SAMPLES = 2000  # recent response times kept for the fleet page's percentiles
RATE_WINDOW_S = 10.0  # msgs/s is the average over this window
SUBSCRIBER_QUEUE = 256  # a feed this far behind loses frames rather than holding memory
# Prometheus histogram bounds (seconds) for CSMS response times: loopback answers in ms, real ones in 100s of ms.
RESPONSE_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_TYPES = {2: "call", 3: "result", 4: "error"}


class Observable(Protocol):
    """A station whose link reports frames (StationRuntime)."""

    @property
    def charge_box_id(self) -> str: ...

    frame_observers: list[FrameObserver]


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame as the panel shows it."""

    seq: int
    at: float
    direction: str  # "sent" (station → CSMS) / "received"
    type: str  # "call" / "result" / "error" / "invalid"
    unique_id: str
    action: str  # for responses: the action of the call they answer ("" if unknown)
    payload: Any
    response_time_s: float | None = None  # on a received response to one of our calls

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "direction": self.direction,
            "type": self.type,
            "uniqueId": self.unique_id,
            "action": self.action,
            "payload": self.payload,
            "responseTimeS": self.response_time_s,
        }


@dataclass(slots=True)
class Histogram:
    buckets: list[int]  # cumulative counts are derived on export; these are per-bucket (+Inf last)
    total: float = 0.0
    count: int = 0

    @classmethod
    def empty(cls) -> Histogram:
        return cls([0] * (len(RESPONSE_BUCKETS) + 1))

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(RESPONSE_BUCKETS) if value <= bound), len(RESPONSE_BUCKETS))
        self.buckets[index] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        result: list[tuple[str, float]] = []
        for bound, n in zip((*map(str, RESPONSE_BUCKETS), "+Inf"), self.buckets, strict=True):
            running += n
            result.append((bound, float(running)))
        return result


def _parse(text: str) -> tuple[str, str, str, Any]:
    """(type, uniqueId, action, payload) of an OCPP-J frame; type "invalid" when it is not one."""
    try:
        frame = json.loads(text)
    except ValueError:
        return "invalid", "", "", text
    if not isinstance(frame, list) or len(frame) < 3 or frame[0] not in _TYPES:
        return "invalid", "", "", frame
    kind = _TYPES[frame[0]]
    unique_id = str(frame[1])
    if kind == "call":
        return kind, unique_id, str(frame[2]), frame[3] if len(frame) > 3 else None
    if kind == "result":
        return kind, unique_id, "", frame[2]
    description = frame[3] if len(frame) > 3 else ""
    details = frame[4] if len(frame) > 4 else {}
    return kind, unique_id, "", {"errorCode": frame[2], "errorDescription": description, "errorDetails": details}


class StationWatch:
    """The frame observer of one station."""

    def __init__(self, charge_box_id: str) -> None:
        self.charge_box_id = charge_box_id
        self.frames: deque[FrameRecord] = deque(maxlen=FRAME_LOG_SIZE)
        # (direction, type, action) -> frames; the Prometheus messages counter
        self.messages: Counter[tuple[str, str, str]] = Counter()
        self.response_times: dict[str, Histogram] = {}
        self.recent_response_times: deque[float] = deque(maxlen=RESPONSE_SAMPLES)
        self.recent_frames: deque[float] = deque()  # monotonic times, for msgs/s
        self.timeouts: Counter[str] = Counter()  # action -> calls that got no response
        self.connections = 0
        self._seq = 0
        # uniqueId -> (action, monotonic time sent) of calls awaiting an answer, per direction of the call.
        self._ours: dict[str, tuple[str, float]] = {}
        self._theirs: dict[str, str] = {}
        self._subscribers: set[asyncio.Queue[FrameRecord]] = set()

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def call_errors(self, direction: str) -> int:
        return sum(n for (d, t, _), n in self.messages.items() if d == direction and t == "error")

    def __call__(self, event: FrameEvent) -> None:
        if event.kind == "connected":
            self.connections += 1
        elif event.kind in ("disconnected", "timeout"):
            if event.kind == "timeout":
                _, unique_id, action, _ = _parse(event.text)
                self._ours.pop(unique_id, None)
                self.timeouts[action] += 1
            else:
                # Calls cut off by the disconnect will never be answered on this connection.
                self._ours.clear()
                self._theirs.clear()
        else:
            self._frame(event)

    def _frame(self, event: FrameEvent) -> None:
        kind, unique_id, action, payload = _parse(event.text)
        response_time: float | None = None
        if kind == "call":
            if event.kind == "sent":
                self._ours[unique_id] = (action, event.monotonic)
            else:
                self._theirs[unique_id] = action
        elif kind in ("result", "error"):
            if event.kind == "received":
                sent = self._ours.pop(unique_id, None)
                if sent is not None:
                    action = sent[0]
                    response_time = max(0.0, event.monotonic - sent[1])
                    self.response_times.setdefault(action, Histogram.empty()).observe(response_time)
                    self.recent_response_times.append(response_time)
            else:
                action = self._theirs.pop(unique_id, "")
        self.messages[(event.kind, kind, action)] += 1
        self.recent_frames.append(event.monotonic)
        self._trim_rate(event.monotonic)
        self._seq += 1
        record = FrameRecord(self._seq, event.at, event.kind, kind, unique_id, action, payload, response_time)
        self.frames.append(record)
        for queue in self._subscribers:
            if queue.full():
                continue  # a stalled page misses frames; the link never waits for it
            queue.put_nowait(record)

    def _trim_rate(self, now: float) -> None:
        while self.recent_frames and self.recent_frames[0] < now - RATE_WINDOW_S:
            self.recent_frames.popleft()

    def frames_per_second(self, now: float) -> float:
        self._trim_rate(now)
        return len(self.recent_frames) / RATE_WINDOW_S

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[FrameRecord]]:
        queue: asyncio.Queue[FrameRecord] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class Telemetry:
    """The watches of the stations one control API serves."""

    def __init__(self) -> None:
        self._watches: dict[str, StationWatch] = {}

    def watch(self, station: Observable) -> StationWatch:
        """Start observing `station`'s link (idempotent); call it before `start()` to see the boot."""
        existing = self._watches.get(station.charge_box_id)
        if existing is not None and existing in station.frame_observers:
            return existing
        watch = StationWatch(station.charge_box_id)
        station.frame_observers.append(watch)
        self._watches[station.charge_box_id] = watch
        return watch

    def get(self, charge_box_id: str) -> StationWatch | None:
        return self._watches.get(charge_box_id)

    def watches(self) -> list[StationWatch]:
        return list(self._watches.values())
