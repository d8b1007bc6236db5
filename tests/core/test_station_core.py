"""The station core, driven without sockets: registration, status, transactions, the durable queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ocpp_station.clock import ManualClock
from ocpp_station.hardware.simulated import SimulatedStation
from ocpp_station.protocol.rpc import CallError
from tests.support.core_driver import CoreDriver, result


@pytest.fixture
def cp() -> Iterator[CoreDriver]:
    driver = CoreDriver()
    driver.connect()
    yield driver
    driver.close()


def test_boot_accepted_reports_every_connector_then_heartbeats(cp: CoreDriver) -> None:
    assert cp.actions()[0] == "BootNotification"
    assert cp.statuses() == [(0, "Available"), (1, "Available"), (2, "Available")]
    assert cp.config.get("HeartbeatInterval") == "60"
    cp.take()
    cp.advance(59.9)
    assert cp.actions() == []
    cp.advance(0.2)
    assert cp.actions() == ["Heartbeat"]
    cp.advance(60)
    assert cp.actions() == ["Heartbeat", "Heartbeat"]


def test_rejected_boot_waits_for_the_interval_and_answers_nothing() -> None:
    cp = CoreDriver()
    cp.respond(
        "BootNotification", lambda a, p: {"status": "Rejected", "currentTime": "2026-01-01T00:00:00Z", "interval": 30}
    )
    cp.connect()
    assert cp.actions() == ["BootNotification"]
    cp.take()
    assert cp.call("GetConfiguration", {}) is None  # OCPP 1.6 §4.2.1: no answers while Rejected
    cp.advance(29)
    assert cp.actions() == []
    cp.advance(1.5)
    assert cp.actions()[0] == "BootNotification"
    assert cp.station.registration == "Accepted"
    cp.close()


def test_pending_answers_configuration_calls_and_sends_nothing_else() -> None:
    cp = CoreDriver()
    cp.respond(
        "BootNotification", lambda a, p: {"status": "Pending", "currentTime": "2026-01-01T00:00:00Z", "interval": 10}
    )
    cp.connect()
    cp.take()
    answer = result(cp.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "7"}))
    assert answer == {"status": "Accepted"}
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.pump()
    assert cp.actions() == []  # no StatusNotification before Accepted
    cp.advance(10.5)
    assert cp.actions()[0] == "BootNotification"
    assert (1, "Preparing") in cp.statuses()
    cp.close()


def test_plug_in_first_charging_session(cp: CoreDriver) -> None:
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1")
    sent = cp.take()
    # In causal order: the StartTransaction before the Charging it causes.
    assert [a for a, _ in sent] == ["StatusNotification", "Authorize", "StartTransaction", "StatusNotification"]
    assert cp.statuses(sent) == [(1, "Preparing"), (1, "Charging")]
    cp.advance(3600)
    cp.take()
    cp.hardware.rfid.present("tag-1")  # idTags compare case-insensitively (OCPP 1.6 §3.9)
    sent = cp.take()
    stop = next(p for a, p in sent if a == "StopTransaction")
    assert stop["reason"] == "Local" and stop["transactionId"] == 1001
    assert stop["meterStop"] == 22080  # 32 A x 3 phases x 230 V for one hour
    assert "Authorize" not in [a for a, _ in sent]  # same idTag: no Authorize (OCPP 1.6 §3.5)
    assert cp.statuses(sent) == [(1, "Finishing")]
    cp.hardware.connector(1).unplug(cp.clock.now())
    assert cp.statuses(cp.take()) == [(1, "Available")]


def test_sampled_meter_values_follow_the_interval() -> None:
    cp = CoreDriver({"MeterValueSampleInterval": "10", "MeterValuesSampledData": "Energy.Active.Import.Register"})
    cp.connect()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1")
    cp.take()
    cp.advance(30.5)
    values = [p for a, p in cp.take() if a == "MeterValues"]
    assert len(values) == 3
    registers = [int(p["meterValue"][0]["sampledValue"][0]["value"]) for p in values]
    assert registers == sorted(registers) and registers[0] > 0
    assert all(p["transactionId"] == 1001 for p in values)
    assert all(p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic" for p in values)
    cp.close()


def test_identification_first_times_out_to_available() -> None:
    cp = CoreDriver({"ConnectionTimeOut": "30"})
    cp.connect()
    cp.take()
    cp.hardware.rfid.present("TAG-1")
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    cp.advance(29)
    assert cp.statuses(cp.take()) == []
    cp.advance(2)
    assert cp.statuses(cp.take()) == [(1, "Available")]
    cp.close()


def test_offline_transaction_is_queued_durably_and_gets_its_transaction_id() -> None:
    cp = CoreDriver({"LocalAuthorizeOffline": "true", "MeterValueSampleInterval": "60"})
    cp.connect()
    cp.hardware.rfid.present("TAG-1")  # caches TAG-1 as Accepted
    cp.pump()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.pump()
    cp.hardware.rfid.present("TAG-1")  # stop: the tag is now cached
    cp.hardware.connector(1).unplug(cp.clock.now())
    assert "StopTransaction" in cp.actions()
    cp.take()
    cp.disconnect()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1")
    cp.advance(125)
    cp.hardware.rfid.present("TAG-1")
    assert cp.sent == []
    assert [m.action for m in cp.store.queue_messages()] == [
        "StartTransaction",
        "MeterValues",
        "MeterValues",
        "StopTransaction",
    ]
    cp.connect()
    sent = [(a, p) for a, p in cp.take() if a != "StatusNotification"]
    assert [a for a, _ in sent] == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
    assert {p["transactionId"] for a, p in sent[1:]} == {1002}
    assert cp.store.queue_length() == 0
    cp.close()


def test_failed_start_transaction_leads_to_transaction_id_minus_one() -> None:
    cp = CoreDriver({"TransactionMessageAttempts": "2", "TransactionMessageRetryInterval": "10"})
    cp.connect()
    cp.take()
    cp.respond("StartTransaction", lambda a, p: "error")
    cp.respond("StartTransaction", lambda a, p: "error")
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1")
    assert cp.actions().count("StartTransaction") == 1
    cp.advance(9)
    assert cp.actions().count("StartTransaction") == 1
    cp.advance(2)  # retry after interval x 1 (OCPP 1.6 §9.1.32)
    assert cp.actions().count("StartTransaction") == 2
    cp.hardware.rfid.present("TAG-1")
    stop = next(p for a, p in cp.take() if a == "StopTransaction")
    assert stop["transactionId"] == -1  # errata v4.0 3.18
    cp.close()


def test_power_loss_ends_the_open_transaction_on_restart() -> None:
    clock = ManualClock()
    hardware = SimulatedStation(2)
    cp = CoreDriver(clock=clock, hardware=hardware)
    cp.connect()
    hardware.connector(1).plug(clock.now())
    hardware.rfid.present("TAG-1")
    assert "StartTransaction" in cp.actions()
    clock.advance(600)
    cp.close()  # power cut: nothing more is written
    again = CoreDriver(clock=clock, hardware=hardware, store=cp.store)
    again.connect()
    stop = next(p for a, p in again.take() if a == "StopTransaction")
    assert stop["reason"] == "PowerLoss" and stop["transactionId"] == 1001
    assert stop["meterStop"] >= 3680  # ten minutes at 22 kW
    again.close()


def test_change_availability_persists_across_restart() -> None:
    cp = CoreDriver()
    cp.connect()
    assert result(cp.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})) == {"status": "Accepted"}
    assert (2, "Unavailable") in cp.statuses()
    cp.close()
    again = CoreDriver(store=cp.store)
    again.connect()
    assert (2, "Unavailable") in again.statuses()
    again.close()


def test_change_availability_is_scheduled_during_a_transaction(cp: CoreDriver) -> None:
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1")
    cp.take()
    assert result(cp.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})) == {"status": "Scheduled"}
    assert cp.statuses(cp.take()) == []
    cp.hardware.rfid.present("TAG-1")
    assert cp.statuses(cp.take()) == [(1, "Unavailable")]


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("NoSuchAction", {}, "NotImplemented"),
        ("SecurityEventNotification", {}, "NotSupported"),  # sent by a charge point, not to one
        ("GetLog", {}, "ProtocolError"),
        ("ChangeAvailability", {"connectorId": 1}, "ProtocolError"),
        ("ChangeAvailability", {"connectorId": "1", "type": "Inoperative"}, "TypeConstraintViolation"),
        ("ChangeAvailability", {"connectorId": 1, "type": "Sideways"}, "PropertyConstraintViolation"),
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative", "x": 1}, "FormationViolation"),
        ("GetConfiguration", {"key": [f"K{i}" for i in range(11)]}, "OccurenceConstraintViolation"),
    ],
)
def test_bad_calls_get_the_1_6_call_error(cp: CoreDriver, action: str, payload: dict[str, Any], code: str) -> None:
    answer = cp.call(action, payload)
    assert isinstance(answer, CallError) and answer.code == code


def test_remote_start_rejects_connector_zero_and_busy_connectors(cp: CoreDriver) -> None:
    assert result(cp.call("RemoteStartTransaction", {"idTag": "T", "connectorId": 0})) == {"status": "Rejected"}
    assert result(cp.call("RemoteStartTransaction", {"idTag": "T", "connectorId": 1})) == {"status": "Accepted"}
    assert result(cp.call("RemoteStartTransaction", {"idTag": "U", "connectorId": 1})) == {"status": "Rejected"}


def test_remote_start_then_remote_stop(cp: CoreDriver) -> None:
    cp.take()
    assert result(cp.call("RemoteStartTransaction", {"idTag": "T", "connectorId": 1})) == {"status": "Accepted"}
    # AuthorizeRemoteTxRequests=true; OCTT TC_011_1 orders Authorize.req before StatusNotification(Preparing).
    assert cp.actions() == ["Authorize", "StatusNotification"]
    cp.hardware.connector(1).plug(cp.clock.now())
    started = next(p for a, p in cp.take() if a == "StartTransaction")
    assert started["idTag"] == "T"
    assert result(cp.call("RemoteStopTransaction", {"transactionId": 1001})) == {"status": "Accepted"}
    stop = next(p for a, p in cp.take() if a == "StopTransaction")
    assert stop["reason"] == "Remote"
    assert result(cp.call("RemoteStopTransaction", {"transactionId": 1001})) == {"status": "Rejected"}


def test_boot_sets_the_clock_and_timestamps_are_utc_milliseconds() -> None:
    cp = CoreDriver()
    cp.respond(
        "BootNotification",
        lambda a, p: {"status": "Accepted", "currentTime": "2027-03-04T05:06:07.890+01:00", "interval": 60},
    )
    cp.connect()
    status = next(p for a, p in cp.take() if a == "StatusNotification")
    assert status["timestamp"] == "2027-03-04T04:06:07.890Z"
    cp.close()


def test_minimum_status_duration_suppresses_short_lived_statuses() -> None:
    cp = CoreDriver({"MinimumStatusDuration": "10"})
    cp.connect()
    cp.advance(10)
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.advance(3)
    cp.hardware.connector(1).unplug(cp.clock.now())  # Preparing lasted 3 s < 10 s
    cp.advance(20)
    assert cp.statuses(cp.take()) == []
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.advance(9)
    assert cp.statuses(cp.take()) == []
    cp.advance(1.5)
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    cp.close()


def test_a_remote_start_reports_its_start_transaction_before_charging(cp: CoreDriver) -> None:
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    assert cp.statuses(cp.take()) == [(1, "Preparing")]
    assert result(cp.call("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1})) == {"status": "Accepted"}
    sent = cp.take()
    assert [a for a, _ in sent] == ["Authorize", "StartTransaction", "StatusNotification"]
    assert cp.statuses(sent) == [(1, "Charging")]


def test_a_triggered_boot_notification_is_accepted_after_a_reconnect(cp: CoreDriver) -> None:
    """Errata v4.0 3.35: rejected while Accepted, until the next reset, reboot or reconnect."""
    cp.take()
    trigger = {"requestedMessage": "BootNotification"}
    assert result(cp.call("TriggerMessage", trigger)) == {"status": "Rejected"}
    assert cp.take() == []
    cp.disconnect()
    cp.connect()
    cp.take()
    assert result(cp.call("TriggerMessage", trigger)) == {"status": "Accepted"}
    sent = cp.take()
    assert sent[0][0] == "BootNotification" and sent[0][1]["chargePointVendor"]
    # Answered Accepted: rejected again until the next reconnect.
    assert result(cp.call("TriggerMessage", trigger)) == {"status": "Rejected"}


def test_a_new_error_code_inside_faulted_is_reported(cp: CoreDriver) -> None:
    """OCPP 1.6 §4.9: a StatusNotification informs of a status change or of an error: Faulted/OtherError becoming
    Faulted/PowerMeterFailure is news for the central system, the same fault again is not."""
    cp.take()
    connector = cp.hardware.connector(1)
    connector.set_fault("OtherError", "broker unreachable")
    connector.set_fault("PowerMeterFailure", "meter not answering")
    connector.set_fault("PowerMeterFailure", "meter not answering")
    sent = [p for a, p in cp.take() if a == "StatusNotification"]
    assert [(p["status"], p["errorCode"]) for p in sent] == [
        ("Faulted", "OtherError"),
        ("Faulted", "PowerMeterFailure"),
    ]
    connector.set_fault(None)
    assert [(p["status"], p["errorCode"]) for a, p in cp.take() if a == "StatusNotification"] == [
        ("Available", "NoError")
    ]
