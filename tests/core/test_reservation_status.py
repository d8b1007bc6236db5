"""Reserved connectors and their status (OCPP 1.6 §4.9 G2, §5.13), driven through the core without sockets:
a cable plugged in does not end Reserved, only the reservation's identity does; another idTag is refused on the
spot when the reservation has no parentIdTag (OCTT TC_046_1)."""

from __future__ import annotations

from typing import Any

import pytest

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import CallResult
from tests.support.core_driver import CoreDriver


@pytest.fixture
def cp_overrides() -> dict[str, str]:
    return {"ReserveConnectorZeroSupported": "true"}


def call(cp: CoreDriver, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = cp.call(action, payload)
    assert isinstance(answer, CallResult), answer
    return answer.payload


def reserve(cp: CoreDriver, connector_id: int, **extra: Any) -> None:
    payload = {
        "connectorId": connector_id,
        "expiryDate": iso_utc(cp.clock.now() + 600),
        "idTag": "RES-1",
        "reservationId": 7,
        **extra,
    }
    assert call(cp, "ReserveNow", payload)["status"] == "Accepted"


def test_plugging_in_keeps_reserved_until_the_reserved_id_tag(cp: CoreDriver) -> None:
    reserve(cp, 1)
    assert cp.statuses(cp.take()) == [(1, "Reserved")]
    cp.hardware.connector(1).plug(cp.clock.now())
    assert cp.statuses(cp.take()) == []  # Reserved stays: no G2 yet
    assert call(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": "RES-1"})["status"] == "Accepted"
    sent = cp.take()
    assert [a for a, _ in sent if a != "MeterValues"][:2] == ["StatusNotification", "Authorize"]
    assert cp.statuses(sent) == [(1, "Preparing"), (1, "Charging")]  # never Reserved → Charging
    start = next(p for a, p in sent if a == "StartTransaction")
    assert start["reservationId"] == 7


def test_another_id_tag_is_refused_without_asking(cp: CoreDriver) -> None:
    reserve(cp, 1)
    cp.take()
    cp.hardware.rfid.present("OTHER", 1)
    assert cp.take() == []  # no Authorize.req: the reservation has no parentIdTag (OCPP 1.6 §5.13)
    answer = call(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": "OTHER"})
    assert answer["status"] == "Rejected"
    assert cp.take() == []


def test_a_parent_reservation_asks_first_and_shows_preparing_before_charging(cp: CoreDriver) -> None:
    reserve(cp, 1, parentIdTag="GROUP")
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP"}})
    assert call(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": "MEMBER"})["status"] == "Accepted"
    sent = cp.take()
    assert sent[0][0] == "Authorize"
    assert cp.statuses(sent) == [(1, "Preparing"), (1, "Charging")]
    assert next(p for a, p in sent if a == "StartTransaction")["reservationId"] == 7


def test_a_connector_held_for_connector_zero_stays_reserved_when_plugged(cp: CoreDriver) -> None:
    assert call(cp, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})["status"] == "Accepted"
    cp.take()
    reserve(cp, 0)
    assert cp.statuses(cp.take()) == [(1, "Reserved")]
    cp.hardware.connector(1).plug(cp.clock.now())
    assert cp.statuses(cp.take()) == []
    cp.hardware.rfid.present("RES-1", 1)
    sent = cp.take()
    assert cp.statuses(sent)[0] == (1, "Preparing")
    assert next(p for a, p in sent if a == "StartTransaction")["reservationId"] == 7
