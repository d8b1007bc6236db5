"""The memo of valid payloads (protocol/schemas.py) answers exactly as the validator does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ocpp_station.protocol import schemas


def test_a_remembered_valid_payload_does_not_make_a_look_alike_valid() -> None:
    valid = {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
    schemas.validate_response("StartTransaction", valid)
    schemas.validate_response("StartTransaction", dict(valid))  # from the memo
    # Equal and equally hashed in Python, different to the schema: true is not an integer.
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_response("StartTransaction", {"transactionId": True, "idTagInfo": {"status": "Accepted"}})
    # Remembered per schema: the same payload is no answer to another action.
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_response("Authorize", valid)


def test_an_invalid_payload_is_never_remembered() -> None:
    bad = {"idTagInfo": {"status": "Perhaps"}}
    for _ in range(2):
        with pytest.raises(schemas.SchemaViolation):
            schemas.validate_response("Authorize", bad)


def test_the_memo_stays_bounded() -> None:
    for n in range(schemas._VALID_MAX + 10):
        schemas.validate_response("Heartbeat", {"currentTime": f"2026-01-01T00:00:00.{n:06d}Z"})
    assert len(schemas._VALID) <= schemas._VALID_MAX


def test_a_decimal_is_told_from_an_int_and_a_non_json_value_still_gets_the_validator() -> None:
    payload = {"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1, "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": Decimal("16.1")}]}}}  # fmt: skip
    schemas.validate_request("SetChargingProfile", payload)
    payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = Decimal("16.15")
    with pytest.raises(schemas.SchemaViolation):  # multipleOf 0.1 (OCPP 1.6 §7.13)
        schemas.validate_request("SetChargingProfile", payload)
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_response("Heartbeat", {"currentTime": object()})


def test_a_large_payload_is_validated_but_not_remembered() -> None:
    entries = [{"idTag": f"TAG-{n}", "idTagInfo": {"status": "Accepted"}} for n in range(100)]
    update = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": entries}
    schemas._VALID.clear()
    schemas.validate_request("SendLocalList", update)
    assert not schemas._VALID  # a memo of megabyte frames would hold gigabytes
    schemas.validate_request("SendLocalList", {"listVersion": 1, "updateType": "Full"})
    assert len(schemas._VALID) == 1
