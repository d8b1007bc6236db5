"""The Smart Charging profile through the station core (CoreDriver): acceptance, clearing, composite schedules,
persistence, TxProfiles and their transactions, and the limit the simulated EV actually gets."""

from __future__ import annotations

import random
import tempfile
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_station.clock import iso_utc, parse_iso
from ocpp_station.protocol.rpc import CallError, dumps
from tests.support.core_driver import CoreDriver, result

CPMAX, TXD, TX = "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"
W_PER_A = 3 * 230  # three phases at 230 V


def cs_profile(
    pid: int,
    purpose: str,
    level: int,
    periods: list[tuple[int, Any]],
    *,
    start: float | None = None,
    duration: int | None = None,
    kind: str = "Absolute",
    unit: str = "A",
    transaction_id: int | None = None,
    recurrency: str | None = None,
    valid_from: float | None = None,
    valid_to: float | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": Decimal(str(v))} for s, v in periods],
    }
    if start is not None:
        schedule["startSchedule"] = iso_utc(start)
    if duration is not None:
        schedule["duration"] = duration
    body: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    for key, value in (
        ("transactionId", transaction_id),
        ("recurrencyKind", recurrency),
        ("validFrom", None if valid_from is None else iso_utc(valid_from)),
        ("validTo", None if valid_to is None else iso_utc(valid_to)),
    ):
        if value is not None:
            body[key] = value
    return body


def set_profile(cp: CoreDriver, connector_id: int, body: dict[str, Any]) -> str:
    answer = result(cp.call("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": body}))
    return str(answer["status"])


def composite(cp: CoreDriver, connector_id: int, duration: int, unit: str | None = "A") -> dict[str, Any]:
    req: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
    if unit is not None:
        req["chargingRateUnit"] = unit
    return result(cp.call("GetCompositeSchedule", req))


def periods(answer: dict[str, Any]) -> list[tuple[int, Decimal]]:
    return [(p["startPeriod"], Decimal(p["limit"])) for p in answer["chargingSchedule"]["chargingSchedulePeriod"]]


def d(*pairs: tuple[int, float | int]) -> list[tuple[int, Decimal]]:
    return [(s, Decimal(str(v))) for s, v in pairs]


def charge(cp: CoreDriver, connector_id: int = 1, tag: str = "TAG-1") -> int:
    """Plug in and start; returns the central system's transactionId."""
    cp.hardware.connector(connector_id).plug(cp.clock.now())
    cp.hardware.rfid.present(tag, connector_id)
    start = next(p for a, p in cp.take() if a == "StartTransaction")
    assert start["connectorId"] == connector_id
    tx = cp.station.connectors[connector_id - 1].transaction
    assert tx is not None and tx.transaction_id is not None
    return tx.transaction_id


def power(cp: CoreDriver, connector_id: int) -> float:
    return cp.hardware.connector(connector_id).read(cp.clock.now()).power_import_w


# -- OCTT smart charging cases ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("unit", "limit"), [("A", 6), ("W", 6000)])
def test_tc_056_tx_default_profile_and_its_composite(cp: CoreDriver, unit: str, limit: int) -> None:
    now = cp.clock.now()
    body = cs_profile(1, TXD, 0, [(0, limit)], start=now - 2, duration=300, unit=unit)
    assert set_profile(cp, 1, body) == "Accepted"
    cp.advance(1.5)
    answer = composite(cp, 1, 300, unit)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    schedule = answer["chargingSchedule"]
    assert schedule["duration"] == 300 and schedule["chargingRateUnit"] == unit
    assert 0 <= cp.clock.now() - parse_iso(answer["scheduleStart"]) < 1
    assert schedule["startSchedule"] == answer["scheduleStart"]
    assert periods(answer)[0] == (0, Decimal(limit))
    assert periods(answer)[-1][1] == Decimal(32 if unit == "A" else 22080)  # after the 300 s, the hardware


def test_tc_057_tx_profile_for_the_running_transaction(cp: CoreDriver) -> None:
    tid = charge(cp)
    body = cs_profile(1, TX, 0, [(0, 6)], start=cp.clock.now(), duration=300, transaction_id=tid)
    assert set_profile(cp, 1, body) == "Accepted"
    assert periods(composite(cp, 1, 300)) == d((0, 6))
    assert power(cp, 1) == 6 * W_PER_A


def test_tc_058_tx_profile_without_transaction_or_with_another_transaction_id_is_rejected(cp: CoreDriver) -> None:
    body = cs_profile(1, TX, 0, [(0, 6)], start=cp.clock.now(), transaction_id=5)
    assert set_profile(cp, 1, body) == "Rejected"
    tid = charge(cp)
    assert (
        set_profile(cp, 1, cs_profile(1, TX, 0, [(0, 6)], start=cp.clock.now(), transaction_id=tid + 1)) == "Rejected"
    )
    assert set_profile(cp, 2, cs_profile(1, TX, 0, [(0, 6)], start=cp.clock.now(), transaction_id=tid)) == "Rejected"
    assert cp.station.smart_charging.profiles() == []


def test_tc_066_three_purposes_combined(cp: CoreDriver) -> None:
    tid = charge(cp)
    t = cp.clock.now() - 1  # startSchedule: now - max time deviation
    assert set_profile(cp, 0, cs_profile(1, CPMAX, 0, [(0, 10)], start=t, duration=86_400)) == "Accepted"
    txd = cs_profile(
        2, TXD, 0, list(zip([0, 60, 120, 180, 260], [6, 10, 8, 15, 8], strict=True)), start=t, duration=300,
        valid_from=t, valid_to=t + 401,
    )  # fmt: skip
    txp = cs_profile(
        3, TX, 0, list(zip([0, 50, 140, 200, 240], [8, 11, 16, 6, 12], strict=True)), start=t, duration=260,
        valid_from=t, valid_to=t + 401, transaction_id=tid,
    )  # fmt: skip
    assert set_profile(cp, 1, txd) == "Accepted"
    assert set_profile(cp, 1, txp) == "Accepted"
    cp.advance(2)
    x = 3
    answer = composite(cp, 1, 400)
    assert answer["chargingSchedule"]["duration"] == 400
    assert periods(answer) == d((0, 8), (50 - x, 10), (200 - x, 6), (240 - x, 10))
    answer_w = composite(cp, 1, 400, "W")
    assert periods(answer_w) == d((0, 5520), (50 - x, 6900), (200 - x, 4140), (240 - x, 6900))


def test_tc_067_clear_by_id_then_purpose_and_stack_level_then_all(cp: CoreDriver) -> None:
    t = cp.clock.now() - 1
    assert set_profile(cp, 1, cs_profile(1, TXD, 1, [(0, 6), (60, 8), (200, 10)], start=t, duration=400)) == "Accepted"
    second = cs_profile(2, TXD, 0, [(0, 7), (100, 9)], start=t, duration=400, valid_from=t, valid_to=t + 401)
    assert set_profile(cp, 1, second) == "Accepted"
    cpmax = cs_profile(3, CPMAX, 0, [(0, 11), (200, 12)], start=t, duration=86_400, valid_from=t, valid_to=t + 401)
    assert set_profile(cp, 0, cpmax) == "Accepted"
    x = 1
    assert result(cp.call("ClearChargingProfile", {"id": 1})) == {"status": "Accepted"}
    assert periods(composite(cp, 1, 350)) == d((0, 7), (100 - x, 9))
    cleared = cp.call("ClearChargingProfile", {"chargingProfilePurpose": TXD, "stackLevel": 0})
    assert result(cleared) == {"status": "Accepted"}
    assert periods(composite(cp, 1, 350)) == d((0, 11), (200 - x, 12))
    assert result(cp.call("ClearChargingProfile", {})) == {"status": "Accepted"}
    assert periods(composite(cp, 1, 350)) == d((0, 32))  # the local limit
    assert result(cp.call("ClearChargingProfile", {})) == {"status": "Unknown"}
    assert result(cp.call("ClearChargingProfile", {"id": 1})) == {"status": "Unknown"}


def test_tc_072_stacking(cp: CoreDriver) -> None:
    t = cp.clock.now() - 1
    low = cs_profile(1, TXD, 0, [(0, 6), (100, 8), (200, 10)], start=t, duration=400, valid_from=t, valid_to=t + 401)
    high = cs_profile(2, TXD, 1, [(0, 7), (100, 9)], start=t, duration=150, valid_from=t, valid_to=t + 401)
    assert set_profile(cp, 1, low) == "Accepted"
    assert set_profile(cp, 1, high) == "Accepted"
    cp.advance(1)
    x = 2
    assert periods(composite(cp, 1, 350)) == d((0, 7), (100 - x, 9), (150 - x, 8), (200 - x, 10))


def test_tc_082_tx_default_set_during_a_transaction_applies_at_once(cp: CoreDriver) -> None:
    charge(cp)
    assert power(cp, 1) == 32 * W_PER_A
    assert set_profile(cp, 0, cs_profile(1, TXD, 0, [(0, 6)], start=cp.clock.now() - 1, duration=300)) == "Accepted"
    assert power(cp, 1) == 6 * W_PER_A
    cp.advance(300)
    assert power(cp, 1) == 32 * W_PER_A  # the schedule is over


def test_tc_059_remote_start_with_a_tx_profile(cp: CoreDriver) -> None:
    profile = cs_profile(7, TX, 0, [(0, 10), (120, 16)], kind="Relative")
    req = {"idTag": "TAG-1", "connectorId": 1, "chargingProfile": profile}
    assert result(cp.call("RemoteStartTransaction", req)) == {"status": "Accepted"}
    cp.hardware.connector(1).plug(cp.clock.now())
    sent = cp.take()
    assert "StartTransaction" in [a for a, _ in sent]
    tx = cp.station.connectors[0].transaction
    assert tx is not None and tx.transaction_id is not None
    assert power(cp, 1) == 10 * W_PER_A
    assert periods(composite(cp, 1, 300)) == d((0, 10), (120, 16))
    # the profile now carries the transactionId from StartTransaction.conf
    stored = {body["chargingProfileId"]: body for _, body in cp.store.profiles()}
    assert stored[7]["transactionId"] == tx.transaction_id
    # a SetChargingProfile for this transaction with the same stackLevel replaces it (OCPP 1.6 §5.16.2)
    replacement = cs_profile(8, TX, 0, [(0, 12)], kind="Relative", transaction_id=tx.transaction_id)
    assert set_profile(cp, 1, replacement) == "Accepted"
    assert [p.profile_id for p in cp.station.smart_charging.profiles()] == [8]
    assert power(cp, 1) == 12 * W_PER_A


def test_tc_060_remote_start_with_another_purpose_is_rejected(cp: CoreDriver) -> None:
    profile = cs_profile(7, TXD, 0, [(0, 10)], kind="Relative")
    req = {"idTag": "TAG-1", "connectorId": 1, "chargingProfile": profile}
    assert result(cp.call("RemoteStartTransaction", req)) == {"status": "Rejected"}


def test_remote_start_profile_that_cannot_be_executed_is_rejected(cp: CoreDriver) -> None:
    too_many = cs_profile(7, TX, 0, [(i, 10) for i in range(49)], kind="Relative")
    req = {"idTag": "TAG-1", "connectorId": 1, "chargingProfile": too_many}
    assert result(cp.call("RemoteStartTransaction", req)) == {"status": "Rejected"}


def test_remote_start_profile_is_not_given_to_another_idtag(cp: CoreDriver) -> None:
    profile = cs_profile(7, TX, 0, [(0, 10)], kind="Relative")
    req = {"idTag": "TAG-1", "connectorId": 1, "chargingProfile": profile}
    assert result(cp.call("RemoteStartTransaction", req)) == {"status": "Accepted"}
    cp.advance(31)  # ConnectionTimeOut: the remote start lapses
    charge(cp, 1, "TAG-2")
    assert cp.station.smart_charging.profiles() == []
    assert power(cp, 1) == 32 * W_PER_A


# -- acceptance rules ------------------------------------------------------------------------------------------------
def test_replacement_by_id_and_by_purpose_stack_level_and_connector(cp: CoreDriver) -> None:
    now = cp.clock.now()
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, 6)], start=now)) == "Accepted"
    assert set_profile(cp, 2, cs_profile(1, TXD, 1, [(0, 7)], start=now)) == "Accepted"  # same id: replaced
    installed = cp.station.smart_charging.profiles()
    assert [(p.profile_id, p.connector_id, p.stack_level) for p in installed] == [(1, 2, 1)]
    assert set_profile(cp, 2, cs_profile(2, TXD, 1, [(0, 8)], start=now)) == "Accepted"  # same slot: replaced
    assert set_profile(cp, 1, cs_profile(3, TXD, 1, [(0, 9)], start=now)) == "Accepted"  # other connector: added
    assert set_profile(cp, 1, cs_profile(4, TXD, 2, [(0, 5)], start=now)) == "Accepted"  # other level: added
    assert sorted(p.profile_id for p in cp.station.smart_charging.profiles()) == [2, 3, 4]
    assert sorted(i for i, _ in [(b["chargingProfileId"], c) for c, b in cp.store.profiles()]) == [2, 3, 4]


def test_max_charging_profiles_installed() -> None:
    cp = CoreDriver({"MaxChargingProfilesInstalled": "3"})
    cp.connect()
    now = cp.clock.now()
    for pid, connector_id in ((1, 0), (2, 1), (3, 2)):
        assert set_profile(cp, connector_id, cs_profile(pid, TXD, 0, [(0, 6)], start=now)) == "Accepted"
    assert set_profile(cp, 0, cs_profile(4, TXD, 1, [(0, 6)], start=now)) == "Rejected"
    assert set_profile(cp, 0, cs_profile(5, TXD, 0, [(0, 7)], start=now)) == "Accepted"  # a replacement fits
    cp.close()


def test_the_default_capacity_is_fourteen_profiles(cp: CoreDriver) -> None:
    tids = {1: charge(cp, 1, "TAG-1"), 2: charge(cp, 2, "TAG-2")}
    now = cp.clock.now()
    slots = [(0, CPMAX, level) for level in range(3)]
    slots += [(c, TXD, level) for c in (0, 1, 2) for level in range(3)]
    slots += [(c, TX, level) for c in (1, 2) for level in range(3)]
    statuses = []
    for pid, (connector_id, purpose, level) in enumerate(slots, start=1):
        tid = tids.get(connector_id) if purpose == TX else None
        body = cs_profile(pid, purpose, level, [(i * 60, 6 + i % 20) for i in range(48)], start=now, transaction_id=tid)
        statuses.append(set_profile(cp, connector_id, body))
    assert statuses == ["Accepted"] * 14 + ["Rejected"] * 4
    answer = composite(cp, 0, 7 * 86_400)
    assert answer["status"] == "Accepted"


@pytest.mark.parametrize(
    ("connector_id", "body", "why"),
    [
        (1, cs_profile(1, CPMAX, 0, [(0, 6)], start=0), "ChargePointMaxProfile only on connector 0"),
        (0, cs_profile(1, TX, 0, [(0, 6)], start=0), "TxProfile never on connector 0"),
        (1, cs_profile(1, TXD, 3, [(0, 6)], start=0), "stackLevel above ChargeProfileMaxStackLevel"),
        (1, cs_profile(1, TXD, -1, [(0, 6)], start=0), "negative stackLevel"),
        (1, cs_profile(1, TXD, 0, [(i, 6) for i in range(49)], start=0), "more than ChargingScheduleMaxPeriods"),
        (1, cs_profile(1, TXD, 0, [(5, 6)], start=0), "first startPeriod not 0"),
        (1, cs_profile(1, TXD, 0, [(0, 6), (0, 7)], start=0), "startPeriods not increasing"),
        (1, cs_profile(1, TXD, 0, [(0, -6)], start=0), "negative limit"),
        (1, cs_profile(1, TXD, 0, [(0, 6)]), "Absolute without startSchedule"),
        (1, cs_profile(1, TXD, 0, [(0, 6)], start=0, kind="Recurring"), "Recurring without recurrencyKind"),
        (0, cs_profile(1, CPMAX, 0, [(0, 6)], kind="Relative"), "Relative ChargePointMaxProfile"),
        (1, cs_profile(1, TXD, 0, [(0, 6)], start=0, transaction_id=5), "transactionId on a TxDefaultProfile"),
        (1, cs_profile(1, TXD, 0, [(0, 6)], start=0, valid_from=100, valid_to=100), "validTo not after validFrom"),
    ],
)
def test_rejected_profiles(cp: CoreDriver, connector_id: int, body: dict[str, Any], why: str) -> None:
    assert set_profile(cp, connector_id, body) == "Rejected", why
    assert cp.station.smart_charging.profiles() == []


def test_number_of_periods_up_to_the_maximum_is_accepted(cp: CoreDriver) -> None:
    body = cs_profile(1, TXD, 2, [(i * 60, 6) for i in range(48)], start=cp.clock.now())
    assert set_profile(cp, 1, body) == "Accepted"


def test_allowed_charging_rate_units() -> None:
    cp = CoreDriver({"ChargingScheduleAllowedChargingRateUnit": "Current"})
    cp.connect()
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, 6000)], start=0, unit="W")) == "Rejected"
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, 6)], start=0, unit="A")) == "Accepted"
    cp.close()


@pytest.mark.parametrize("connector_id", [3, -1])
def test_unknown_connector_is_a_property_constraint_violation(cp: CoreDriver, connector_id: int) -> None:
    body = cs_profile(1, TXD, 0, [(0, 6)], start=0)
    answer = cp.call("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": body})
    assert isinstance(answer, CallError) and answer.code == "PropertyConstraintViolation"


def test_unreadable_date_is_a_property_constraint_violation(cp: CoreDriver) -> None:
    body = cs_profile(1, TXD, 0, [(0, 6)], start=0)
    body["chargingSchedule"]["startSchedule"] = "yesterday"
    answer = cp.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": body})
    assert isinstance(answer, CallError) and answer.code == "PropertyConstraintViolation"


def test_clear_by_connector_purpose_and_stack_level_together(cp: CoreDriver) -> None:
    now = cp.clock.now()
    for pid, connector_id, purpose, level in ((1, 0, TXD, 0), (2, 1, TXD, 0), (3, 1, TXD, 1), (4, 0, CPMAX, 0)):
        assert set_profile(cp, connector_id, cs_profile(pid, purpose, level, [(0, 6)], start=now)) == "Accepted"
    assert result(cp.call("ClearChargingProfile", {"connectorId": 2})) == {"status": "Unknown"}
    assert result(cp.call("ClearChargingProfile", {"connectorId": 1, "stackLevel": 1})) == {"status": "Accepted"}
    assert sorted(p.profile_id for p in cp.station.smart_charging.profiles()) == [1, 2, 4]
    assert result(cp.call("ClearChargingProfile", {"connectorId": 0})) == {"status": "Accepted"}
    assert [p.profile_id for p in cp.station.smart_charging.profiles()] == [2]
    # with an id the other fields do not matter
    assert result(cp.call("ClearChargingProfile", {"id": 2, "connectorId": 0})) == {"status": "Accepted"}
    assert cp.store.profiles() == []


# -- GetCompositeSchedule --------------------------------------------------------------------------------------------
def test_composite_for_an_unknown_connector_is_rejected(cp: CoreDriver) -> None:
    assert composite(cp, 3, 60) == {"status": "Rejected"}
    assert composite(cp, -1, 60) == {"status": "Rejected"}


def test_composite_of_connector_0_and_default_unit(cp: CoreDriver) -> None:
    now = cp.clock.now()
    assert set_profile(cp, 0, cs_profile(1, TXD, 0, [(0, 10)], start=now)) == "Accepted"
    assert set_profile(cp, 0, cs_profile(2, CPMAX, 0, [(0, 16), (60, 40)], start=now)) == "Accepted"
    answer = composite(cp, 0, 120, None)
    assert answer["chargingSchedule"]["chargingRateUnit"] == "A"
    assert periods(answer) == d((0, 16), (60, 20))
    assert periods(composite(cp, 0, 120, "W")) == d((0, 16 * W_PER_A), (60, 20 * W_PER_A))


def test_composite_without_start_schedule_when_configured_off(cp: CoreDriver) -> None:
    cp.station.smart_charging.include_start_schedule = False
    answer = composite(cp, 1, 60)
    assert "startSchedule" not in answer["chargingSchedule"] and "scheduleStart" in answer


def test_composite_limits_are_encoded_exactly(cp: CoreDriver) -> None:
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, "21.4"), (10, "0.1")], start=cp.clock.now())) == "Accepted"
    answer = composite(cp, 1, 20)
    assert dumps(answer["chargingSchedule"]["chargingSchedulePeriod"]) == (
        '[{"startPeriod":0,"limit":21.4,"numberPhases":3},{"startPeriod":10,"limit":0.1,"numberPhases":3}]'
    )


# -- persistence and transactions ----------------------------------------------------------------------------------
def test_profiles_survive_a_restart_and_tx_profiles_end_with_their_transaction() -> None:
    cp = CoreDriver()
    cp.connect()
    cp.take()
    now = cp.clock.now()
    tid = charge(cp)
    assert set_profile(cp, 0, cs_profile(1, CPMAX, 0, [(0, "20.5")], start=now)) == "Accepted"
    assert set_profile(cp, 0, cs_profile(2, TXD, 1, [(0, 8), (600, 10)], start=now, duration=3600)) == "Accepted"
    assert set_profile(cp, 1, cs_profile(3, TX, 0, [(0, 6)], start=now, transaction_id=tid)) == "Accepted"
    before = periods(composite(cp, 2, 1200))
    clock = cp.clock
    cp.close()  # power cut while charging

    again = CoreDriver(clock=clock, store=cp.store)
    again.connect()
    assert sorted(p.profile_id for p in again.station.smart_charging.profiles()) == [1, 2]
    assert periods(composite(again, 2, 1200)) == before == d((0, 8), (600, 10))
    assert periods(composite(again, 1, 60)) == d((0, 8))  # the TxProfile went with its transaction
    assert sorted(b["chargingProfileId"] for _, b in again.store.profiles()) == [1, 2]
    again.close()


def test_tx_profile_is_deleted_when_the_transaction_stops(cp: CoreDriver) -> None:
    tid = charge(cp)
    assert set_profile(cp, 1, cs_profile(3, TX, 0, [(0, 6)], start=cp.clock.now(), transaction_id=tid)) == "Accepted"
    assert power(cp, 1) == 6 * W_PER_A
    cp.hardware.rfid.present("TAG-1")  # stop
    cp.take()
    assert cp.station.smart_charging.profiles() == []
    assert result(cp.call("ClearChargingProfile", {"id": 3})) == {"status": "Unknown"}
    cp.hardware.connector(1).unplug(cp.clock.now())
    charge(cp)
    assert power(cp, 1) == 32 * W_PER_A


def test_zero_limit_suspends_the_evse_until_the_schedule_offers_current_again(cp: CoreDriver) -> None:
    charge(cp)
    assert cp.statuses(cp.take()) == []
    now = cp.clock.now()
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, 0), (60, 8)], start=now)) == "Accepted"
    assert cp.statuses(cp.take()) == [(1, "SuspendedEVSE")]
    assert power(cp, 1) == 0
    cp.advance(59.5)
    assert cp.statuses(cp.take()) == []
    cp.advance(0.6)
    assert cp.statuses(cp.take()) == [(1, "Charging")]
    assert power(cp, 1) == 8 * W_PER_A


def test_the_simulated_ev_follows_a_three_step_schedule(cp: CoreDriver) -> None:
    charge(cp)
    start = cp.clock.now() + 10.25  # steps at fractional seconds
    body = cs_profile(1, TXD, 0, [(0, 16), (120, 8), (300, 24)], start=start, duration=600)
    assert set_profile(cp, 0, body) == "Accepted"
    for offset, amps in ((0, 16), (120, 8), (300, 24), (600, 32)):
        step = start + offset
        cp.advance(step - 0.5 - cp.clock.now())
        assert power(cp, 1) != amps * W_PER_A  # not before the step...
        cp.advance(1.0)
        assert power(cp, 1) == amps * W_PER_A  # ...and within a second of it
        reading = cp.hardware.connector(1).read(cp.clock.now())
        assert reading.current_offered_a == amps


def test_charge_point_max_is_shared_between_connectors(cp: CoreDriver) -> None:
    charge(cp, 1, "TAG-1")
    charge(cp, 2, "TAG-2")
    assert set_profile(cp, 0, cs_profile(1, CPMAX, 0, [(0, 20)], start=cp.clock.now())) == "Accepted"
    assert (power(cp, 1), power(cp, 2)) == (10 * W_PER_A, 10 * W_PER_A)
    cp.hardware.rfid.present("TAG-2", 2)  # stop connector 2: connector 1 may take it all
    cp.take()
    assert power(cp, 1) == 20 * W_PER_A
    cp.hardware.connector(2).unplug(cp.clock.now())
    charge(cp, 2, "TAG-3")  # a new transaction makes connector 1 give way again
    assert (power(cp, 1), power(cp, 2)) == (10 * W_PER_A, 10 * W_PER_A)


def test_a_tx_default_with_valid_from_in_the_future_replaces_at_once_and_applies_later(cp: CoreDriver) -> None:
    charge(cp)
    now = cp.clock.now()
    assert set_profile(cp, 1, cs_profile(1, TXD, 0, [(0, 10)], start=now)) == "Accepted"
    assert power(cp, 1) == 10 * W_PER_A
    later = cs_profile(2, TXD, 0, [(0, 6)], start=now, valid_from=now + 100)
    assert set_profile(cp, 1, later) == "Accepted"
    assert power(cp, 1) == 32 * W_PER_A  # OCPP 1.6 §3.13.2: default behaviour until validFrom
    cp.advance(100.5)
    assert power(cp, 1) == 6 * W_PER_A


# -- property: re-installing the same profiles changes nothing --------------------------------------------------------
@st.composite
def installable(draw: st.DrawFn) -> list[tuple[int, dict[str, Any]]]:
    slots = [(0, CPMAX), (0, TXD), (1, TXD), (2, TXD), (1, TX)]
    out: list[tuple[int, dict[str, Any]]] = []
    for pid, (connector_id, purpose) in enumerate(draw(st.lists(st.sampled_from(slots), max_size=7)), start=1):
        kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
        if purpose == CPMAX and kind == "Relative":
            kind = "Absolute"
        starts = [0, *sorted(set(draw(st.lists(st.integers(1, 900), max_size=5))))]
        unit = draw(st.sampled_from(["A", "W"]))
        limits = [draw(st.integers(0, 400)) * (1 if unit == "A" else 100) / 10 for _ in starts]
        out.append(
            (
                connector_id,
                cs_profile(
                    pid,
                    purpose,
                    draw(st.integers(0, 2)),
                    list(zip(starts, limits, strict=True)),
                    start=None if kind == "Relative" else 1_767_225_600.0 + draw(st.integers(-3000, 600)),
                    duration=draw(st.one_of(st.none(), st.integers(1, 1500))),
                    kind=kind,
                    unit=unit,
                    recurrency="Daily" if kind == "Recurring" else None,
                ),
            )
        )
    return out


@settings(max_examples=25, deadline=None)
@given(installable(), st.randoms(use_true_random=False))
def test_composite_is_stable_under_reinstallation(
    profiles: list[tuple[int, dict[str, Any]]], rnd: random.Random
) -> None:
    with tempfile.TemporaryDirectory():
        cp = CoreDriver()
        cp.connect()
        charge(cp)
        for connector_id, body in profiles:
            set_profile(cp, connector_id, body)
        installed = sorted(p.profile_id for p in cp.station.smart_charging.profiles())
        first = {c: composite(cp, c, 1800) for c in (0, 1, 2)}
        again = list(profiles)
        rnd.shuffle(again)
        for connector_id, body in again:
            if body["chargingProfileId"] in installed:
                assert set_profile(cp, connector_id, body) == "Accepted"
        assert sorted(p.profile_id for p in cp.station.smart_charging.profiles()) == installed
        assert {c: composite(cp, c, 1800) for c in (0, 1, 2)} == first
        cp.close()
