"""The fleet summary: counts by state, msgs/s, CSMS response-time percentiles, errors, and rows for the stations.

The page reads it every second. The counts cover every station; the rows are the first ROW_LIMIT stations that
match the page's search (`q`: part of a chargeBoxId or a state), so that a fleet of ten thousand stations is
neither ten thousand full states a second for the server nor ten thousand table rows for the browser. What the
summary reads of every station, and the traffic figures, come from a `FleetView`: `TelemetryView` reads them from
the stations and their watches (a control API serving a few stations); a fleet process supplies its own, from its
drivers and counters (`fleet/web.py`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from ocpp_station.shell.control import StationDirectory
from ocpp_station.shell.web import station_view
from ocpp_station.shell.web.telemetry import Telemetry

PERCENTILES = (50, 90, 99)
ROW_LIMIT = 200


class StationLine(NamedTuple):
    """What the counts and the search read of each station (a tuple: one is made per station per read)."""

    charge_box_id: str
    state: str  # registered / connected / disconnected / restarting
    connector_statuses: tuple[str, ...]  # of connectors 1..n


class FleetView(Protocol):
    def lines(self) -> Iterable[StationLine]:
        """Every station, in the directory's order."""
        ...

    def traffic(self) -> dict[str, Any]:
        """{"msgsPerS", "responseTimeMs": {"p50", "p90", "p99"}, "callErrors", "timeouts"} of all the stations."""
        ...


def percentile(sorted_values: list[float], p: int) -> float | None:
    """Nearest-rank percentile (a value that was observed, never an interpolation)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def response_time_ms(seconds_at: Callable[[int], float | None]) -> dict[str, float | None]:
    """{"p50", "p90", "p99"} in ms from `seconds_at(percent)` (None where nothing was observed)."""
    return {f"p{p}": None if (v := seconds_at(p)) is None else round(v * 1000, 2) for p in PERCENTILES}


def station_state(snapshot: dict[str, Any]) -> str:
    if not snapshot.get("running", True):
        return "restarting"
    if not snapshot.get("connected"):
        return "disconnected"
    return "registered" if snapshot.get("registration") == "Accepted" else "connected"


def _connectors(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in snapshot.get("connectors", []) if c["connectorId"] != 0]


class TelemetryView:
    """The summary's figures read from each station's state and from the watches of `telemetry`."""

    def __init__(self, directory: StationDirectory, telemetry: Telemetry) -> None:
        self._directory = directory
        self._telemetry = telemetry

    def lines(self) -> Iterable[StationLine]:
        for charge_box_id in self._directory.ids():
            station = self._directory.get(charge_box_id)
            if station is not None:
                snap = station_view.snapshot(station)
                statuses = tuple(str(c["status"]) for c in _connectors(snap))
                yield StationLine(charge_box_id, station_state(snap), statuses)

    def traffic(self) -> dict[str, Any]:
        now = time.monotonic()
        watches = self._telemetry.watches()
        samples = sorted(t for watch in watches for t in watch.recent_response_times)
        return {
            "msgsPerS": sum(watch.frames_per_second(now) for watch in watches),
            "responseTimeMs": response_time_ms(lambda p: percentile(samples, p)),
            "callErrors": sum(watch.call_errors("received") for watch in watches),
            "timeouts": sum(sum(watch.timeouts.values()) for watch in watches),
        }


def summary(
    directory: StationDirectory,
    telemetry: Telemetry,
    view: FleetView | None = None,
    *,
    query: str = "",
    limit: int = ROW_LIMIT,
) -> dict[str, Any]:
    now = time.monotonic()
    view = view or TelemetryView(directory, telemetry)
    query = query.strip().lower()
    states: Counter[str] = Counter()
    connector_statuses: Counter[str] = Counter()
    total = 0
    shown: list[StationLine] = []
    matching = 0
    # Read every second for every station: the counting is kept to plain loops (Counter.update per station and a
    # call per match cost as much as reading the station).
    for line in view.lines():
        total += 1
        states[line.state] += 1
        for status in line.connector_statuses:
            connector_statuses[status] += 1
        if not query or query in line.charge_box_id.lower() or query in line.state:
            matching += 1
            if len(shown) < limit:
                shown.append(line)
    rows: list[dict[str, Any]] = []
    for line in shown:
        station = directory.get(line.charge_box_id)
        if station is None:
            continue
        snap = station_view.snapshot(station)
        connectors = _connectors(snap)
        watch = telemetry.get(line.charge_box_id)
        rows.append(
            {
                "chargeBoxId": line.charge_box_id,
                "state": line.state,  # as counted, though the row's other fields are read now
                "registration": snap.get("registration"),
                "connectors": [{"connectorId": c["connectorId"], "status": c["status"]} for c in connectors],
                "powerW": sum(float(c["powerW"]) for c in connectors),
                "msgsPerS": watch.frames_per_second(now) if watch else 0.0,
                "callErrors": watch.call_errors("received") if watch else 0,
                "timeouts": sum(watch.timeouts.values()) if watch else 0,
            }
        )
    return {
        "stations": rows,
        "total": total,
        "matching": matching,
        "counts": dict(states),
        "connectorStatuses": dict(connector_statuses),
        **view.traffic(),
    }
