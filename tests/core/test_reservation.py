"""Reservation (OCPP 1.6 §5.13), driven through the core without sockets."""

from __future__ import annotations

from typing import Any

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import CallResult
from tests.support.core_driver import CoreDriver


def reserve(cp: CoreDriver, connector_id: int, id_tag: str = "RES-1", reservation_id: int = 7, **extra: Any) -> str:
    payload = {
        "connectorId": connector_id,
        "expiryDate": iso_utc(cp.clock.now() + 600),
        "idTag": id_tag,
        "reservationId": reservation_id,
        **extra,
    }
    answer = cp.call("ReserveNow", payload)
    assert isinstance(answer, CallResult)
    return str(answer.payload["status"])


def test_reserved_connector_serves_only_the_reserved_id_tag(cp: CoreDriver) -> None:
    assert reserve(cp, 1) == "Accepted"
    assert cp.statuses(cp.take()) == [(1, "Reserved")]
    cp.hardware.rfid.present("OTHER", 1)
    sent = cp.take()
    assert cp.statuses(sent) == []  # no Preparing for someone else (OCTT TC_046_1)
    cp.hardware.rfid.present("res-1", 1)
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    cp.hardware.connector(1).plug(cp.clock.now())
    start = next(p for a, p in cp.take() if a == "StartTransaction")
    assert start["reservationId"] == 7 and start["idTag"] == "res-1"
    assert cp.station.reservation.bookings == {}


def test_parent_id_tag_may_use_the_reservation(cp: CoreDriver) -> None:
    assert reserve(cp, 1, parentIdTag="GROUP") == "Accepted"
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP"}})
    cp.hardware.rfid.present("MEMBER", 1)
    cp.hardware.connector(1).plug(cp.clock.now())
    start = next(p for a, p in cp.take() if a == "StartTransaction")
    assert start["reservationId"] == 7  # OCTT TC_053


def test_reservation_expires_back_to_available(cp: CoreDriver) -> None:
    assert reserve(cp, 1) == "Accepted"
    cp.take()
    cp.advance(599)
    assert cp.statuses(cp.take()) == []
    cp.advance(2)
    assert cp.statuses(cp.take()) == [(1, "Available")]


def test_cancel_reservation(cp: CoreDriver) -> None:
    assert reserve(cp, 2) == "Accepted"
    cancel = cp.call("CancelReservation", {"reservationId": 8})
    assert isinstance(cancel, CallResult) and cancel.payload == {"status": "Rejected"}
    cancel = cp.call("CancelReservation", {"reservationId": 7})
    assert isinstance(cancel, CallResult) and cancel.payload == {"status": "Accepted"}
    assert cp.statuses(cp.take())[-1] == (2, "Available")


def test_reserve_now_refusals(cp: CoreDriver) -> None:
    cp.hardware.connector(1).set_fault("GroundFailure")
    assert reserve(cp, 1) == "Faulted"
    cp.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert reserve(cp, 2) == "Unavailable"
    cp.call("ChangeAvailability", {"connectorId": 2, "type": "Operative"})
    cp.hardware.connector(2).plug(cp.clock.now())
    assert reserve(cp, 2) == "Occupied"
    assert reserve(cp, 0) == "Rejected"  # ReserveConnectorZeroSupported=false (certified default)
    assert reserve(cp, 3) == "Rejected"


def test_connector_zero_reservation_holds_the_last_free_connector() -> None:
    cp = CoreDriver({"ReserveConnectorZeroSupported": "true"})
    cp.connect()
    cp.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    cp.take()
    assert reserve(cp, 0) == "Accepted"
    assert cp.statuses(cp.take()) == [(1, "Reserved")]  # OCTT TC_049
    assert reserve(cp, 0, reservation_id=8) == "Occupied"
    cp.hardware.rfid.present("RES-1")
    cp.hardware.connector(1).plug(cp.clock.now())
    start = next(p for a, p in cp.take() if a == "StartTransaction")
    assert start["reservationId"] == 7
    cp.close()


def test_reservations_survive_a_restart() -> None:
    cp = CoreDriver()
    cp.connect()
    assert reserve(cp, 1) == "Accepted"
    cp.close()
    again = CoreDriver(store=cp.store)
    again.connect()
    assert (1, "Reserved") in again.statuses()
    again.close()
