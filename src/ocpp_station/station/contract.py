"""The contract between the station hub and its feature profiles: what a profile may use, nothing more.

Every profile imports this module (and the ports), never the hub: the hub builds the profiles and hands each
the `StationContext` plus the peers it really uses, so the import graph is a tree (checked in `make test`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Protocol

from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.settings import StationSettings
from ocpp_station.station.configuration import Configuration
from ocpp_station.station.connector import Connector, Status
from ocpp_station.station.outbox import OutboundCall, Payload, Timers

__all__ = [
    "CallRejected",
    "Handler",
    "NoSuchConnector",
    "Payload",
    "Registration",
    "StationContext",
]

Handler = Callable[[Payload], Payload]


class CallRejected(Exception):
    """A handler's way to answer with a CallError (e.g. PropertyConstraintViolation)."""

    def __init__(self, code: ErrorCode, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class NoSuchConnector(LookupError):
    """A connector id this station does not have (the control API answers 404)."""


class Registration(StrEnum):
    BOOTING = "Booting"  # no BootNotification.conf yet
    PENDING = "Pending"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class StationContext(Protocol):
    """What the hub offers every profile: identity, time, timers, the outbound side, status and station facts."""

    settings: StationSettings
    config: Configuration
    timers: Timers
    connectors: list[Connector]
    station_inoperative: bool
    station_fault: str | None
    station_fault_info: str | None
    registration: Registration
    # What TriggerMessage reports (OCPP 1.6 §4.4, §4.5); Firmware Management moves them on.
    firmware_status: str
    diagnostics_status: str
    reset_request: str | None  # "Soft" / "Hard" once a Reset was accepted or an install needs a restart
    boot_trigger_allowed: bool  # errata v4.0 3.35: TriggerMessage(BootNotification) while Accepted

    @property
    def charge_box_id(self) -> str: ...

    @property
    def online(self) -> bool:
        """Connected and registration Accepted."""
        ...

    def now(self) -> float:
        """UTC POSIX seconds (the station's wall clock, set by the central system)."""
        ...

    def mono(self) -> float:
        """Monotonic seconds, for timers."""
        ...

    def wake(self) -> None:
        """There may be something to send."""
        ...

    def defer(self, action: Callable[[], None]) -> None:
        """Run `action` once the response to the current call has been sent."""
        ...

    def send(
        self,
        action: str,
        payload: Payload,
        on_result: Callable[[Payload], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Queue a message that is not transaction-related; `first` puts it ahead of the other such messages."""
        ...

    def waiting_calls(self) -> Iterable[OutboundCall]:
        """The non-transaction messages queued and not yet sent, in order."""
        ...

    def enqueue(self, action: str, payload: Payload, local_tx: int | None) -> None:
        """Put a transaction-related message in the durable queue (OCPP 1.6 §3.7); call inside `store.atomic()`
        with the facts it reports, so the message and the facts are stored together. `payload` belongs to the
        queue from then on: build it for the queue and do not change it afterwards."""
        ...

    def refresh_status(self) -> None:
        """Queue a StatusNotification for every connector whose derived status changed (OCPP 1.6 §4.9)."""
        ...

    def report_error(self, connector_id: int, status: Status, error_code: str, info: str | None) -> None:
        """A StatusNotification carrying an error that is not a status change."""
        ...

    def connector(self, connector_id: int) -> Connector:
        """Raises `NoSuchConnector` for an id this station does not have."""
        ...

    def boot_now(self) -> None: ...

    def request_reconnect(self, reason: str) -> None:
        """Close the connection normally and connect again at once (new credentials, certificate or profile)."""
        ...

    def on_heartbeat_result(self, payload: Payload) -> None: ...
