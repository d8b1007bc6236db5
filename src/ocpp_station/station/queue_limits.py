"""The bound of the durable transaction message queue, and what the station does when it is reached.

Policy (README "Reliability"):

- transaction-related messages already queued are never dropped by this bound, and StartTransaction /
  StopTransaction are always queued (a transaction's start and end, with meterStart / meterStop, are what
  billing needs; OCPP 1.6 §3.7, §3.7.1);
- while the queue holds `[limits] max_queued_messages` messages, or the store's file system has less than
  `[limits] min_free_disk_mb` free, periodic (Sample.Periodic) and clock-aligned (Sample.Clock) MeterValues
  are not taken: a gap in the samples, which StopTransaction's meterStop still closes;
- the station says so once when the condition starts and once when it ends: one log line each, and a
  StatusNotification for connector 0 with errorCode OtherError and info "QueueFull: MeterValues paused"
  (or "StorageLow: ..."), then the same status with NoError when it is over (OCPP 1.6 §4.9: an error
  that is not a status change is still reported).
"""

from __future__ import annotations

import logging

from ocpp_station.station.connector import derive_station_status
from ocpp_station.station.contract import StationContext
from ocpp_station.station.ports import Store

log = logging.getLogger("ocpp_station.queue")


class QueueGuard:
    def __init__(self, station: StationContext, store: Store) -> None:
        self.st = station
        self.store = store
        self.condition: str | None = None  # "QueueFull" / "StorageLow" while the bound holds
        # Free bytes where the store lives, as the shell last measured them (None: not measured, or no disk).
        self.free_bytes: int | None = None

    def on_free_disk(self, free_bytes: int | None) -> None:
        # Acted on where the queue is used (the next MeterValues, the queue moving on), as the queue length is.
        self.free_bytes = free_bytes

    def _current(self) -> tuple[str | None, str]:
        limits = self.st.settings.limits
        length = self.store.queue_length()
        if length >= limits.max_queued_messages:
            return "QueueFull", f"{length} messages queued (limit {limits.max_queued_messages})"
        free = self.free_bytes
        if free is None:
            return None, ""
        if free < limits.min_free_disk_mb * 1024 * 1024:
            return "StorageLow", f"{free // (1024 * 1024)} MB free (limit {limits.min_free_disk_mb:g} MB)"
        return None, ""

    def allows_meter_values(self) -> bool:
        """May a periodic / clock-aligned MeterValues be queued now? Reports a change of condition."""
        self._update()
        return self.condition is None

    def recheck(self) -> None:
        """After the queue moved on: report the end of the condition (cheap while there is none)."""
        if self.condition is not None:
            self._update()

    def _update(self) -> None:
        condition, detail = self._current()
        if condition == self.condition:
            return
        st = self.st
        status = derive_station_status(st.station_inoperative, st.station_fault)
        if condition is not None:
            log.warning(
                "%s: %s: %s; periodic and clock-aligned MeterValues paused, Start/StopTransaction still queued",
                st.charge_box_id,
                condition,
                detail,
            )
            st.report_error(0, status, "OtherError", f"{condition}: MeterValues paused")
        else:
            log.info("%s: %s over: MeterValues resumed", st.charge_box_id, self.condition)
            st.report_error(0, status, "NoError", None)
        self.condition = condition
