"""TriggerMessage, driven through the core (OCPP 1.6 §5.17; errata 3.46, v4.0 3.35 / 3.40;
OCTT TC_054, TC_055).

Every requested message, with and without connectorId; Accepted / Rejected / NotImplemented; the triggered
message only after the response (the core queues it in `after_response`, which the link runs once the .conf
is on the wire).
"""

from __future__ import annotations

from typing import Any

import pytest

from ocpp_station.clock import iso_utc, parse_iso
from ocpp_station.protocol.rpc import Call, CallError, CallResult
from tests.support.core_driver import CoreDriver

SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Voltage"


@pytest.fixture
def cp_overrides() -> dict[str, str]:
    return {"MeterValuesSampledData": SAMPLED}


def trigger(cp: CoreDriver, requested: str, connector_id: int | None = None) -> tuple[str, list[tuple[str, Any]]]:
    """The .conf status and what the station sent after it; checks nothing goes out before the .conf."""
    payload: dict[str, Any] = {"requestedMessage": requested}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    answer = cp.station.handle_call(Call("trigger-1", "TriggerMessage", payload))
    assert isinstance(answer, CallResult), answer
    # The .conf is being sent now: nothing may go out before it (OCPP 1.6 §5.17).
    assert cp.station.next_call() is None
    cp.station.after_response()
    return str(answer.payload["status"]), cp.take()


@pytest.mark.parametrize(
    ("requested", "connector_id", "expected"),
    [
        ("Heartbeat", None, [("Heartbeat", {})]),
        ("Heartbeat", 99, [("Heartbeat", {})]),  # connectorId irrelevant: ignored, message still sent
        ("DiagnosticsStatusNotification", None, [("DiagnosticsStatusNotification", {"status": "Idle"})]),
        ("DiagnosticsStatusNotification", 1, [("DiagnosticsStatusNotification", {"status": "Idle"})]),
        ("FirmwareStatusNotification", None, [("FirmwareStatusNotification", {"status": "Idle"})]),
        ("FirmwareStatusNotification", 5, [("FirmwareStatusNotification", {"status": "Idle"})]),
    ],
)
def test_messages_without_a_connector(
    cp: CoreDriver, requested: str, connector_id: int | None, expected: list[tuple[str, Any]]
) -> None:
    status, sent = trigger(cp, requested, connector_id)
    assert status == "Accepted"
    assert sent == expected


def test_status_notification_for_one_connector(cp: CoreDriver) -> None:
    cp.hardware.connector(2).plug(cp.clock.now())
    cp.take()
    status, sent = trigger(cp, "StatusNotification", 2)
    assert status == "Accepted"
    assert [(a, p["connectorId"], p["status"], p["errorCode"]) for a, p in sent] == [
        ("StatusNotification", 2, "Preparing", "NoError")
    ]


def test_status_notification_for_the_station_itself(cp: CoreDriver) -> None:
    status, sent = trigger(cp, "StatusNotification", 0)
    assert status == "Accepted"
    assert [(p["connectorId"], p["status"]) for _, p in sent] == [(0, "Available")]


def test_status_notification_without_connector_reports_the_station_and_every_connector_in_order(
    cp: CoreDriver,
) -> None:
    # OCPP 1.6 §5.17: "the notification for the Charge Point itself and a notification for each of its connectors".
    cp.hardware.connector(1).set_fault("GroundFailure", None)
    cp.take()
    status, sent = trigger(cp, "StatusNotification")
    assert status == "Accepted"
    assert [(p["connectorId"], p["status"], p["errorCode"]) for _, p in sent] == [
        (0, "Available", "NoError"),
        (1, "Faulted", "GroundFailure"),
        (2, "Available", "NoError"),
    ]


def test_meter_values_for_one_connector_has_every_sampled_measurand_with_context_trigger(cp: CoreDriver) -> None:
    status, sent = trigger(cp, "MeterValues", 1)
    assert status == "Accepted"
    ((action, payload),) = sent
    assert action == "MeterValues" and payload["connectorId"] == 1 and "transactionId" not in payload
    values = payload["meterValue"][0]["sampledValue"]
    assert {v["measurand"] for v in values} == set(SAMPLED.split(","))  # errata v4.0 3.46
    assert {v["context"] for v in values} == {"Trigger"}
    # The most recent measurements: taken now.
    assert parse_iso(payload["meterValue"][0]["timestamp"]) == pytest.approx(cp.clock.now(), abs=1)


def test_meter_values_of_a_running_transaction_carry_its_transaction_id(cp: CoreDriver) -> None:
    cp.hardware.connector(2).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG", 2)
    cp.take()
    cp.advance(600)
    cp.take()
    _, sent = trigger(cp, "MeterValues", 2)
    ((_, payload),) = sent
    assert payload["transactionId"] == 1001
    energy = next(v for v in payload["meterValue"][0]["sampledValue"] if v["measurand"].startswith("Energy"))
    assert float(energy["value"]) > 0


def test_meter_values_without_connector_is_one_per_connector(cp: CoreDriver) -> None:
    status, sent = trigger(cp, "MeterValues")
    assert status == "Accepted"
    assert [(a, p["connectorId"]) for a, p in sent] == [("MeterValues", 1), ("MeterValues", 2)]


def test_meter_values_for_connector_zero_reads_the_main_meter(cp: CoreDriver) -> None:
    status, sent = trigger(cp, "MeterValues", 0)
    assert status == "Accepted"
    assert [(a, p["connectorId"]) for a, p in sent] == [("MeterValues", 0)]


def test_meter_values_falls_back_to_the_energy_register_when_nothing_configured_is_measured() -> None:
    cp = CoreDriver({"MeterValuesSampledData": "SoC"})  # no EV: no SoC
    cp.connect()
    cp.take()
    _, sent = trigger(cp, "MeterValues", 1)
    ((_, payload),) = sent
    assert [v["measurand"] for v in payload["meterValue"][0]["sampledValue"]] == ["Energy.Active.Import.Register"]
    cp.close()


@pytest.mark.parametrize("requested", ["MeterValues", "StatusNotification"])
@pytest.mark.parametrize("connector_id", [3, 99, -1])
def test_an_unknown_connector_is_rejected_and_nothing_is_sent(
    cp: CoreDriver, requested: str, connector_id: int
) -> None:
    # OCTT TC_055: connectorId = NumberOfConnectors + 1 → Rejected.
    status, sent = trigger(cp, requested, connector_id)
    assert status == "Rejected"
    assert sent == []


def test_boot_notification_is_rejected_once_accepted(cp: CoreDriver) -> None:
    status, sent = trigger(cp, "BootNotification")
    assert status == "Rejected"  # errata v4.0 3.35
    assert sent == []


def test_boot_notification_while_pending_is_sent_at_once_and_its_answer_is_handled() -> None:
    cp = CoreDriver()
    cp.respond(
        "BootNotification",
        lambda a, p: {"status": "Pending", "currentTime": iso_utc(cp.clock.now()), "interval": 300},
    )
    cp.connect()
    assert cp.actions() == ["BootNotification"]
    cp.take()
    cp.advance(10)
    assert cp.actions() == []  # the interval (300 s) is a minimum wait ...
    status, sent = trigger(cp, "BootNotification")  # ... unless triggered (OCPP 1.6 §4.2.1)
    assert status == "Accepted"
    assert sent[0][0] == "BootNotification"
    assert cp.station.registration == "Accepted"  # the triggered boot's Accepted conf was processed
    assert [(p["connectorId"], p["status"]) for a, p in sent if a == "StatusNotification"] == [
        (0, "Available"),
        (1, "Available"),
        (2, "Available"),
    ]
    cp.close()


def test_while_pending_triggered_messages_are_the_only_ones_sent() -> None:
    cp = CoreDriver()
    cp.respond(
        "BootNotification",
        lambda a, p: {"status": "Pending", "currentTime": iso_utc(cp.clock.now()), "interval": 300},
    )
    cp.connect()
    cp.take()
    cp.hardware.connector(1).plug(cp.clock.now())
    assert cp.actions() == []  # OCPP 1.6 §4.2.1: nothing unless triggered
    status, sent = trigger(cp, "StatusNotification", 1)
    assert status == "Accepted"
    assert [(a, p["connectorId"], p["status"]) for a, p in sent] == [("StatusNotification", 1, "Preparing")]
    status, sent = trigger(cp, "Heartbeat")
    assert (status, [a for a, _ in sent]) == ("Accepted", ["Heartbeat"])
    cp.close()


def test_triggered_heartbeat_sets_the_clock_like_a_scheduled_one(cp: CoreDriver) -> None:
    central_time = cp.clock.now() + 3600
    cp.respond("Heartbeat", lambda a, p: {"currentTime": iso_utc(central_time)})
    trigger(cp, "Heartbeat")
    assert cp.clock.now() == pytest.approx(central_time, abs=1)


def test_file_status_notifications_report_what_is_in_progress(cp: CoreDriver) -> None:
    cp.station.firmware_status = "Downloading"
    cp.station.diagnostics_status = "Uploading"
    assert trigger(cp, "FirmwareStatusNotification")[1] == [("FirmwareStatusNotification", {"status": "Downloading"})]
    assert trigger(cp, "DiagnosticsStatusNotification")[1] == [
        ("DiagnosticsStatusNotification", {"status": "Uploading"})
    ]


def test_file_status_notifications_are_not_implemented_without_firmware_management() -> None:
    cp = CoreDriver({"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    cp.connect()
    cp.take()
    for requested in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
        assert trigger(cp, requested) == ("NotImplemented", [])  # OCPP 1.6 §5.17
    assert trigger(cp, "Heartbeat")[0] == "Accepted"
    cp.close()


def test_a_station_without_the_profile_answers_not_supported() -> None:
    cp = CoreDriver({"SupportedFeatureProfiles": "Core"})
    cp.connect()
    cp.take()
    answer = cp.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert isinstance(answer, CallError) and answer.code == "NotSupported"
    assert cp.take() == []
    cp.close()


def test_unknown_requested_message_is_a_schema_error(cp: CoreDriver) -> None:
    # StartTransaction is deliberately not triggerable (OCPP 1.6 §5.17); the schema's enum refuses it.
    answer = cp.call("TriggerMessage", {"requestedMessage": "StartTransaction"})
    assert isinstance(answer, CallError) and answer.code == "PropertyConstraintViolation"
