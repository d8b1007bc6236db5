"""The fleet's frame trace: the last frames of every station of the process, in one bounded ring.

A single station keeps its own trace for GetDiagnostics (`shell.diagnostics.StationLog`, 1 MiB). A fleet cannot
give each of ten thousand stations a megabyte, so it keeps one ring for the process, bounded in bytes
(`ocpp-station fleet --trace-mib`), and a station's GetDiagnostics archive takes that station's frames from
it: the most recent ones, as far back as the ring reaches. So does the control API's
`GET /api/stations/{id}/frames` (`frames_of`). Recording is one tuple appended per frame, with the
frame as a compact string: a frame written by orjson sits in a 4 KiB buffer, which the ring would otherwise keep
alive (measured: 64 MiB of trace held 570 MiB). Secrets are redacted when an archive is made. Off (None) unless
asked for: the capacity figures are measured without it.
"""

from __future__ import annotations

import heapq
from collections import deque

from ocpp_station.clock import Clock
from ocpp_station.shell.diagnostics import TRACE, LogEntry, StationLog
from ocpp_station.shell.frame_events import FrameEvent, FrameKind
from ocpp_station.shell.logs import redact
from ocpp_station.shell.web.telemetry import FrameRecord, StationWatch

SENT = "→"
RECEIVED = "←"

# What one entry costs beside its frame's characters (tuple 72, float 24, str header 49, deque slot 8 bytes): so
# that the bound is on memory.
_ENTRY_OVERHEAD = 160


def frame_text(frame: str | bytes) -> str:
    """A frame as a compact string: orjson's bytes sit in a 4 KiB buffer that a kept frame would keep alive."""
    return frame if isinstance(frame, str) else frame.decode("utf-8", "replace")


class FrameTrace:
    __slots__ = ("_bytes", "_entries", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: deque[tuple[float, str, str, str]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes held, by the same count as the bound."""
        return self._bytes

    def record(self, at: float, charge_box_id: str, arrow: str, frame: str | bytes) -> None:
        """`at`: the station's wall-clock time (what GetDiagnostics' startTime / stopTime select by)."""
        text = frame_text(frame)
        entries = self._entries
        entries.append((at, charge_box_id, arrow, text))
        self._bytes += len(text) + _ENTRY_OVERHEAD
        while self._bytes > self.max_bytes and entries:
            self._bytes -= len(entries.popleft()[3]) + _ENTRY_OVERHEAD

    def frames_of(self, charge_box_id: str) -> list[FrameRecord]:
        """The station's frames still in the ring as the panel shows a single station's (`/frames`): types,
        the action a response answers and its response time, by the panel's own watch replaying them."""
        watch = StationWatch(charge_box_id)
        for at, station, arrow, text in self._entries:
            if station == charge_box_id:
                kind: FrameKind = "sent" if arrow == SENT else "received"
                # The ring keeps one clock: response times are read on the wall clock.
                watch(FrameEvent(charge_box_id, kind, redact(text), at, at))
        return list(watch.frames)

    def entries_of(self, charge_box_id: str) -> list[LogEntry]:
        """The station's frames still in the ring, oldest first, as its own trace would have them."""
        return [
            LogEntry(at, TRACE, redact(f"{station} {arrow} {text}"))
            for at, station, arrow, text in self._entries
            if station == charge_box_id
        ]


class TracedStationLog(StationLog):
    """A fleet station's log for its file jobs: the job's own events, with the station's frames from the fleet's
    trace merged in."""

    def __init__(self, clock: Clock, trace: FrameTrace, charge_box_id: str) -> None:
        super().__init__(clock)
        self._trace = trace
        self._charge_box_id = charge_box_id

    def entries(self, start: float | None = None, stop: float | None = None) -> list[LogEntry]:
        # Each list stays in the order it was recorded (the clock may step back when the central system sets it).
        merged = heapq.merge(self._trace.entries_of(self._charge_box_id), super().entries(), key=lambda e: e.at)
        return [e for e in merged if (start is None or e.at >= start) and (stop is None or e.at <= stop)]
