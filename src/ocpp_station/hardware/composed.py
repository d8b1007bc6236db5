"""`ConnectorHardware` / `StationHardware` assembled from parts (see `parts`), so the station core keeps
the interfaces it has whatever drivers sit behind them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ocpp_station.hardware.iec61851 import MAX_CURRENT_A, MIN_CURRENT_A
from ocpp_station.hardware.interfaces import (
    ConnectorHardware,
    HardwareListener,
    MeterReading,
    PowerMeter,
    RfidReader,
    StationHardware,
)
from ocpp_station.hardware.parts import AuthTokenProvider, ConnectorLock, ControlPilotState, EvseBoard, Fault, MeterPart

NOMINAL_VOLTAGE_V = 230.0  # for Power.Offered when the meter has no voltage yet (IEC 60038)

# The control pilot itself saying something is wrong (IEC 61851-1 Table A.3): E is a short or a lost supply,
# i.e. no working communication with the EV; F is the EVSE declaring itself unavailable.
_CP_FAULTS = {
    ControlPilotState.E: Fault("EVCommunicationError", "control pilot state E"),
    ControlPilotState.F: Fault("OtherError", "control pilot state F"),
}


def offered_current(board: EvseBoard, enabled: bool, limit_a: float | None) -> float:
    """The current to offer through `board` for the core's `set_energy_offered(enabled, limit_a)`: the limit
    capped to the board's rating and to 80 A; below what the board can code (6 A for a PWM, IEC 61851-1 Table
    A.7), 0: the EV pauses rather than being offered more than the limit."""
    if limit_a is not None and not (math.isfinite(limit_a) and limit_a >= 0):
        raise ValueError(f"offered current must be a non-negative number of amperes, got {limit_a}")
    if not enabled:
        return 0.0
    amps = board.max_current_a if limit_a is None else min(float(limit_a), board.max_current_a)
    lowest = getattr(board, "min_current_a", MIN_CURRENT_A)  # optional in EvseBoard: most boards are PWM only
    return 0.0 if amps < lowest else min(amps, MAX_CURRENT_A)


class ComposedConnector:
    """One connector from an EVSE board, a meter and (detachable cable only) a lock."""

    def __init__(
        self, connector_id: int, board: EvseBoard, meter: MeterPart, lock: ConnectorLock | None = None
    ) -> None:
        if connector_id < 1:
            raise ValueError(f"connector ids start at 1, got {connector_id}")
        self._connector_id = connector_id
        self._board = board
        self._meter_part = meter
        self._lock = lock
        self._listener: HardwareListener | None = None
        self._offered_a = 0.0
        self._plugged = board.cp_state.plugged
        self._ev_ready = board.cp_state.ev_ready
        self._reported_fault = self._current_fault()
        self._meter_view = _ConnectorMeter(self)
        board.set_cp_callback(self._on_cp_state)
        board.set_fault_callback(self._on_part_fault)
        meter.set_fault_callback(self._on_part_fault)

    # -- ConnectorHardware ------------------------------------------------------------------------------

    @property
    def connector_id(self) -> int:
        return self._connector_id

    @property
    def fixed_cable(self) -> bool:
        return self._lock is None

    @property
    def meter(self) -> PowerMeter:
        return self._meter_view

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def ev_ready(self) -> bool:
        return self._ev_ready

    @property
    def fault(self) -> str | None:
        return None if self._reported_fault is None else self._reported_fault.code

    @property
    def cable_in_socket(self) -> bool:
        # Without a proximity-pilot input the cable counts as in the socket while an EV is on it or the lock
        # holds it there (IEC 61851-1 Annex B: the PP contact is only closed with a cable inserted).
        return self._lock is not None and (self._plugged or self._lock.locked)

    @property
    def locked(self) -> bool:
        return self._lock is not None and self._lock.locked

    def lock(self) -> bool:
        return True if self._lock is None else self._lock.lock()

    def unlock(self) -> bool:
        return True if self._lock is None else self._lock.unlock()

    def set_energy_offered(self, now: float, enabled: bool, limit_a: float | None) -> None:
        amps = offered_current(self._board, enabled, limit_a)
        # The meter is read at the instant the power changes, so a meter that integrates lazily (the simulated
        # one) closes the interval under the old power; a polled meter just answers its latest reading.
        self._meter_part.read(now)
        self._offered_a = amps
        self._board.set_offered_current(amps)
        self._board.allow_power_on(enabled)

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener

    # -- for the meter view -----------------------------------------------------------------------------

    @property
    def offered_a(self) -> float:
        return self._offered_a

    @property
    def board(self) -> EvseBoard:
        return self._board

    def read_meter(self, now: float) -> MeterReading:
        return self._meter_part.read(now)

    # -- part events ------------------------------------------------------------------------------------

    def _current_fault(self) -> Fault | None:
        # The board's own fault first (it is why the EV cannot charge), then the pilot, then the meter.
        return self._board.fault or _CP_FAULTS.get(self._board.cp_state) or self._meter_part.fault

    def _on_part_fault(self, _fault: Fault | None) -> None:
        self._report_fault()

    def _report_fault(self) -> None:
        fault = self._current_fault()
        if fault == self._reported_fault:
            return
        self._reported_fault = fault
        if self._listener is not None:
            if fault is None:
                self._listener.on_fault_changed(self._connector_id, None, None)
            else:
                self._listener.on_fault_changed(self._connector_id, fault.code, fault.info)

    def _on_cp_state(self, state: ControlPilotState) -> None:
        plugged, ev_ready = state.plugged, state.ev_ready
        if plugged != self._plugged:
            self._plugged = plugged
            self._ev_ready = ev_ready
            if self._listener is not None:
                self._listener.on_plug_changed(self._connector_id, plugged)
        elif ev_ready != self._ev_ready:
            self._ev_ready = ev_ready
            if self._listener is not None:
                self._listener.on_ev_ready_changed(self._connector_id, ev_ready)
        self._report_fault()


class _ConnectorMeter:
    """The meter part's reading completed with what only the board knows (offered current, temperature)."""

    __slots__ = ("_connector",)

    def __init__(self, connector: ComposedConnector) -> None:
        self._connector = connector

    def read(self, now: float) -> MeterReading:
        reading = self._connector.read_meter(now)
        offered = self._connector.offered_a
        volts = sum(reading.voltage_v) or NOMINAL_VOLTAGE_V * max(1, len(reading.voltage_v))
        temperature = self._connector.board.temperature_c
        return replace(
            reading,
            current_offered_a=offered,
            power_offered_w=offered * volts,
            temperature_c=reading.temperature_c if temperature is None else temperature,
        )


class _TokenReader:
    """An `AuthTokenProvider` seen as the core's `RfidReader`."""

    __slots__ = ("_listener", "_provider")

    def __init__(self, provider: AuthTokenProvider | None) -> None:
        self._provider = provider
        self._listener: HardwareListener | None = None
        if provider is not None:
            provider.set_token_callback(self._on_token)

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener

    def _on_token(self, id_tag: str, connector_id: int | None) -> None:
        if self._listener is not None:
            self._listener.on_id_tag(id_tag, connector_id)


class _SumMeter:
    """Connector 0's meter when the station has none of its own: the sum of the connectors."""

    __slots__ = ("_connectors",)

    def __init__(self, connectors: Sequence[ComposedConnector]) -> None:
        self._connectors = connectors

    def read(self, now: float) -> MeterReading:
        readings = [c.meter.read(now) for c in self._connectors]
        phases = max(len(r.voltage_v) for r in readings)

        def per_phase(values: list[tuple[float, ...]]) -> tuple[float, ...]:
            return tuple(sum(v[i] for v in values if i < len(v)) for i in range(phases))

        return MeterReading(
            timestamp=now,
            energy_import_wh=sum(r.energy_import_wh for r in readings),
            energy_export_wh=sum(r.energy_export_wh for r in readings),
            power_import_w=sum(r.power_import_w for r in readings),
            power_export_w=sum(r.power_export_w for r in readings),
            current_import_a=per_phase([r.current_import_a for r in readings]),
            current_export_a=per_phase([r.current_export_a for r in readings]),
            current_offered_a=sum(r.current_offered_a for r in readings),
            power_offered_w=sum(r.power_offered_w for r in readings),
            voltage_v=readings[0].voltage_v,
            frequency_hz=readings[0].frequency_hz,
            soc_percent=None,
            temperature_c=max(r.temperature_c for r in readings),
        )


class ComposedStation:
    """A station from composed connectors, an optional token provider and an optional main meter."""

    def __init__(
        self,
        connectors: Sequence[ComposedConnector],
        rfid: AuthTokenProvider | None = None,
        main_meter: MeterPart | None = None,
    ) -> None:
        if not connectors:
            raise ValueError("a station has at least one connector")
        ids = [c.connector_id for c in connectors]
        if ids != list(range(1, len(connectors) + 1)):
            raise ValueError(f"connector ids must be 1..{len(connectors)} in order, got {ids}")
        self._connectors = tuple(connectors)
        self._rfid = _TokenReader(rfid)
        self._main_meter: PowerMeter = main_meter if main_meter is not None else _SumMeter(self._connectors)

    @property
    def connectors(self) -> tuple[ComposedConnector, ...]:
        return self._connectors

    @property
    def rfid(self) -> RfidReader:
        return self._rfid

    @property
    def main_meter(self) -> PowerMeter:
        return self._main_meter

    def set_listener(self, listener: HardwareListener) -> None:
        self._rfid.set_listener(listener)
        for connector in self._connectors:
            connector.set_listener(listener)


if TYPE_CHECKING:

    def _conforms(station: ComposedStation, connector: ComposedConnector) -> tuple[StationHardware, ConnectorHardware]:
        return station, connector
