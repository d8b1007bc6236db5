"""The fleet summary: counts by state, msgs/s, CSMS response-time percentiles, errors, one row per station."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from ocpp_station.shell.control import StationDirectory
from ocpp_station.shell.web import station_view
from ocpp_station.shell.web.telemetry import Telemetry

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: list[float], p: int) -> float | None:
    """Nearest-rank percentile (a value that was observed, never an interpolation)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def _station_state(snapshot: dict[str, Any]) -> str:
    if not snapshot.get("running", True):
        return "restarting"
    if not snapshot.get("connected"):
        return "disconnected"
    return "registered" if snapshot.get("registration") == "Accepted" else "connected"


def summary(directory: StationDirectory, telemetry: Telemetry) -> dict[str, Any]:
    now = time.monotonic()
    rows: list[dict[str, Any]] = []
    states: Counter[str] = Counter()
    connector_statuses: Counter[str] = Counter()
    for charge_box_id in directory.ids():
        station = directory.get(charge_box_id)
        if station is None:
            continue
        snap = station_view.snapshot(station)
        state = _station_state(snap)
        states[state] += 1
        connectors = [c for c in snap.get("connectors", []) if c["connectorId"] != 0]
        connector_statuses.update(str(c["status"]) for c in connectors)
        watch = telemetry.get(charge_box_id)
        rows.append(
            {
                "chargeBoxId": charge_box_id,
                "state": state,
                "registration": snap.get("registration"),
                "connectors": [{"connectorId": c["connectorId"], "status": c["status"]} for c in connectors],
                "powerW": sum(float(c["powerW"]) for c in connectors),
                "msgsPerS": watch.frames_per_second(now) if watch else 0.0,
                "callErrors": watch.call_errors("received") if watch else 0,
                "timeouts": sum(watch.timeouts.values()) if watch else 0,
            }
        )
    samples = sorted(t for watch in telemetry.watches() for t in watch.recent_response_times)
    return {
        "stations": rows,
        "counts": dict(states),
        "connectorStatuses": dict(connector_statuses),
        "msgsPerS": sum(row["msgsPerS"] for row in rows),
        "responseTimeMs": {
            f"p{p}": None if (v := percentile(samples, p)) is None else round(v * 1000, 2) for p in PERCENTILES
        },
        "callErrors": sum(row["callErrors"] for row in rows),
        "timeouts": sum(row["timeouts"] for row in rows),
    }
