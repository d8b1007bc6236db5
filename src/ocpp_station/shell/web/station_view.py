"""What the panel reads from a station beyond the control contract's `state()`: firmware, configuration,
the smart-charging limit. Only a `StationRuntime` has these; any other `ControlledStation` shows its state.
"""

from __future__ import annotations

from typing import Any

from ocpp_station.shell.control import ControlError, ControlledStation
from ocpp_station.shell.runtime import StationRuntime

MASK = "***"  # write-only keys (AuthorizationKey): their value never leaves the station


def running_core(station: ControlledStation) -> Any | None:
    """The running core of a runtime, None while it restarts or for stations without one."""
    if not isinstance(station, StationRuntime):
        return None
    try:
        return station.core
    except ControlError:
        return None


def firmware_version(station: ControlledStation) -> str | None:
    core = running_core(station)
    return None if core is None else str(core.firmware_version())


def configuration(station: ControlledStation) -> list[dict[str, Any]]:
    """Every key with its value; the panel shows them and changes none (only the central system may)."""
    core = running_core(station)
    if core is None:
        return []
    rows: list[dict[str, Any]] = []
    for definition in core.config.definitions():
        value = core.config.get(definition.name)
        if definition.write_only:
            value = MASK
        rows.append({"key": definition.name, "value": value, "readonly": definition.readonly})
    return sorted(rows, key=lambda row: str(row["key"]))


def limits_w(station: ControlledStation) -> dict[int, float | None]:
    """connectorId -> the composite schedule's limit now, in W (what GetCompositeSchedule would answer)."""
    core = running_core(station)
    if core is None:
        return {}
    limits: dict[int, float | None] = {}
    for connector in core.connectors:
        answer = core.smart_charging.get_composite_schedule(
            {"connectorId": connector.connector_id, "duration": 1, "chargingRateUnit": "W"}
        )
        periods = answer.get("chargingSchedule", {}).get("chargingSchedulePeriod", [])
        limits[connector.connector_id] = float(periods[0]["limit"]) if periods else None
    return limits


def queue_depth(station: ControlledStation) -> int | None:
    core = running_core(station)
    return None if core is None else int(core.store.queue_length())


def snapshot(station: ControlledStation) -> dict[str, Any]:
    """The live feed's `state` event: state() plus firmware and limits, or `{"running": false}` mid-restart."""
    try:
        state = station.state()
    except ControlError as exc:
        return {"chargeBoxId": station.charge_box_id, "running": False, "reason": exc.message}
    limits = limits_w(station)
    for connector in state.get("connectors", []):
        connector["limitW"] = limits.get(int(connector["connectorId"]))
    return {**state, "running": True, "firmwareVersion": firmware_version(station)}
