"""The hardware of one connector split into parts, as EVerest splits it into interfaces.

A driver implements one or more of these parts; `composed.ComposedConnector` / `ComposedStation` assemble
parts into the `ConnectorHardware` / `StationHardware` the station core codes against, so the core never
learns which driver is behind a part. The EVerest interfaces they follow:

- `EvseBoard` ↔ evse_board_support: allow_power_on, the PWM duty cycle (here: the offered current, turned
  into a duty cycle by `iec61851`), the control-pilot state events A–F.
- `MeterPart` ↔ powermeter: the latest reading, and a fault while the meter cannot be read.
- `ConnectorLock` ↔ connector_lock.
- `AuthTokenProvider` ↔ auth_token_provider: an RFID reader (or any other source of idTags).

Parts call their callbacks synchronously on the event loop, after their own state has changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ocpp_station.hardware.iec61851 import current_for_duty_cycle, duty_cycle_for_current
from ocpp_station.hardware.interfaces import MeterReading

__all__ = [
    "AuthTokenProvider",
    "ConnectorLock",
    "ControlPilotState",
    "CpCallback",
    "EvseBoard",
    "Fault",
    "FaultCallback",
    "MeterPart",
    "TokenCallback",
    "current_for_duty_cycle",
    "duty_cycle_for_current",
]


class ControlPilotState(StrEnum):
    """IEC 61851-1:2017 Table A.3 (the EV side of the control pilot)."""

    A = "A"  # no EV connected
    B = "B"  # EV connected, not ready to take energy
    C = "C"  # EV connected and ready (charging requested)
    D = "D"  # as C, with ventilation required
    E = "E"  # EVSE disconnected from the supply, or the pilot is shorted to earth
    F = "F"  # EVSE not available

    @property
    def plugged(self) -> bool:
        return self in (ControlPilotState.B, ControlPilotState.C, ControlPilotState.D)

    @property
    def ev_ready(self) -> bool:
        return self in (ControlPilotState.C, ControlPilotState.D)


@dataclass(frozen=True, slots=True)
class Fault:
    """An OCPP ChargePointErrorCode other than NoError (OCPP 1.6 §7.6) and its free-text info (≤ 50 chars)."""

    code: str
    info: str | None = None


FaultCallback = Callable[[Fault | None], None]
CpCallback = Callable[[ControlPilotState], None]
# (idTag, connector id or None when the reader serves every connector)
TokenCallback = Callable[[str, int | None], None]


class EvseBoard(Protocol):
    """EVerest evse_board_support: the contactor, the control pilot and the board's own faults.

    Optional: `min_current_a`, the smallest current other than 0 the board can offer; 6 A (a PWM alone, IEC
    61851-1 Table A.7) when absent, lower for a board that also carries the limit by ISO 15118. A lower limit
    is offered as 0 (a pause).
    """

    @property
    def max_current_a(self) -> float:
        """The hardware rating per phase (cable, relay, supply): nothing above it is ever offered."""
        ...

    @property
    def cp_state(self) -> ControlPilotState: ...

    @property
    def fault(self) -> Fault | None: ...

    @property
    def temperature_c(self) -> float | None:
        """The board's temperature sensor, or None without one."""
        ...

    def allow_power_on(self, allowed: bool) -> None:
        """May the board close the contactor (once the EV asks for energy in state C/D)?"""
        ...

    def set_offered_current(self, amps: float) -> None:
        """Offer 0 (PWM off) or 6..max A per phase; the board turns it into the PWM duty cycle."""
        ...

    def set_cp_callback(self, callback: CpCallback) -> None: ...

    def set_fault_callback(self, callback: FaultCallback) -> None: ...


class MeterPart(Protocol):
    """EVerest powermeter: `read` never blocks and returns the latest good reading."""

    @property
    def fault(self) -> Fault | None:
        """PowerMeterFailure while the meter cannot be read or reads implausibly."""
        ...

    def read(self, now: float) -> MeterReading: ...

    def set_fault_callback(self, callback: FaultCallback) -> None: ...


class ConnectorLock(Protocol):
    """EVerest connector_lock. Both calls answer at once: True when the lock is (about to be) in place."""

    @property
    def locked(self) -> bool: ...

    def lock(self) -> bool: ...

    def unlock(self) -> bool: ...


class AuthTokenProvider(Protocol):
    """EVerest auth_token_provider: an RFID reader or anything else that presents idTags."""

    def set_token_callback(self, callback: TokenCallback) -> None: ...
