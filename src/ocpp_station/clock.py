"""Injected time: the station core never reads the system clock itself.

`Clock.now()` is the station's wall-clock time as a UTC POSIX timestamp in seconds (float), which the
CSMS may correct (OCPP 1.6 §4.2.1: the station SHOULD sync to BootNotification.conf currentTime).
`Clock.monotonic()` drives timers and never jumps.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def set_now(self, timestamp: float) -> None: ...


class SystemClock:
    """Wall clock with an offset set from the CSMS; monotonic time from the OS."""

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def set_now(self, timestamp: float) -> None:
        self._offset = timestamp - time.time()


class ManualClock:
    """A clock the tests move by hand, so a day of schedules runs in milliseconds."""

    __slots__ = ("_mono", "_wall")

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._wall = start
        self._mono = 0.0

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def set_now(self, timestamp: float) -> None:
        self._wall = timestamp

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds


# The whole second last formatted and its text up to the '.', swapped as one tuple (threads may share it).
_last_second: tuple[float, str] = (math.nan, "")


def iso_utc(timestamp: float) -> str:
    """UTC, millisecond precision, 'Z' suffix: the certified station's timestamp format."""
    # The split `datetime.fromtimestamp` makes (microseconds rounded half to even), without building a datetime: a
    # fleet stamps thousands of messages within the same second, and formats that second once.
    fraction, second = math.modf(timestamp)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1.0, micro - 1_000_000
    elif micro < 0:
        second, micro = second - 1.0, micro + 1_000_000
    global _last_second
    cached, text = _last_second
    if cached != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _last_second = (second, text)
    return f"{text}{micro // 1000:03d}Z"


def parse_iso(text: str) -> float:
    """Accept any ISO 8601 date-time with offset or 'Z' and fractional seconds (OCPP 1.6 §3.14)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
