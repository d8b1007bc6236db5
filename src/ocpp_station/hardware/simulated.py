"""The simulated hardware every station runs on unless real hardware is plugged in.

Nothing here runs on its own: the meter keeps the register at the last time it was asked about plus the
power since then (which only changes at calls that carry `now`), so thousands of idle stations cost only
their memory. The control methods (`plug`, `set_fault`, ...) are what the HTTP control API and tests use
to play the EV driver and the broken hardware.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

AMBIENT_TEMPERATURE_C = 25.0
# Temperature rise at full rated power: enough for HighTemperature tests to key off, never near a trip.
FULL_POWER_TEMPERATURE_RISE_C = 15.0
FREQUENCY_HZ = 50.0

_JUST_BELOW_FULL = math.nextafter(100.0, 0.0)

# Where the driver unplugs a cable: at the EV only, or the whole cable (EV end, then the station end).


@dataclass(frozen=True, slots=True)
class EvModel:
    """The EV behind the cable: it takes what is offered up to its own maximum until its battery is full."""

    max_current_a: float = 32.0
    phases: int = 3
    battery_capacity_wh: float = 60_000.0
    initial_soc_percent: float = 20.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_current_a) and self.max_current_a > 0):
            raise ValueError(f"EV max current must be positive, got {self.max_current_a}")
        if self.phases not in (1, 2, 3):
            raise ValueError(f"EV phases must be 1, 2 or 3, got {self.phases}")
        if not (math.isfinite(self.battery_capacity_wh) and self.battery_capacity_wh > 0):
            raise ValueError(f"battery capacity must be positive, got {self.battery_capacity_wh}")
        if not 0.0 <= self.initial_soc_percent <= 100.0:
            raise ValueError(f"initial SoC must be within 0..100 %, got {self.initial_soc_percent}")

    @property
    def energy_to_full_wh(self) -> float:
        return self.battery_capacity_wh * (100.0 - self.initial_soc_percent) / 100.0


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
    """One connector with contactor, optional lock, power meter and the EV plugged into it."""

    __slots__ = (
        "_connector_id",
        "_default_ev",
        "_enabled",
        "_ev",
        "_ev_delivered_wh",
        "_export_wh",
        "_fail_lock",
        "_fail_unlock",
        "_fault",
        "_fault_info",
        "_fixed_cable",
        "_import_wh",
        "_in_socket",
        "_limit_a",
        "_listener",
        "_locked",
        "_max_current_a",
        "_phases",
        "_plugged",
        "_suspended",
        "_t0",
        "_voltage_v",
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
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {phases}")
        if not (math.isfinite(voltage_v) and voltage_v > 0):
            raise ValueError(f"voltage must be positive, got {voltage_v}")
        if not (math.isfinite(max_current_a) and max_current_a > 0):
            raise ValueError(f"max current must be positive, got {max_current_a}")
        for name, value in (
            ("initial_energy_wh", initial_energy_wh),
            ("initial_export_energy_wh", initial_export_energy_wh),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative register value, got {value}")
        self._connector_id = connector_id
        self._fixed_cable = fixed_cable
        self._voltage_v = float(voltage_v)
        self._phases = phases
        self._max_current_a = float(max_current_a)
        self._default_ev = ev if ev is not None else EvModel()
        self._ev = self._default_ev
        self._listener: HardwareListener | None = None
        self._plugged = False
        self._in_socket = False  # a detachable cable in the station's socket
        self._suspended = False
        self._fault: str | None = None
        self._fault_info: str | None = None
        self._locked = False
        self._fail_lock = False
        self._fail_unlock = False
        self._enabled = False
        self._limit_a: float | None = None
        self._import_wh = float(initial_energy_wh)
        self._export_wh = float(initial_export_energy_wh)
        self._ev_delivered_wh = 0.0
        # Power is zero until a call carrying `now` closes the contactor, so any start time integrates right.
        self._t0 = -math.inf

    # -- ConnectorHardware ------------------------------------------------------------------------------

    @property
    def connector_id(self) -> int:
        return self._connector_id

    @property
    def fixed_cable(self) -> bool:
        return self._fixed_cable

    @property
    def meter(self) -> SimulatedConnector:
        # The connector is its own meter: one object per connector keeps a large fleet small.
        return self

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def ev_ready(self) -> bool:
        return self._plugged and not self._suspended

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def cable_in_socket(self) -> bool:
        return self._in_socket

    def lock(self) -> bool:
        if self._fixed_cable:
            return True
        if self._fail_lock:
            return False
        self._locked = True
        return True

    def unlock(self) -> bool:
        if self._fixed_cable:
            return True
        if self._fail_unlock:
            return False
        self._locked = False
        return True

    def set_energy_offered(self, now: float, enabled: bool, limit_a: float | None) -> None:
        if limit_a is not None and not (math.isfinite(limit_a) and limit_a >= 0):
            raise ValueError(f"offered current must be a non-negative number of amperes, got {limit_a}")
        self._advance(now)
        self._enabled = enabled
        # The hardware cannot offer more than its rating whatever the schedule asks for.
        self._limit_a = None if limit_a is None else min(float(limit_a), self._max_current_a)

    def set_listener(self, listener: HardwareListener) -> None:
        self._listener = listener

    # -- PowerMeter -------------------------------------------------------------------------------------

    def read(self, now: float) -> MeterReading:
        self._advance(now)
        draw_a = self._draw_a()
        ev_phases = min(self._ev.phases, self._phases)
        current = (draw_a,) * ev_phases + (0.0,) * (self._phases - ev_phases)
        voltage = (self._voltage_v,) * self._phases
        power_w = self._voltage_v * draw_a * ev_phases
        offered_a = self._offered_a()
        rated_w = self._max_current_a * self._voltage_v * self._phases
        return MeterReading(
            timestamp=now,
            energy_import_wh=self._import_wh,
            energy_export_wh=self._export_wh,
            power_import_w=power_w,
            power_export_w=0.0,
            current_import_a=current,
            current_export_a=(0.0,) * self._phases,
            current_offered_a=offered_a,
            power_offered_w=offered_a * self._voltage_v * self._phases,
            voltage_v=voltage,
            frequency_hz=FREQUENCY_HZ,
            soc_percent=self._soc_percent() if self._plugged else None,
            temperature_c=AMBIENT_TEMPERATURE_C + FULL_POWER_TEMPERATURE_RISE_C * power_w / rated_w,
        )

    # -- control ----------------------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self._locked

    def plug(self, now: float, *, ev: EvModel | None = None) -> None:
        """Connect an EV (a detachable cable goes into the socket too, unless it was left there): the
        connector's own model unless `ev` brings a different one for this session."""
        if self._plugged:
            raise ValueError(f"connector {self._connector_id} is already plugged in")
        self._advance(now)
        self._plugged = True
        self._in_socket = not self._fixed_cable
        self._suspended = False
        self._ev = ev if ev is not None else self._default_ev
        self._ev_delivered_wh = 0.0
        if self._listener is not None:
            self._listener.on_plug_changed(self._connector_id, True)

    def unplug(self, now: float, side: str = "both") -> None:
        """The driver unplugs. side "ev": the cable comes out of the EV only, a detachable cable stays in the
        station's socket. "both" (the whole cable): the EV end, then the station end unless the connector
        lock holds it there; a cable left in the socket is taken out once it is unlocked. A fixed cable only
        has the EV side."""
        if side not in UNPLUG_SIDES:
            raise ValueError(f"unknown side {side!r}: expected one of {', '.join(UNPLUG_SIDES)}")
        if not self._plugged and not (side == "both" and self._in_socket):
            raise ValueError(f"connector {self._connector_id} is not plugged in")
        if not self._plugged:
            if self._locked:
                raise ValueError(f"the cable is locked in the socket of connector {self._connector_id}")
            self._in_socket = False
            self._notify_plug(False)
            return
        self._advance(now)
        self._plugged = False
        self._suspended = False
        if side == "both" and not self._locked:
            self._in_socket = False
        self._notify_plug(False)
        if side == "both" and self._in_socket and not self._locked:
            # The station unlocked on the EV-side disconnect (UnlockConnectorOnEVSideDisconnect): pull it out.
            self._in_socket = False
            self._notify_plug(False)

    def _notify_plug(self, plugged: bool) -> None:
        if self._listener is not None:
            self._listener.on_plug_changed(self._connector_id, plugged)

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
        if flag and self._fixed_cable:
            raise ValueError(f"connector {self._connector_id} has a fixed cable and no lock that could fail")
        self._fail_lock = flag

    def fail_unlock(self, flag: bool) -> None:
        if flag and self._fixed_cable:
            raise ValueError(f"connector {self._connector_id} has a fixed cable and no lock that could fail")
        self._fail_unlock = flag

    def suspend_ev(self, now: float, flag: bool) -> None:
        if not self._plugged:
            raise ValueError(f"no EV is plugged into connector {self._connector_id}")
        if flag == self._suspended:
            return
        self._advance(now)
        self._suspended = flag
        if self._listener is not None:
            self._listener.on_ev_ready_changed(self._connector_id, not flag)

    # -- internals --------------------------------------------------------------------------------------

    def _offered_a(self) -> float:
        if not self._enabled:
            return 0.0
        return self._max_current_a if self._limit_a is None else self._limit_a

    def _draw_a(self) -> float:
        if not (self._enabled and self._plugged) or self._suspended:
            return 0.0
        if self._ev_delivered_wh >= self._ev.energy_to_full_wh:
            return 0.0
        return min(self._ev.max_current_a, self._offered_a())

    def _soc_percent(self) -> float:
        ev = self._ev
        if self._ev_delivered_wh >= ev.energy_to_full_wh:
            return 100.0
        # Rounding must not report a full battery while the EV still draws: 100 % means it has stopped.
        soc = ev.initial_soc_percent + 100.0 * self._ev_delivered_wh / ev.battery_capacity_wh
        return min(soc, _JUST_BELOW_FULL)

    def _advance(self, now: float) -> None:
        """Bring the register up to `now` under the power that has held since the last call."""
        _check_time(now)
        elapsed = now - self._t0
        # Moving t0 back as well when the clock was set back: no real time passed across that jump, and
        # the register must neither go backwards nor count the same interval twice.
        self._t0 = now
        if elapsed <= 0:
            return
        power_w = self._voltage_v * self._draw_a() * min(self._ev.phases, self._phases)
        if power_w == 0.0:
            return
        energy_wh = power_w * elapsed / 3600.0
        # The EV stops drawing the moment its battery is full, so the segment ends there: exactly the
        # missing energy, and power is zero for the rest of the interval.
        missing_wh = self._ev.energy_to_full_wh - self._ev_delivered_wh
        if energy_wh >= missing_wh:
            energy_wh = missing_wh
            self._ev_delivered_wh = self._ev.energy_to_full_wh
        else:
            self._ev_delivered_wh += energy_wh
        self._import_wh += energy_wh


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
