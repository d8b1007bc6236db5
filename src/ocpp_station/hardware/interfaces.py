"""What the station core needs from hardware, in the style of EVerest's hardware interfaces.

Hardware never reads a clock: every call that can change what is measured takes `now` (UTC POSIX
seconds from the station's injected clock), so a meter can be integrated lazily and exactly, and a
fleet of simulated stations costs no threads or tasks.

Data members are declared as read-only properties: a plain attribute satisfies them too, and mypy would
otherwise demand the exact declared type (mutable protocol members are invariant), so an implementation
could not expose its own richer connector or meter types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ocpp.v16.enums import ChargePointErrorCode

# OCPP 1.6 §7.6 ChargePointErrorCode without NoError: what hardware can report as a fault (NoError is the
# absence of one, a cleared fault).
CHARGE_POINT_FAULT_CODES: frozenset[str] = frozenset(code.value for code in ChargePointErrorCode) - {"NoError"}
# Where a driver unplugs: "ev" = at the EV only (a detachable cable stays in the station's socket),
# "both" = the whole cable.
UNPLUG_SIDES: tuple[str, ...] = ("ev", "both")
# IdToken is CiString20Type (OCPP 1.6 §7.24): a longer tag could never leave the station schema-valid.
ID_TAG_MAX_LENGTH = 20


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One sample of every measurand the station can report (OCPP 1.6 Measurand values)."""

    timestamp: float
    # Energy.Active.Import.Register: the raw register, never reset per transaction (errata v4.0 3.9).
    energy_import_wh: float
    energy_export_wh: float
    power_import_w: float
    power_export_w: float
    current_import_a: tuple[float, ...]
    current_export_a: tuple[float, ...]
    current_offered_a: float
    power_offered_w: float
    voltage_v: tuple[float, ...]
    frequency_hz: float
    soc_percent: float | None
    temperature_c: float


class PowerMeter(Protocol):
    def read(self, now: float) -> MeterReading: ...


class HardwareListener(Protocol):
    """Implemented by the station core; hardware calls it synchronously, after its own state changed."""

    def on_plug_changed(self, connector_id: int, plugged: bool) -> None: ...

    def on_fault_changed(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        """`error_code` is an OCPP ChargePointErrorCode other than NoError, or None once cleared;
        connector 0 is the whole station."""
        ...

    def on_ev_ready_changed(self, connector_id: int, ev_ready: bool) -> None:
        """The EV suspended (False) or resumed (True) charging on its own."""
        ...

    def on_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        """A card was presented; `connector_id` is None when the reader serves every connector."""
        ...


class ConnectorHardware(Protocol):
    """One connector: board support, connector lock, contactor and power meter."""

    @property
    def connector_id(self) -> int: ...

    @property
    def fixed_cable(self) -> bool:
        """A fixed cable has no lock to operate, so UnlockConnector answers NotSupported."""
        ...

    @property
    def meter(self) -> PowerMeter: ...

    @property
    def plugged(self) -> bool: ...

    @property
    def ev_ready(self) -> bool:
        """False while no EV is connected or the EV suspends charging (SuspendedEV)."""
        ...

    @property
    def fault(self) -> str | None: ...

    @property
    def cable_in_socket(self) -> bool:
        """A detachable cable is in the station's socket, with or without an EV at its other end (it stays
        there when the EV side is unplugged); always False for a fixed cable, which has no socket."""
        ...

    @property
    def locked(self) -> bool:
        """The connector lock holds the cable in the socket (always False for a fixed cable)."""
        ...

    def lock(self) -> bool:
        """True when locked (always for a fixed cable); False means ConnectorLockFailure."""
        ...

    def unlock(self) -> bool:
        """True when unlocked; False means UnlockFailed."""
        ...

    def set_energy_offered(self, now: float, enabled: bool, limit_a: float | None) -> None:
        """Close (enabled) or open the contactor and set the maximum current per phase offered to the EV;
        None offers the hardware maximum, and limits above it are capped to it."""
        ...

    def set_listener(self, listener: HardwareListener) -> None: ...


class RfidReader(Protocol):
    def set_listener(self, listener: HardwareListener) -> None: ...


class StationHardware(Protocol):
    @property
    def connectors(self) -> Sequence[ConnectorHardware]:
        """Index 0 is connector 1."""
        ...

    @property
    def rfid(self) -> RfidReader: ...

    @property
    def main_meter(self) -> PowerMeter:
        """Connector 0: the sum of the connectors."""
        ...

    def set_listener(self, listener: HardwareListener) -> None: ...


class SimulatorControls(Protocol):
    """What a person does to a simulated station: the control API's plug, card, fault and EV buttons.

    Real hardware has none (the composition root gives the runtime `None`). Each raises ValueError, with a
    one-line reason, for what the hardware's state does not allow (plugging a plugged connector, ...).
    """

    def plug(self, now: float, connector_id: int) -> None: ...

    def unplug(self, now: float, connector_id: int, side: str) -> None:
        """side "ev": at the EV only (a detachable cable stays in the socket); "both": the whole cable."""
        ...

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None: ...

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        """Raise (an OCPP ChargePointErrorCode other than NoError) or clear (None); connector 0 = the station."""
        ...

    def set_lock_failure(self, connector_id: int, failing: bool) -> None: ...

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None: ...

    def set_ev_suspended(self, now: float, connector_id: int, suspended: bool) -> None: ...
