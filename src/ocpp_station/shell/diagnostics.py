"""What GetDiagnostics uploads: the station's own log, kept in memory, packed into one zip archive.

`StationLog` keeps the last entries of one station (every OCPP-J frame the link sends or receives, plus the
runtime's events: boots, restarts, file transfers), each stamped with the station's clock, i.e. the time the
central system set (OCPP 1.6 §4.2.1), so that GetDiagnostics.req startTime/stopTime select in its terms.
`trace_tap` gives the link a logger of its own that records into it and passes every record on to the
shared `ocpp_station.trace` logger, so nothing changes for other listeners and no global logger is touched.

The archive (`build_archive`), a zip:
- ``station.json``  identity, firmware version, the selected window, the station's state when it was made;
- ``ocpp-trace.log`` one line per frame: ``<time> <→|←> <frame>``;
- ``events.log``    one line per runtime event.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp_station.clock import Clock, iso_utc
from ocpp_station.shell.logs import (
    redact,  # the AuthorizationKey is write-only (security whitepaper §7): not in the archive
)
from ocpp_station.station.ports import SecurityLogEntry

# Text kept per station (oldest entries go first): a day of a busy station's traffic, yet small enough for
# fleet tests that run many stations in one process.
DEFAULT_MAX_BYTES = 1 << 20
TRACE = "trace"
EVENT = "event"


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: float  # station wall-clock time (UTC POSIX seconds)
    kind: str  # TRACE or EVENT
    text: str


class StationLog(logging.Handler):
    """A bounded in-memory log of one station; as a logging handler it records what it is given."""

    def __init__(self, clock: Clock, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(logging.DEBUG)
        self._clock = clock
        self._entries: deque[LogEntry] = deque()
        self._bytes = 0
        self.max_bytes = max_bytes

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        self._append(LogEntry(self._clock.now(), TRACE, redact(text)))

    def event(self, text: str) -> None:
        # Also passwords in URLs (an upload to ftp://user:pass@host) and Basic credentials (logs.py).
        self._append(LogEntry(self._clock.now(), EVENT, redact(text)))

    def _append(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        self._bytes += len(entry.text)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._bytes -= len(self._entries.popleft().text)

    def entries(self, start: float | None = None, stop: float | None = None) -> list[LogEntry]:
        return [e for e in self._entries if (start is None or e.at >= start) and (stop is None or e.at <= stop)]


class _PassOn(logging.Handler):
    def __init__(self, downstream: logging.Logger) -> None:
        super().__init__(logging.DEBUG)
        self._downstream = downstream

    def emit(self, record: logging.LogRecord) -> None:
        if self._downstream.isEnabledFor(record.levelno):
            self._downstream.handle(record)


def trace_tap(downstream: logging.Logger, log: StationLog) -> logging.Logger:
    """A private logger (not registered with `logging`) that records into `log` and passes on downstream."""
    tap = logging.Logger(downstream.name, logging.DEBUG)
    tap.propagate = False
    tap.addHandler(log)
    tap.addHandler(_PassOn(downstream))
    return tap


def build_archive(
    dest: Path, entries: list[LogEntry], info: dict[str, Any], start: float | None, stop: float | None
) -> None:
    """Write the diagnostics zip to `dest` (blocking: run it in a thread)."""
    meta = {
        **info,
        "window": {
            "startTime": None if start is None else iso_utc(start),
            "stopTime": None if stop is None else iso_utc(stop),
        },
        "entries": len(entries),
    }
    trace = "".join(f"{iso_utc(e.at)} {e.text}\n" for e in entries if e.kind == TRACE)
    events = "".join(f"{iso_utc(e.at)} {e.text}\n" for e in entries if e.kind == EVENT)
    partial = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("station.json", json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n")
        archive.writestr("ocpp-trace.log", trace)
        archive.writestr("events.log", events)
    partial.replace(dest)


def build_security_archive(
    dest: Path, entries: list[SecurityLogEntry], info: dict[str, Any], start: float | None, stop: float | None
) -> None:
    """GetLog(SecurityLog) (security whitepaper N01.FR.03): ``station.json`` and ``security.log``, one line per
    event, ``<time> <event> <techInfo>`` (blocking: run it in a thread)."""
    meta = {
        **info,
        "window": {
            "oldestTimestamp": None if start is None else iso_utc(start),
            "latestTimestamp": None if stop is None else iso_utc(stop),
        },
        "entries": len(entries),
    }
    lines = "".join(f"{iso_utc(e.at)} {e.event} {redact(e.tech_info)}".rstrip() + "\n" for e in entries)
    partial = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("station.json", json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n")
        archive.writestr("security.log", lines)
    partial.replace(dest)
