"""The simulated hardware every station runs on unless real hardware is plugged in.

Nothing here runs on its own: the meter keeps the register at the last time it was asked about plus the
power since then (which only changes at calls that carry `now`), so thousands of idle stations cost only
their memory. The control methods (`plug`, `set_fault`, ...) are what the HTTP control API and tests use
to play the EV driver and the broken hardware.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ocpp_station.hardware.composed import offered_current
from ocpp_station.hardware.interfaces import (
    CHARGE_POINT_FAULT_CODES,
    ID_TAG_MAX_LENGTH,
    UNPLUG_SIDES,
    ConnectorHardware,
    HardwareListener,
    MeterReading,
    RfidReader,
    SimulatorControls,
    StationHardware,
)
from ocpp_station.hardware.parts import ControlPilotState
from ocpp_station.hardware.simulated_parts import (
    AMBIENT_TEMPERATURE_C,
    FREQUENCY_HZ,
    FULL_POWER_TEMPERATURE_RISE_C,
    EvModel,
    SimulatedBoard,
    SimulatedLock,
    SimulatedMeter,
)

__all__ = [
    "AMBIENT_TEMPERATURE_C",
    "FREQUENCY_HZ",
    "FULL_POWER_TEMPERATURE_RISE_C",
    "EvModel",
    "SimulatedConnector",
    "SimulatedControls",
    "SimulatedRfidReader",
    "SimulatedStation",
]


def _check_time(now: float) -> None:
    # A NaN would silently poison the register forever, so refuse it at the door.
    if not math.isfinite(now):
        raise ValueError(f"time must be finite, got {now}")


def _check_error_code(code: str | None) -> None:
    if code is not None and code not in CHARGE_POINT_FAULT_CODES:
        raise ValueError(
            f"unknown error code {code!r}: expected an OCPP ChargePointErrorCode other than NoError, or None to clear"
        )


class SimulatedConnector:
    """One connector made of simulated parts: an EVSE board with the EV behind its control pilot, a meter on
    its output and (detachable cable) a lock. The limit reaches the EV the way a real board's does: offered
    current → control-pilot duty cycle → what the EV reads from it (`simulated_parts.SimulatedBoard`)."""

    __slots__ = (
        "_board",
        "_connector_id",
        "_cp_plugged",
        "_fault",
        "_fault_info",
        "_fixed_cable",
        "_in_socket",
        "_listener",
        "_lock",
        "_meter",
    )

    def __init__(
        self,
        connector_id: int,
        *,
        fixed_cable: bool = True,
        voltage_v: float = 230.0,
        phases: int = 3,
        max_current_a: float = 32.0,
        initial_energy_wh: float = 0.0,
        initial_export_energy_wh: float = 0.0,
        ev: EvModel | None = None,
    ) -> None:
        if connector_id < 1:
            raise ValueError(f"connector ids start at 1, got {connector_id}")
        if not (math.isfinite(voltage_v) and voltage_v > 0):
            raise ValueError(f"voltage must be positive, got {voltage_v}")
        self._connector_id = connector_id
        self._fixed_cable = fixed_cable
        # The simulated EV also speaks ISO 15118, so a limit below the PWM's 6 A reaches it too (a schedule's
        # small limits are then visible in the meter values rather than as a pause).
        self._board = SimulatedBoard(
            max_current_a=max_current_a, voltage_v=voltage_v, phases=phases, ev=ev, digital_communication=True
        )
        self._meter = SimulatedMeter(initial_energy_wh, initial_export_energy_wh)
        self._meter.measure(self._board)
        self._lock = None if fixed_cable else SimulatedLock()
        self._listener: HardwareListener | None = None
        self._in_socket = False  # a detachable cable in the station's socket
        self._fault: str | None = None
        self._fault_info: str | None = None
        self._cp_plugged = False  # what the pilot said last: tells a plug event from an EV-ready one
        self._board.set_cp_callback(self._on_cp_state)

    # -- ConnectorHardware ------------------------------------------------------------------------------

    @property
    def connector_id(self) -> int:
        return self._connector_id

    @property
    def fixed_cable(self) -> bool:
        return self._fixed_cable

    @property
    def meter(self) -> SimulatedConnector:
        # The connector is its own meter view: the meter part's reading with what only the board knows.
        return self

    @property
    def board(self) -> SimulatedBoard:
        return self._board

    @property
    def cp_state(self) -> ControlPilotState:
        return self._board.cp_state

    @property
    def plugged(self) -> bool:
        return self._board.cp_state.plugged

    @property
    def ev_ready(self) -> bool:
        return self._board.cp_state.ev_ready

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def cable_in_socket(self) -> bool:
        return self._in_socket

    def lock(self) -> bool:
        return True if self._lock is None else self._lock.lock()

    def unlock(self) -> bool:
        return True if self._lock is None else self._lock.unlock()

    def set_energy_offered(self, now: float, enabled: bool, limit_a: float | None) -> None:
        amps = offered_current(self._board, enabled, limit_a)
        self._board.advance(now)  # the interval so far at the old power
        self._board.set_offered_current(amps)
        self._board.allow_power_on(enabled)

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener

    # -- PowerMeter -------------------------------------------------------------------------------------

    def read(self, now: float) -> MeterReading:
        _check_time(now)
        return self._meter.read_with_board(now)

    # -- control ----------------------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self._lock is not None and self._lock.locked

    def plug(self, now: float, *, ev: EvModel | None = None) -> None:
        """Connect an EV (a detachable cable goes into the socket too, unless it was left there): the
        connector's own model unless `ev` brings a different one for this session."""
        _check_time(now)
        if self.plugged:
            raise ValueError(f"connector {self._connector_id} is already plugged in")
        self._in_socket = not self._fixed_cable
        self._board.plug(now, ev)  # pilot A -> C: the listener hears of it through _on_cp_state

    def unplug(self, now: float, side: str = "both") -> None:
        """The driver unplugs. side "ev": the cable comes out of the EV only, a detachable cable stays in the
        station's socket. "both" (the whole cable): the EV end, then the station end unless the connector
        lock holds it there; a cable left in the socket is taken out once it is unlocked. A fixed cable only
        has the EV side."""
        if side not in UNPLUG_SIDES:
            raise ValueError(f"unknown side {side!r}: expected one of {', '.join(UNPLUG_SIDES)}")
        _check_time(now)
        if not self.plugged and not (side == "both" and self._in_socket):
            raise ValueError(f"connector {self._connector_id} is not plugged in")
        if not self.plugged:
            if self.locked:
                raise ValueError(f"the cable is locked in the socket of connector {self._connector_id}")
            self._in_socket = False
            self._notify_plug(False)
            return
        if side == "both" and not self.locked:
            self._in_socket = False
        self._board.unplug(now)  # pilot -> A; the core may unlock in answer to it
        if side == "both" and self._in_socket and not self.locked:
            # The station unlocked on the EV-side disconnect (UnlockConnectorOnEVSideDisconnect): pull it out.
            self._in_socket = False
            self._notify_plug(False)

    def _notify_plug(self, plugged: bool) -> None:
        if self._listener is not None:
            self._listener.on_plug_changed(self._connector_id, plugged)

    def _on_cp_state(self, state: ControlPilotState) -> None:
        """The board's control-pilot events, as a real board reports them (IEC 61851-1 Table A.3)."""
        plug_changed = state.plugged != self._cp_plugged
        self._cp_plugged = state.plugged
        if self._listener is None:
            return
        if plug_changed:
            self._listener.on_plug_changed(self._connector_id, state.plugged)
        else:
            self._listener.on_ev_ready_changed(self._connector_id, state.ev_ready)

    def set_fault(self, code: str | None, info: str | None = None) -> None:
        """Raise or clear a fault. It does not touch the contactor: reacting to it is the core's job."""
        _check_error_code(code)
        if code is None:
            info = None
        if (code, info) == (self._fault, self._fault_info):
            return
        self._fault = code
        self._fault_info = info
        if self._listener is not None:
            self._listener.on_fault_changed(self._connector_id, code, info)

    def fail_lock(self, flag: bool) -> None:
        if self._lock is None:
            if flag:
                raise ValueError(f"connector {self._connector_id} has a fixed cable and no lock that could fail")
            return
        self._lock.fail_lock = flag

    def fail_unlock(self, flag: bool) -> None:
        if self._lock is None:
            if flag:
                raise ValueError(f"connector {self._connector_id} has a fixed cable and no lock that could fail")
            return
        self._lock.fail_unlock = flag

    def suspend_ev(self, now: float, flag: bool) -> None:
        if not self.plugged:
            raise ValueError(f"no EV is plugged into connector {self._connector_id}")
        _check_time(now)
        self._board.suspend(now, flag)  # pilot C <-> B


class SimulatedRfidReader:
    __slots__ = ("_listener", "_number_of_connectors")

    def __init__(self, number_of_connectors: int | None = None) -> None:
        self._listener: HardwareListener | None = None
        self._number_of_connectors = number_of_connectors

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener

    def present(self, id_tag: str, connector_id: int | None = None) -> None:
        """A card held to the reader; `connector_id` for stations with one reader per connector."""
        if not 1 <= len(id_tag) <= ID_TAG_MAX_LENGTH:
            raise ValueError(f"an idTag has 1 to {ID_TAG_MAX_LENGTH} characters, got {len(id_tag)}")
        if connector_id is not None and (
            connector_id < 1 or (self._number_of_connectors is not None and connector_id > self._number_of_connectors)
        ):
            raise ValueError(f"no connector {connector_id}")
        if self._listener is not None:
            self._listener.on_id_tag(id_tag, connector_id)


class SimulatedStation:
    """A station of identical simulated connectors, one RFID reader and a main meter summing them."""

    __slots__ = ("_connectors", "_fault", "_fault_info", "_listener", "_rfid", "_voltage_v")

    def __init__(
        self,
        number_of_connectors: int = 2,
        *,
        fixed_cable: bool = True,
        voltage_v: float = 230.0,
        phases: int = 3,
        max_current_a: float = 32.0,
        ev: EvModel | None = None,
        initial_energy_wh: Sequence[float] | None = None,
    ) -> None:
        if number_of_connectors < 1:
            raise ValueError(f"a station has at least one connector, got {number_of_connectors}")
        if initial_energy_wh is None:
            initial_energy_wh = (0.0,) * number_of_connectors
        if len(initial_energy_wh) != number_of_connectors:
            raise ValueError(f"{len(initial_energy_wh)} initial registers for {number_of_connectors} connectors")
        ev = ev if ev is not None else EvModel()
        self._connectors = tuple(
            SimulatedConnector(
                connector_id,
                fixed_cable=fixed_cable,
                voltage_v=voltage_v,
                phases=phases,
                max_current_a=max_current_a,
                initial_energy_wh=energy_wh,
                ev=ev,
            )
            for connector_id, energy_wh in enumerate(initial_energy_wh, start=1)
        )
        self._rfid = SimulatedRfidReader(number_of_connectors)
        self._voltage_v = float(voltage_v)
        self._listener: HardwareListener | None = None
        self._fault: str | None = None
        self._fault_info: str | None = None

    # -- StationHardware --------------------------------------------------------------------------------

    @property
    def connectors(self) -> tuple[SimulatedConnector, ...]:
        return self._connectors

    @property
    def rfid(self) -> SimulatedRfidReader:
        return self._rfid

    @property
    def main_meter(self) -> SimulatedStation:
        return self

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener
        self._rfid.set_listener(listener)
        for connector in self._connectors:
            connector.set_listener(listener)

    # -- PowerMeter (main meter) ------------------------------------------------------------------------

    def read(self, now: float) -> MeterReading:
        readings = [connector.read(now) for connector in self._connectors]
        phases = max(len(reading.voltage_v) for reading in readings)
        return MeterReading(
            timestamp=now,
            energy_import_wh=sum(reading.energy_import_wh for reading in readings),
            energy_export_wh=sum(reading.energy_export_wh for reading in readings),
            power_import_w=sum(reading.power_import_w for reading in readings),
            power_export_w=sum(reading.power_export_w for reading in readings),
            current_import_a=_sum_phases((reading.current_import_a for reading in readings), phases),
            current_export_a=_sum_phases((reading.current_export_a for reading in readings), phases),
            current_offered_a=sum(reading.current_offered_a for reading in readings),
            power_offered_w=sum(reading.power_offered_w for reading in readings),
            voltage_v=(self._voltage_v,) * phases,
            frequency_hz=FREQUENCY_HZ,
            soc_percent=None,
            # The hottest connector is the one a temperature limit has to protect.
            temperature_c=max(reading.temperature_c for reading in readings),
        )

    # -- control ----------------------------------------------------------------------------------------

    @property
    def fault(self) -> str | None:
        """The station-wide fault (reported on connector 0)."""
        return self._fault

    def connector(self, connector_id: int) -> SimulatedConnector:
        if not 1 <= connector_id <= len(self._connectors):
            raise ValueError(f"no connector {connector_id}: this station has 1..{len(self._connectors)}")
        return self._connectors[connector_id - 1]

    def set_fault(self, code: str | None, info: str | None = None) -> None:
        """Raise or clear a station-wide fault, reported to the listener on connector 0."""
        _check_error_code(code)
        if code is None:
            info = None
        if (code, info) == (self._fault, self._fault_info):
            return
        self._fault = code
        self._fault_info = info
        if self._listener is not None:
            self._listener.on_fault_changed(0, code, info)


class SimulatedControls:
    """The `SimulatorControls` of a `SimulatedStation`: what the control API's buttons do to it."""

    __slots__ = ("_station",)

    def __init__(self, station: SimulatedStation) -> None:
        self._station = station

    def plug(self, now: float, connector_id: int) -> None:
        self._station.connector(connector_id).plug(now)

    def unplug(self, now: float, connector_id: int, side: str) -> None:
        self._station.connector(connector_id).unplug(now, side)

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self._station.rfid.present(id_tag, connector_id)

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        if connector_id == 0:
            self._station.set_fault(error_code, info)
        else:
            self._station.connector(connector_id).set_fault(error_code, info)

    def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        self._station.connector(connector_id).fail_lock(failing)

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        self._station.connector(connector_id).fail_unlock(failing)

    def set_ev_suspended(self, now: float, connector_id: int, suspended: bool) -> None:
        self._station.connector(connector_id).suspend_ev(now, suspended)


def _sum_phases(per_connector: Iterable[tuple[float, ...]], phases: int) -> tuple[float, ...]:
    totals = [0.0] * phases
    for currents in per_connector:
        for phase, current in enumerate(currents):
            totals[phase] += current
    return tuple(totals)


if TYPE_CHECKING:
    # Structural conformance is otherwise only checked where the core happens to receive the hardware.
    def _conforms(
        station: SimulatedStation, connector: SimulatedConnector, rfid: SimulatedRfidReader, controls: SimulatedControls
    ) -> tuple[StationHardware, ConnectorHardware, RfidReader, SimulatorControls]:
        return station, connector, rfid, controls
