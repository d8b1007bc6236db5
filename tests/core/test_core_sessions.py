"""Charging sessions in the station core, driven without sockets (CoreDriver): the behaviours the OCTT Core
cases TC_004..TC_069 rely on -- the two sides of a detachable cable and its lock, EV-side disconnects,
stopping by idTag and parentIdTag, the authorization cache, lock failures and faults."""

from __future__ import annotations

from typing import Any

import pytest

from ocpp_station.hardware.simulated import SimulatedStation
from ocpp_station.settings import parse_settings
from tests.support.core_driver import CoreDriver, result

TAG = "TAG-1"
OTHER_TAG = "TAG-2"
PARENT = "PARENT-1"

Sent = list[tuple[str, dict[str, Any]]]


def detachable(overrides: dict[str, str] | None = None) -> CoreDriver:
    """A connected station with a detachable cable (a socket and a lock on connector 1 and 2)."""
    cp = CoreDriver(
        overrides,
        hardware=SimulatedStation(2, fixed_cable=False),
        settings=parse_settings({"hardware": {"fixed_cable": False}}),
    )
    cp.connect()
    cp.take()
    return cp


def actions(sent: Sent) -> list[str]:
    return [action for action, _ in sent]


def one(sent: Sent, action: str) -> dict[str, Any]:
    (payload,) = [p for a, p in sent if a == action]
    return payload


def charge(cp: CoreDriver, connector_id: int = 1, tag: str = TAG) -> None:
    """Plug in and present the card: a running transaction (Authorize answered by the driver's defaults)."""
    cp.hardware.connector(connector_id).plug(cp.clock.now())
    cp.hardware.rfid.present(tag, connector_id)
    sent = cp.take()
    assert "StartTransaction" in actions(sent)
    assert (connector_id, "Charging") in cp.statuses(sent)


# --- the configuration follows the cable (errata v4.0 3.85) -------------------------------------------


def test_unlock_on_ev_side_disconnect_is_read_only_false_only_for_a_fixed_cable() -> None:
    fixed = CoreDriver()
    key = {"key": "UnlockConnectorOnEVSideDisconnect"}
    (entry,) = result(fixed.call("GetConfiguration", {"key": [key["key"]]}))["configurationKey"]
    assert entry == {**key, "readonly": True, "value": "false"}
    assert result(fixed.call("ChangeConfiguration", {**key, "value": "true"})) == {"status": "Rejected"}
    fixed.close()
    cp = detachable()
    (entry,) = result(cp.call("GetConfiguration", {"key": [key["key"]]}))["configurationKey"]
    assert entry == {**key, "readonly": False, "value": "true"}
    assert result(cp.call("ChangeConfiguration", {**key, "value": "false"})) == {"status": "Accepted"}
    cp.close()


# --- the two sides of a detachable cable (TC_005_x, TC_018_1) -------------------------------------------


def test_ev_side_stop_unlocks_and_the_cable_stays_finishing_until_taken_out() -> None:
    """TC_005_1: StopTransactionOnEVSideDisconnect and UnlockConnectorOnEVSideDisconnect true."""
    cp = detachable()
    socket = cp.hardware.connector(1)
    charge(cp)
    assert socket.locked
    socket.unplug(cp.clock.now(), "ev")
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "EVDisconnected"
    assert cp.statuses(sent) == [(1, "Finishing")]  # the cable is still in the socket
    assert socket.cable_in_socket and not socket.locked
    socket.unplug(cp.clock.now())  # the driver takes the cable out of the socket
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()


def test_unlock_connector_on_ev_side_disconnect_false_keeps_the_cable_locked() -> None:
    """TC_005_2: the transaction stops, the cable stays locked until UnlockConnector."""
    cp = detachable({"UnlockConnectorOnEVSideDisconnect": "false"})
    socket = cp.hardware.connector(1)
    charge(cp)
    socket.unplug(cp.clock.now(), "ev")
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "EVDisconnected"
    assert cp.statuses(sent) == [(1, "Finishing")]
    assert socket.locked
    with pytest.raises(ValueError, match="locked"):
        cp.unplug(1)  # the control API's unplug (refused with 409 there): the lock holds the cable
    assert result(cp.call("UnlockConnector", {"connectorId": 1})) == {"status": "Unlocked"}
    assert not socket.locked and cp.take() == []
    cp.unplug(1)
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()


def test_stop_transaction_on_ev_side_disconnect_false_suspends_and_keeps_the_lock() -> None:
    """TC_005_3: SuspendedEV with info "EV side disconnected", no StopTransaction, the cable stays locked;
    the remote stop ends the transaction normally (reason Remote, unlocked, Finishing)."""
    cp = detachable({"StopTransactionOnEVSideDisconnect": "false", "UnlockConnectorOnEVSideDisconnect": "false"})
    socket = cp.hardware.connector(1)
    charge(cp)
    socket.unplug(cp.clock.now(), "ev")
    sent = cp.take()
    assert actions(sent) == ["StatusNotification"]
    status = one(sent, "StatusNotification")
    assert (status["status"], status["errorCode"], status["info"]) == ("SuspendedEV", "NoError", "EV side disconnected")
    assert socket.locked
    assert cp.station.state()["connectors"][1]["locked"] is True
    assert result(cp.call("RemoteStopTransaction", {"transactionId": 1001})) == {"status": "Accepted"}
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "Remote"
    assert cp.statuses(sent) == [(1, "Finishing")]
    assert "info" not in one(sent, "StatusNotification")
    assert not socket.locked  # a normal stop unlocks (OCPP 1.6 §4.10)
    cp.close()


def test_the_ev_coming_back_resumes_a_suspended_transaction() -> None:
    """OCPP 1.6 §4.10: with StopTransactionOnEVSideDisconnect=false, energy transfer is allowed again when
    the EV is reconnected."""
    cp = detachable({"StopTransactionOnEVSideDisconnect": "false"})
    socket = cp.hardware.connector(1)
    charge(cp)
    socket.unplug(cp.clock.now(), "ev")
    assert cp.statuses(cp.take()) == [(1, "SuspendedEV")]
    socket.plug(cp.clock.now())
    sent = cp.take()
    assert cp.statuses(sent) == [(1, "Charging")]
    assert "info" not in one(sent, "StatusNotification")
    cp.advance(60)
    assert cp.hardware.connector(1).read(cp.clock.now()).power_import_w > 0
    cp.close()


def test_pulling_the_whole_cable_stops_then_frees_the_connector() -> None:
    """The default unplug on a detachable cable: the EV end comes out (transaction stops, the lock opens),
    then the station end."""
    cp = detachable()
    charge(cp)
    cp.unplug(1)
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "EVDisconnected"
    assert cp.statuses(sent) == [(1, "Finishing"), (1, "Available")]
    assert not cp.hardware.connector(1).cable_in_socket
    cp.close()


def test_unlock_connector_with_a_transaction_then_the_cable_is_removed() -> None:
    """TC_018_1: Unlocked, StopTransaction(UnlockCommand), Finishing; Available once the cable is out."""
    cp = detachable()
    charge(cp)
    assert result(cp.call("UnlockConnector", {"connectorId": 1})) == {"status": "Unlocked"}
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "UnlockCommand"
    assert cp.statuses(sent) == [(1, "Finishing")]
    cp.unplug(1)
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()


def test_fixed_cable_ev_side_disconnect_and_unlock(cp: CoreDriver) -> None:
    """The fixed-cable alternatives of TC_005_2 / TC_018_2: Available at once, UnlockConnector NotSupported
    and a running transaction goes on."""
    charge(cp)
    assert result(cp.call("UnlockConnector", {"connectorId": 1})) == {"status": "NotSupported"}
    assert cp.station.state()["connectors"][1]["transactionId"] == 1001
    cp.unplug(1, "ev")
    sent = cp.take()
    assert one(sent, "StopTransaction")["reason"] == "EVDisconnected"
    assert cp.statuses(sent) == [(1, "Available")]
    state = cp.station.state()["connectors"][1]
    assert (state["pluggedIn"], state["cableInSocket"], state["locked"]) == (False, False, False)


def test_state_shows_both_sides_of_the_cable() -> None:
    cp = detachable({"UnlockConnectorOnEVSideDisconnect": "false"})
    charge(cp)

    def sides() -> tuple[bool, bool, bool]:
        c = cp.station.state()["connectors"][1]
        return c["pluggedIn"], c["cableInSocket"], c["locked"]

    assert sides() == (True, True, True)
    cp.unplug(1, "ev")
    assert sides() == (False, True, True)
    with pytest.raises(ValueError, match="not plugged in"):
        cp.unplug(1, "ev")
    cp.call("UnlockConnector", {"connectorId": 1})
    cp.unplug(1, "both")
    assert sides() == (False, False, False)
    with pytest.raises(ValueError, match="not plugged in"):
        cp.unplug(1)
    cp.close()


# --- identification first, remote start first (TC_004, TC_011, TC_061) ---------------------------------


def test_local_identification_authorizes_before_preparing(cp: CoreDriver) -> None:
    """Authorize.req, then StatusNotification(Preparing) once accepted (TC_061 step 7, TC_046_1); an
    invalid idTag leaves the connector Available."""
    cp.hardware.rfid.present(TAG, 1)
    sent = cp.take()
    assert actions(sent) == ["Authorize", "StatusNotification"]
    assert cp.statuses(sent) == [(1, "Preparing")]
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Invalid"}})
    cp.hardware.rfid.present(OTHER_TAG, 2)
    assert actions(cp.take()) == ["Authorize"]


def test_remote_start_first_authorizes_then_prepares_then_times_out() -> None:
    """TC_011_1 / TC_011_2: Authorize.req before Preparing; Available after ConnectionTimeOut."""
    cp = CoreDriver({"ConnectionTimeOut": "5"})
    cp.connect()
    cp.take()
    assert result(cp.call("RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})) == {"status": "Accepted"}
    sent = cp.take()
    assert actions(sent) == ["Authorize", "StatusNotification"]
    assert cp.statuses(sent) == [(1, "Preparing")]
    cp.advance(4.9)
    assert cp.take() == []
    cp.advance(0.2)
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()


def test_clear_cache_makes_the_next_presentation_ask_the_central_system(cp: CoreDriver) -> None:
    """TC_061: with LocalPreAuthorize the cached idTag is not asked for; after ClearCache it is."""
    cp.hardware.rfid.present(TAG, 1)
    assert "Authorize" in actions(cp.take())  # the answer puts TAG in the cache
    cp.advance(31)  # ConnectionTimeOut
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.hardware.rfid.present(TAG, 1)
    assert actions(cp.take()) == ["StatusNotification"]  # Preparing, served from the cache
    cp.advance(31)
    cp.take()
    assert result(cp.call("ClearCache", {})) == {"status": "Accepted"}
    cp.hardware.rfid.present(TAG, 1)
    assert actions(cp.take()) == ["Authorize", "StatusNotification"]


def test_remote_start_with_a_cached_id_sends_no_authorize(cp: CoreDriver) -> None:
    """TC_007_2: AuthorizeRemoteTxRequests=true and LocalPreAuthorize=true: a cached Accepted idTag starts at
    once."""
    charge(cp)
    cp.hardware.rfid.present(TAG, 1)
    cp.unplug(1)
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    assert result(cp.call("RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})) == {"status": "Accepted"}
    assert sorted(actions(cp.take())) == ["StartTransaction", "StatusNotification"]


# --- stopping with another idTag (TC_068, TC_069) ------------------------------------------------------


def test_another_valid_tag_neither_authorizes_nor_stops(cp: CoreDriver) -> None:
    """TC_068: without a parentIdTag the other idTag cannot stop the transaction, so no Authorize.req."""
    charge(cp)
    cp.hardware.rfid.present(OTHER_TAG, 1)
    assert cp.take() == []
    cp.hardware.rfid.present(TAG, 1)
    sent = cp.take()
    stop = one(sent, "StopTransaction")
    assert (stop["idTag"], stop["reason"]) == (TAG, "Local")
    assert cp.statuses(sent) == [(1, "Finishing")]
    assert "Authorize" not in actions(sent)


@pytest.mark.parametrize("source", ["Authorize", "StartTransaction"])
def test_a_tag_with_the_same_parent_stops_the_transaction(source: str) -> None:
    """TC_069: the parentIdTag learnt from Authorize.conf (or, without an Authorize, StartTransaction.conf)
    lets another idTag with the same parent stop: Authorize.req for it, StopTransaction with its idTag."""
    cp = CoreDriver({"AuthorizeRemoteTxRequests": "false" if source == "StartTransaction" else "true"})
    cp.connect()
    cp.take()

    def with_parent(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = cp.default_answer(action, payload)
        answer["idTagInfo"]["parentIdTag"] = PARENT
        return answer

    cp.respond(source, with_parent)
    cp.hardware.connector(1).plug(cp.clock.now())
    assert result(cp.call("RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})) == {"status": "Accepted"}
    assert "StartTransaction" in actions(cp.take())
    cp.respond("Authorize", with_parent)
    cp.hardware.rfid.present(OTHER_TAG, 1)
    sent = cp.take()
    assert actions(sent)[0] == "Authorize" and sent[0][1] == {"idTag": OTHER_TAG}
    stop = one(sent, "StopTransaction")
    assert (stop["idTag"], stop["reason"]) == (OTHER_TAG, "Local")
    assert cp.statuses(sent) == [(1, "Finishing")]
    cp.close()


def test_a_tag_with_another_parent_does_not_stop(cp: CoreDriver) -> None:
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Accepted", "parentIdTag": PARENT}})
    charge(cp)
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Accepted", "parentIdTag": "PARENT-2"}})
    cp.hardware.rfid.present(OTHER_TAG, 1)
    assert actions(cp.take()) == ["Authorize"]
    assert cp.station.state()["connectors"][1]["transactionId"] == 1001


# --- lock failure and faults (TC_024, TC_041) ------------------------------------------------------------


def test_lock_failure_faults_the_connector_until_the_cable_is_removed() -> None:
    """TC_024: Faulted with ConnectorLockFailure and no StartTransaction; taking the cable away ends it."""
    cp = detachable()
    assert result(cp.call("RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})) == {"status": "Accepted"}
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    cp.controls.set_lock_failure(1, True)
    cp.controls.plug(cp.clock.now(), 1)
    sent = cp.take()
    assert actions(sent) == ["StatusNotification"]
    status = one(sent, "StatusNotification")
    assert (status["status"], status["errorCode"]) == ("Faulted", "ConnectorLockFailure")
    cp.advance(40)  # not even when ConnectionTimeOut would have expired
    assert "StartTransaction" not in actions(cp.take())
    cp.unplug(1)
    sent = cp.take()
    assert cp.statuses(sent) == [(1, "Available")]
    assert one(sent, "StatusNotification")["errorCode"] == "NoError"
    cp.close()


def test_a_faulted_station_starts_no_transaction(cp: CoreDriver) -> None:
    """TC_041: Faulted for connector 0 and every connector; plugging in and presenting a card does nothing,
    a remote start is Rejected."""
    cp.controls.set_fault(0, "OtherError", "test")
    assert sorted(cp.statuses(cp.take())) == [(0, "Faulted"), (1, "Faulted"), (2, "Faulted")]
    cp.controls.plug(cp.clock.now(), 1)
    cp.hardware.rfid.present(TAG, 1)
    cp.advance(60)
    assert [a for a in actions(cp.take()) if a not in ("Heartbeat", "MeterValues")] == []
    assert result(cp.call("RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})) == {"status": "Rejected"}
    cp.controls.set_fault(0, None, None)
    assert (1, "Preparing") in cp.statuses(cp.take())


def test_deauthorized_stop_keeps_the_cable_locked_until_its_owner_returns() -> None:
    # Errata v4.0 3.5: StartTransaction.conf refuses the idTag, StopTransactionOnInvalidId=true: the
    # transaction stops (DeAuthorized) but nobody but the owner may take the cable.
    cp = detachable()
    cp.respond("StartTransaction", lambda a, p: {"transactionId": 7, "idTagInfo": {"status": "Invalid"}})
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("OWNER", 1)
    stop = next(p for a, p in cp.take() if a == "StopTransaction")
    assert stop["reason"] == "DeAuthorized"
    assert cp.hardware.connector(1).locked
    cp.hardware.rfid.present("SOMEONE-ELSE", 1)
    assert actions(cp.take()) == []  # neither a start on the held cable nor a release
    assert cp.hardware.connector(1).locked
    cp.hardware.rfid.present("owner", 1)
    assert not cp.hardware.connector(1).locked
    assert "StartTransaction" not in actions(cp.take())  # presenting it released the cable, nothing more
    cp.hardware.connector(1).unplug(cp.clock.now())
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()
