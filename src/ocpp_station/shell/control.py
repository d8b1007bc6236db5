"""The control contract: what the HTTP control API (and tests, and the harness) may ask of a station.

The station implements `ControlledStation`; `api.py` exposes it over HTTP. Keeping the contract here
lets either side change without the other.
"""

from __future__ import annotations

from typing import Any, Protocol


class ControlError(Exception):
    """A control request the station refuses, with the HTTP status that names why.

    404 = no such connector/station, 409 = not possible in the current state, 422 = bad value.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlledStation(Protocol):
    @property
    def charge_box_id(self) -> str: ...

    def state(self) -> dict[str, Any]:
        """The `GET /api/state` document:
        {"chargeBoxId", "connected", "registration", "connectors": [{"connectorId", "status", "errorCode",
        "pluggedIn", "transactionId", "idTag", "energyWh", "powerW"}]} with connector 0 first; a station may add
        "cableInSocket" and "locked" per connector."""
        ...

    def plug(self, connector_id: int) -> None: ...

    def unplug(self, connector_id: int, side: str = "both") -> None:
        """side "ev": unplug at the EV only (a detachable cable stays in the station's socket); "both": the
        whole cable (its station end stays in while the connector lock holds it)."""
        ...

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None: ...

    def set_online(self, online: bool) -> None: ...

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        """Raise (error_code = an OCPP ChargePointErrorCode other than NoError) or clear (None) a fault;
        connector 0 = the whole station."""
        ...

    def set_lock_failure(self, connector_id: int, failing: bool) -> None: ...

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None: ...

    def set_ev_suspended(self, connector_id: int, suspended: bool) -> None: ...

    def set_local_list_failure(self, failing: bool) -> None:
        """While failing, storing a SendLocalList update fails (answered Failed; OCTT TC_043_3)."""
        ...


class StationDirectory(Protocol):
    """What the API serves: a lookup from chargeBoxId to station, plus the station of the short routes."""

    def get(self, charge_box_id: str) -> ControlledStation | None: ...

    def ids(self) -> list[str]: ...

    def default(self) -> ControlledStation | None: ...
