"""Security events (whitepaper §8) and the SecurityEventNotification.req payload (§5.15)."""

from __future__ import annotations

import re

import pytest

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.schemas import SchemaViolation, validate_request
from ocpp_station.security.events import (
    MAX_TECH_INFO,
    STATION_EVENTS,
    SecurityEvent,
    clip_tech_info,
    security_event_notification,
)

SPEC = "/work/shared/spec/ocpp-1.6-security-whitepaper-edition-3.md"

# The §8 table, transcribed: name → CRITICAL.
TABLE_8 = {
    "FirmwareUpdated": True,
    "FailedToAuthenticationAtCentralSystem": False,
    "CentralSystemFailedToAuthentication": False,
    "SettingSystemTime": True,
    "StartupOfTheDevice": True,
    "ResetOrReboot": True,
    "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False,
    "MemoryExhaustion": True,
    "InvalidMessages": False,
    "AttemptedReplayAttacks": False,
    "TamperDetectionActivated": True,
    "InvalidFirmwareSignature": False,
    "InvalidFirmwareSigningCertificate": False,
    "InvalidCentralSystemCertificate": False,
    "InvalidChargePointCertificate": False,
    "InvalidTLSVersion": False,
    "InvalidTLSCipherSuite": False,
}


def test_names_and_criticality_are_the_tables() -> None:
    assert {event.value: event.critical for event in SecurityEvent} == TABLE_8


def test_names_match_the_whitepaper_text_when_it_is_at_hand() -> None:
    try:
        with open(SPEC, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        pytest.skip("whitepaper not available")
    section = text[text.index("# 8. Security Events") : text.index("# 9. Changelog")]
    rows = re.findall(r"<tr><td>(\w+)</td><td>[^<]*</td><td>(Yes|No)</td></tr>", section)
    assert {name: flag == "Yes" for name, flag in rows} == TABLE_8


def test_station_events_leave_out_only_what_it_cannot_detect() -> None:
    assert SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE in STATION_EVENTS
    assert SecurityEvent.INVALID_FIRMWARE_SIGNATURE in STATION_EVENTS
    assert SecurityEvent.TAMPER_DETECTION_ACTIVATED not in STATION_EVENTS
    assert len(STATION_EVENTS) == 14


@pytest.mark.parametrize("event", list(SecurityEvent))
def test_payload_is_schema_valid_for_every_event(event: SecurityEvent) -> None:
    payload = security_event_notification(event, 1_767_225_600.25, "detail")
    validate_request("SecurityEventNotification", payload)
    assert payload == {"type": event.value, "timestamp": "2026-01-01T00:00:00.250Z", "techInfo": "detail"}
    assert parse_iso(payload["timestamp"]) == 1_767_225_600.25


def test_tech_info_is_clipped_to_one_line_of_255() -> None:
    payload = security_event_notification(SecurityEvent.INVALID_MESSAGES, 0.0, "x" * 300 + "\nsecond line")
    validate_request("SecurityEventNotification", payload)
    assert len(payload["techInfo"]) == MAX_TECH_INFO
    assert payload["techInfo"].endswith("…")
    assert "\n" not in clip_tech_info("a\nb\tc")


def test_tech_info_is_left_out_when_empty() -> None:
    assert "techInfo" not in security_event_notification(SecurityEvent.STARTUP_OF_THE_DEVICE, 0.0, " \n ")
    assert "techInfo" not in security_event_notification(SecurityEvent.STARTUP_OF_THE_DEVICE, 0.0)


def test_the_schema_would_catch_an_unclipped_tech_info() -> None:
    # The check above means something: the official schema does refuse 256 characters.
    with pytest.raises(SchemaViolation):
        payload = {"type": "X", "timestamp": "2026-01-01T00:00:00Z", "techInfo": "x" * 256}
        validate_request("SecurityEventNotification", payload)
