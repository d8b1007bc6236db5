"""The compiled fast path (protocol/schemas.py) never accepts what jsonschema refuses: the verdict is the same."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import ErrorCode

RESERVE_NOW = {"connectorId": 1, "expiryDate": "2026-12-06T10:00:00Z", "idTag": "TAG", "reservationId": 7}
START_RESPONSE = {"transactionId": 1, "idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-06T10:00:00Z"}}
SET_PROFILE: dict[str, Any] = {"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1, "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
        {"startPeriod": 0, "limit": Decimal("16.1")}]}}}  # fmt: skip


def test_true_is_not_an_integer_on_either_path() -> None:
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate_response("StartTransaction", {"transactionId": True, "idTagInfo": {"status": "Accepted"}})
    assert caught.value.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION


def test_a_refusal_still_names_the_telling_error() -> None:
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate_response("Authorize", {"idTagInfo": {"status": "Perhaps"}})
    assert caught.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate_request("ReserveNow", {k: v for k, v in RESERVE_NOW.items() if k != "idTag"})
    assert caught.value.code == ErrorCode.PROTOCOL_ERROR


def test_a_request_date_is_checked_and_a_response_date_is_not() -> None:
    schemas.validate_request("ReserveNow", RESERVE_NOW)
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate_request("ReserveNow", {**RESERVE_NOW, "expiryDate": "2026-13-45T99:00:00Z"})
    assert caught.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    schemas.validate_response("Heartbeat", {"currentTime": "not a date"})  # see schemas._validator


def test_multiple_of_is_exact_for_decimals() -> None:
    schemas.validate_request("SetChargingProfile", SET_PROFILE)
    bad = copy.deepcopy(SET_PROFILE)
    bad["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = Decimal("16.15")
    with pytest.raises(schemas.SchemaViolation):  # multipleOf 0.1 (OCPP 1.6 §7.13)
        schemas.validate_request("SetChargingProfile", bad)


def test_a_non_json_value_gets_the_validators_answer() -> None:
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_response("Heartbeat", {"currentTime": object()})


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.text(max_size=30),
    st.sampled_from(["Accepted", "Blocked", "2026-12-06T10:00:00Z", "2026-12-06", "", "x" * 21]),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _mutations(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid payload with one property replaced by any JSON value, removed, or an extra one added."""

    def mutate(data: tuple[str, Any, str]) -> dict[str, Any]:
        key, value, how = data
        out = copy.deepcopy(valid)
        target = out["idTagInfo"] if key.startswith("idTagInfo.") and isinstance(out.get("idTagInfo"), dict) else out
        name = key.removeprefix("idTagInfo.")
        if how == "drop":
            target.pop(name, None)
        else:
            target[name] = value
        return out

    keys = [*valid, *(f"idTagInfo.{k}" for k in ("status", "expiryDate", "parentIdTag")), "extra"]
    return st.tuples(st.sampled_from(keys), _json, st.sampled_from(["set", "drop"])).map(mutate)


@settings(max_examples=300, deadline=None)
@given(payload=_mutations(START_RESPONSE))
def test_fast_and_full_validators_agree_on_start_transaction_responses(payload: dict[str, Any]) -> None:
    _assert_agree("StartTransactionResponse", payload)


@settings(max_examples=300, deadline=None)
@given(payload=_mutations(RESERVE_NOW))
def test_fast_and_full_validators_agree_on_reserve_now_requests(payload: dict[str, Any]) -> None:
    _assert_agree("ReserveNow", payload)


def _assert_agree(name: str, payload: dict[str, Any]) -> None:
    fast = schemas._fast_validator(name)
    assert fast is not None
    try:
        fast(payload)
    except Exception:
        return
    assert schemas._validator(name).is_valid(payload), payload
