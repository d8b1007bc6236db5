"""What a fleet counts: messages by action and direction, CSMS response times, errors, sessions, lateness.

Counted in plain ints and log-bucket histograms (a few hundred bytes per action, not a sample per message), so
counting costs no allocation on the message path; Prometheus reads them at scrape time (metrics.py) and the
report merges them across shards (report.py). Percentiles come from the buckets: within 5 % of the exact value.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Buckets grow by 5 % from 0.1 ms: bucket k holds values in [BASE·GROWTH^(k-1), BASE·GROWTH^k).
BASE_S = 1e-4
GROWTH = 1.05
_LOG_GROWTH = math.log(GROWTH)


class LogHistogram:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        k = 0 if value <= BASE_S else int(math.log(value / BASE_S) / _LOG_GROWTH) + 1
        self.buckets[k] = self.buckets.get(k, 0) + 1
        self.count += 1
        self.total += value

    def merge(self, other: LogHistogram) -> None:
        for k, n in other.buckets.items():
            self.buckets[k] = self.buckets.get(k, 0) + n
        self.count += other.count
        self.total += other.total

    @staticmethod
    def upper(k: int) -> float:
        return BASE_S * GROWTH**k

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen >= rank:
                return self.upper(k)
        return self.upper(max(self.buckets))

    def to_json(self) -> dict[str, Any]:
        return {"buckets": {str(k): n for k, n in sorted(self.buckets.items())}, "count": self.count, "sum": self.total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogHistogram:
        h = cls()
        h.buckets = {int(k): int(n) for k, n in data["buckets"].items()}
        h.count = int(data["count"])
        h.total = float(data["sum"])
        return h


@dataclass
class FleetStats:
    sent: Counter[str] = field(default_factory=Counter)  # CP→CS calls by action
    received: Counter[str] = field(default_factory=Counter)  # CS→CP calls by action
    response_time: dict[str, LogHistogram] = field(default_factory=dict)  # CSMS response time by action
    call_errors: Counter[str] = field(default_factory=Counter)  # CallErrors received, by action
    errors: Counter[str] = field(default_factory=Counter)  # by kind: timeout, invalid-response, connect, ...
    reconnects: int = 0
    connects: int = 0
    sessions: int = 0
    energy_wh: float = 0.0
    lateness: dict[str, LogHistogram] = field(default_factory=dict)  # "timer", "Heartbeat", "MeterValues"
    booted_at: float | None = None  # seconds from start until every station was Accepted

    def response(self, action: str, seconds: float) -> None:
        h = self.response_time.get(action)
        if h is None:
            h = self.response_time[action] = LogHistogram()
        h.observe(seconds)

    def late(self, kind: str, seconds: float) -> None:
        self.late_histogram(kind).observe(max(0.0, seconds))

    def late_histogram(self, kind: str) -> LogHistogram:
        h = self.lateness.get(kind)
        if h is None:
            h = self.lateness[kind] = LogHistogram()
        return h

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "received": dict(self.received),
            "response_time": {a: h.to_json() for a, h in self.response_time.items()},
            "call_errors": dict(self.call_errors),
            "errors": dict(self.errors),
            "reconnects": self.reconnects,
            "connects": self.connects,
            "sessions": self.sessions,
            "energy_wh": self.energy_wh,
            "lateness": {k: h.to_json() for k, h in self.lateness.items()},
            "booted_at": self.booted_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetStats:
        return cls(
            sent=Counter(data["sent"]),
            received=Counter(data["received"]),
            response_time={a: LogHistogram.from_json(h) for a, h in data["response_time"].items()},
            call_errors=Counter(data["call_errors"]),
            errors=Counter(data["errors"]),
            reconnects=int(data["reconnects"]),
            connects=int(data["connects"]),
            sessions=int(data["sessions"]),
            energy_wh=float(data["energy_wh"]),
            lateness={k: LogHistogram.from_json(h) for k, h in data["lateness"].items()},
            booted_at=data.get("booted_at"),
        )

    def merge(self, other: FleetStats) -> None:
        self.sent.update(other.sent)
        self.received.update(other.received)
        for a, h in other.response_time.items():
            self.response_time.setdefault(a, LogHistogram()).merge(h)
        self.call_errors.update(other.call_errors)
        self.errors.update(other.errors)
        self.reconnects += other.reconnects
        self.connects += other.connects
        self.sessions += other.sessions
        self.energy_wh += other.energy_wh
        for k, h in other.lateness.items():
            self.lateness.setdefault(k, LogHistogram()).merge(h)
        if other.booted_at is not None:
            self.booted_at = max(self.booted_at or 0.0, other.booted_at)
