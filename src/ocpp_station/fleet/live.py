"""Live frame feeds of fleet stations: the panel's page of one station of a fleet (`/api/stations/{id}/events`).

A single station's control API watches its link all the time (`shell/web/telemetry.py`). A fleet of ten thousand
cannot keep a watch per station, so a watch is made when a feed of that station opens and dropped when its last
feed closes. While it lives, the station's driver hands it every frame; otherwise a frame costs one test of an
empty dict. The page loads the frames before its feed from `/frames` (the fleet's trace, when there is one).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ocpp_station.fleet.trace import FrameTrace, frame_text
from ocpp_station.shell.frame_events import FrameEvent, FrameKind
from ocpp_station.shell.logs import redact
from ocpp_station.shell.web.telemetry import FrameRecord, StationWatch

log = logging.getLogger(__name__)


class LiveWatches:
    """The panel's `FrameSource` for a fleet: the frames the trace kept, and live watches."""

    __slots__ = ("_feeds", "_trace", "watches")

    def __init__(self, trace: FrameTrace | None) -> None:
        self.watches: dict[str, StationWatch] = {}  # by chargeBoxId: the stations a feed watches now
        self._feeds: Counter[str] = Counter()
        self._trace = trace

    def frames_of(self, charge_box_id: str) -> list[FrameRecord]:
        return [] if self._trace is None else self._trace.frames_of(charge_box_id)

    @contextmanager
    def watching(self, charge_box_id: str) -> Iterator[StationWatch]:
        """The station's watch while a feed is open; feeds of one station share it."""
        watch = self.watches.get(charge_box_id)
        if watch is None:
            watch = self.watches[charge_box_id] = StationWatch(charge_box_id)
        self._feeds[charge_box_id] += 1
        try:
            yield watch
        finally:
            self._feeds[charge_box_id] -= 1
            if self._feeds[charge_box_id] <= 0:
                del self._feeds[charge_box_id]
                del self.watches[charge_box_id]

    def observe(self, charge_box_id: str, kind: FrameKind, frame: str | bytes) -> None:
        watch = self.watches.get(charge_box_id)
        if watch is None:
            return
        try:
            # The AuthorizationKey is write-only on the panel too (security whitepaper A01.FR.12), as the link's.
            watch(FrameEvent(charge_box_id, kind, redact(frame_text(frame))))
        except Exception:
            # Watching a station must never break it.
            log.exception("%s: live frame watch failed", charge_box_id)
