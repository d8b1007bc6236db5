"""The state of one connector and the one function that derives its OCPP status from it.

Status is never set directly: every event changes facts (plugged, authorized, transaction, fault...)
and `derive_status` maps facts to the ChargePointStatus of OCPP 1.6 §4.9 / §7.7, so no transition
can be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(slots=True)
class Authorization:
    """An idTag accepted for a start on this connector, waiting for the cable (ConnectionTimeOut)."""

    id_tag: str
    parent_id_tag: str | None
    remote: bool
    reservation_id: int | None = None
    # False while the central system (or the local list/cache) is still being asked (OCPP 1.6 §3.5:
    # energy only after authorization), so plugging in meanwhile must not start the transaction.
    decided: bool = False


@dataclass(slots=True)
class ActiveTransaction:
    local_id: int
    id_tag: str
    parent_id_tag: str | None
    transaction_id: int | None
    meter_start: int
    start_time: float
    start_mono: float
    # OCPP 1.6 §3.5.4 / errata v4.0 3.17: StartTransaction.conf not Accepted and
    # StopTransactionOnInvalidId=false: energy is withheld (SuspendedEVSE) but the transaction runs on.
    deauthorized: bool = False
    ev_disconnected: bool = False


@dataclass(slots=True)
class Connector:
    connector_id: int
    inoperative: bool = False  # ChangeAvailability Inoperative (persisted: OCPP 1.6 §5.2)
    fault: str | None = None
    fault_info: str | None = None
    plugged: bool = False  # an EV is connected
    # A detachable cable left in the station's socket after an EV-side unplug keeps the connector occupied.
    cable_in_socket: bool = False
    ev_ready: bool = True
    authorization: Authorization | None = None
    transaction: ActiveTransaction | None = None
    finishing: bool = False  # transaction over, cable still in (OCPP 1.6 §4.9 Finishing)
    reserved: bool = False
    limit_withheld: bool = False  # smart charging offers 0 A / 0 W
    # The status and errorCode last queued for the central system: a new errorCode inside Faulted is news too.
    reported: tuple[Status, str | None] | None = None
    # Errata v4.0 3.5: after a DeAuthorized stop the cable stays locked until the transaction's idTag, or
    # one with its parentIdTag, is presented again: (idTag, parentIdTag) of that transaction.
    held_for: tuple[str, str | None] | None = None


def derive_status(c: Connector, station_inoperative: bool, station_fault: str | None) -> Status:
    if c.fault is not None or station_fault is not None:
        return Status.FAULTED
    tx = c.transaction
    if tx is not None:
        if tx.deauthorized or c.limit_withheld:
            # Both sides suspending: SuspendedEVSE wins (OCPP 1.6 §4.9).
            return Status.SUSPENDED_EVSE
        if not c.ev_ready or tx.ev_disconnected or not c.plugged:
            return Status.SUSPENDED_EV
        return Status.CHARGING
    if c.inoperative or station_inoperative:
        return Status.UNAVAILABLE
    if c.finishing:
        return Status.FINISHING
    if c.authorization is not None:
        return Status.PREPARING
    if c.reserved:
        # OCPP 1.6 §4.9: Reserved → Preparing only when the reservation's identity is presented (G2); a cable
        # plugged in meanwhile does not end it (OCTT Table 105 "Charging": Preparing after the remote start).
        return Status.RESERVED
    if c.plugged or c.cable_in_socket:
        return Status.PREPARING
    return Status.AVAILABLE


def derive_station_status(station_inoperative: bool, station_fault: str | None) -> Status:
    # Connector 0 reports only Available, Unavailable or Faulted (OCPP 1.6 §4.9).
    if station_fault is not None:
        return Status.FAULTED
    return Status.UNAVAILABLE if station_inoperative else Status.AVAILABLE
