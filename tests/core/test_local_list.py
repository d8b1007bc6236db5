"""The Local Authorization List, driven through the core (OCPP 1.6 §3.5.2-3.5.4, §5.10, §5.15;
errata v4.0 3.52; OCTT TC_042, TC_043).

SendLocalList Full / Differential, listVersion rules, the four statuses, the two length limits, duplicates,
failure keeping the old list; GetLocalListVersion; list precedence over the cache; listed idTags never
cached; LocalListConflict; authorization from the list online (LocalPreAuthorize) and offline
(LocalAuthorizeOffline); persistence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import CallError
from ocpp_station.station.ports import IdTagEntry
from tests.support.core_driver import CoreDriver, result

ENABLED = {"LocalAuthListEnabled": "true"}
WITHOUT_PROFILE = "Core,FirmwareManagement,Reservation,SmartCharging,RemoteTrigger"


@pytest.fixture
def cp_overrides() -> dict[str, str]:
    return dict(ENABLED)


def entry(id_tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    if status is None:
        return {"idTag": id_tag}
    return {"idTag": id_tag, "idTagInfo": {"status": status, **info}}


def send(cp: CoreDriver, version: int, update: str, entries: list[dict[str, Any]] | None = None) -> str:
    payload: dict[str, Any] = {"listVersion": version, "updateType": update}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    return str(result(cp.call("SendLocalList", payload))["status"])


def version(cp: CoreDriver) -> int:
    return int(result(cp.call("GetLocalListVersion", {}))["listVersion"])


def listed(cp: CoreDriver) -> dict[str, str]:
    rows = [(e.id_tag, e.status) for e in cp.store.local_list_entries()]
    return {str(r[0]): str(r[1]) for r in rows}


def start_by_card(cp: CoreDriver, tag: str, connector: int = 1) -> list[tuple[str, dict[str, Any]]]:
    cp.hardware.connector(connector).plug(cp.clock.now())
    cp.hardware.rfid.present(tag, connector)
    return cp.take()


# --- GetLocalListVersion (OCPP 1.6 §5.10) -------------------------------------------------------------


def test_version_is_minus_one_while_the_list_is_disabled() -> None:
    cp = CoreDriver()  # LocalAuthListEnabled defaults to false
    cp.connect()
    assert version(cp) == -1  # OCTT TC_042_1
    assert send(cp, 1, "Full", [entry("A")]) == "NotSupported"
    cp.close()


def test_version_is_zero_for_an_empty_list_whatever_was_sent(cp: CoreDriver) -> None:
    assert version(cp) == 0
    assert send(cp, 1, "Full") == "Accepted"  # OCTT TC_042_2: list omitted
    assert version(cp) == 0
    assert send(cp, 7, "Full", []) == "Accepted"
    assert version(cp) == 0


def test_a_station_without_the_profile_reports_minus_one_and_not_supported() -> None:
    cp = CoreDriver({**ENABLED, "SupportedFeatureProfiles": WITHOUT_PROFILE})
    cp.connect()
    assert version(cp) == -1
    assert send(cp, 1, "Full", [entry("A")]) == "NotSupported"  # OCTT TC_043_1
    cp.close()


# --- SendLocalList: Full and Differential (OCPP 1.6 §5.15, §6.41, §7.1) -------------------------------


def test_full_replaces_the_whole_list_and_sets_the_version(cp: CoreDriver) -> None:
    assert send(cp, 3, "Full", [entry("A"), entry("B", "Blocked")]) == "Accepted"
    assert listed(cp) == {"A": "Accepted", "B": "Blocked"}
    assert version(cp) == 3
    assert send(cp, 2, "Full", [entry("C", "Expired")]) == "Accepted"  # a Full update may lower the version
    assert listed(cp) == {"C": "Expired"}
    assert version(cp) == 2


def test_differential_adds_updates_and_deletes(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("A"), entry("B"), entry("C")]) == "Accepted"
    changes = [entry("A", "Blocked"), entry("B", None), entry("D", "Accepted", parentIdTag="P")]
    assert send(cp, 2, "Differential", changes) == "Accepted"
    assert listed(cp) == {"A": "Blocked", "C": "Accepted", "D": "Accepted"}
    assert cp.store.local_list_get("d") == IdTagEntry("D", "Accepted", None, "P")
    assert version(cp) == 2


def test_differential_deleting_an_unknown_idtag_is_fine(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("A")]) == "Accepted"
    assert send(cp, 2, "Differential", [entry("NOPE", None)]) == "Accepted"
    assert listed(cp) == {"A": "Accepted"}


def test_differential_without_entries_changes_only_the_version(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("A")]) == "Accepted"
    assert send(cp, 4, "Differential") == "Accepted"  # §6.41: no effect on the list
    assert listed(cp) == {"A": "Accepted"}
    assert version(cp) == 4


@pytest.mark.parametrize("stale", [4, 5])
def test_differential_with_an_old_or_equal_version_is_a_version_mismatch(cp: CoreDriver, stale: int) -> None:
    # OCTT TC_043_2: Full v2, Differential v5, Differential v4 → VersionMismatch, the version stays 5.
    assert send(cp, 2, "Full", [entry("A")]) == "Accepted"
    assert send(cp, 5, "Differential", [entry("B")]) == "Accepted"
    assert send(cp, stale, "Differential", [entry("C")]) == "VersionMismatch"
    assert listed(cp) == {"A": "Accepted", "B": "Accepted"}
    assert version(cp) == 5


def test_differential_versions_compare_with_the_reported_version_of_an_empty_list(cp: CoreDriver) -> None:
    assert send(cp, 9, "Full") == "Accepted"
    assert version(cp) == 0
    assert send(cp, 1, "Differential", [entry("A")]) == "Accepted"
    assert version(cp) == 1


@pytest.mark.parametrize("bad", [0, -1])
def test_versions_zero_and_minus_one_are_refused(cp: CoreDriver, bad: int) -> None:
    # Errata v4.0 3.52: 0 and -1 have a special meaning in GetLocalListVersion.conf.
    assert send(cp, 1, "Full", [entry("A")]) == "Accepted"
    assert send(cp, bad, "Full", [entry("B")]) == "Failed"
    assert listed(cp) == {"A": "Accepted"} and version(cp) == 1


@pytest.mark.parametrize(
    ("update", "entries"),
    [
        ("Full", [entry("A"), entry("a")]),  # duplicates (IdToken is case-insensitive, §7.28)
        ("Differential", [entry("A"), entry("A", None)]),
        ("Full", [entry("A"), entry("B", None)]),  # a Full entry needs idTagInfo (§7.1)
    ],
)
def test_invalid_updates_fail_and_change_nothing(cp: CoreDriver, update: str, entries: list[dict[str, Any]]) -> None:
    assert send(cp, 1, "Full", [entry("OLD")]) == "Accepted"
    assert send(cp, 2, update, entries) == "Failed"
    assert listed(cp) == {"OLD": "Accepted"} and version(cp) == 1


def test_an_unreadable_expiry_date_is_a_property_constraint_violation(cp: CoreDriver) -> None:
    # Requests' date-times are checked with the schema (schemas.py: format → PropertyConstraintViolation).
    assert send(cp, 1, "Full", [entry("OLD")]) == "Accepted"
    answer = cp.call(
        "SendLocalList",
        {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [entry("A", expiryDate="tomorrow")]},
    )
    assert isinstance(answer, CallError) and answer.code == "PropertyConstraintViolation"
    assert listed(cp) == {"OLD": "Accepted"} and version(cp) == 1


def test_send_local_list_max_length_is_enforced() -> None:
    cp = CoreDriver({**ENABLED, "SendLocalListMaxLength": "3"})
    cp.connect()
    assert send(cp, 1, "Full", [entry(f"T{i}") for i in range(3)]) == "Accepted"
    assert send(cp, 2, "Full", [entry(f"U{i}") for i in range(4)]) == "Failed"
    assert send(cp, 2, "Differential", [entry(f"U{i}") for i in range(4)]) == "Failed"
    assert len(listed(cp)) == 3 and version(cp) == 1
    cp.close()


def test_local_auth_list_max_length_is_enforced() -> None:
    cp = CoreDriver({**ENABLED, "LocalAuthListMaxLength": "4"})
    cp.connect()
    assert send(cp, 1, "Full", [entry(f"T{i}") for i in range(5)]) == "Failed"
    assert send(cp, 1, "Full", [entry(f"T{i}") for i in range(4)]) == "Accepted"
    assert send(cp, 2, "Differential", [entry("NEW")]) == "Failed"  # would hold 5
    # Updating listed idTags does not grow the list; a delete makes room for an add in the same update.
    assert send(cp, 2, "Differential", [entry("T0", "Blocked"), entry("t1", "Expired")]) == "Accepted"
    assert send(cp, 3, "Differential", [entry("T2", None), entry("NEW")]) == "Accepted"
    assert listed(cp) == {"T0": "Blocked", "T1": "Expired", "T3": "Accepted", "NEW": "Accepted"}
    assert version(cp) == 3
    cp.close()


def test_a_storage_failure_keeps_the_old_list_and_version(cp: CoreDriver) -> None:
    # OCTT TC_043_3: the control API's fault injection.
    assert send(cp, 1, "Full", [entry("A")]) == "Accepted"
    cp.station.local_list.storage_failing = True
    assert send(cp, 2, "Full", [entry("B")]) == "Failed"
    assert send(cp, 2, "Differential", [entry("B")]) == "Failed"
    assert listed(cp) == {"A": "Accepted"} and version(cp) == 1
    cp.station.local_list.storage_failing = False
    assert send(cp, 2, "Differential", [entry("B")]) == "Accepted"
    assert version(cp) == 2


def test_the_list_and_its_version_survive_a_restart() -> None:
    cp = CoreDriver(ENABLED)
    cp.connect()
    assert send(cp, 6, "Full", [entry("A"), entry("B", "Blocked")]) == "Accepted"
    cp.close()  # power cut
    again = CoreDriver(ENABLED, store=cp.store)
    again.connect()
    assert version(again) == 6
    assert listed(again) == {"A": "Accepted", "B": "Blocked"}
    again.close()


# --- authorization with the list (OCPP 1.6 §3.5) ----------------------------------------------------------


def test_listed_idtag_starts_without_authorize_when_local_pre_authorize(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    sent = start_by_card(cp, "listed")  # case-insensitive lookup
    actions = [a for a, _ in sent]
    assert "StartTransaction" in actions and "Authorize" not in actions


def test_remote_start_of_a_listed_idtag_needs_no_authorize(cp: CoreDriver) -> None:
    # AuthorizeRemoteTxRequests=true: authorized like a local swipe (OCTT TC_008; OCPP 1.6 §5.11).
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.take()
    assert result(cp.call("RemoteStartTransaction", {"idTag": "LISTED", "connectorId": 1})) == {"status": "Accepted"}
    actions = cp.actions()
    assert "StartTransaction" in actions and "Authorize" not in actions


def test_without_local_pre_authorize_a_listed_idtag_is_authorized_online() -> None:
    cp = CoreDriver({**ENABLED, "LocalPreAuthorize": "false"})
    cp.connect()
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    actions = [a for a, _ in start_by_card(cp, "LISTED")]
    assert actions.index("Authorize") < actions.index("StartTransaction")
    cp.close()


def test_a_listed_concurrent_tx_entry_is_valid(cp: CoreDriver) -> None:
    # OCPP 1.6 §3.5.2: Accepted and ConcurrentTx both mark a valid identifier.
    assert send(cp, 1, "Full", [entry("BUSY", "ConcurrentTx")]) == "Accepted"
    actions = [a for a, _ in start_by_card(cp, "BUSY")]
    assert "StartTransaction" in actions and "Authorize" not in actions


def test_the_list_takes_precedence_over_the_cache(cp: CoreDriver) -> None:
    # The cache says Invalid, the list Accepted: the list wins (OCPP 1.6 §3.5.3).
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Invalid"}})
    cp.hardware.rfid.present("TAG", 1)
    cp.take()
    assert cp.store.cache_get("TAG") is not None
    assert send(cp, 1, "Full", [entry("TAG")]) == "Accepted"
    actions = [a for a, _ in start_by_card(cp, "TAG")]
    assert "StartTransaction" in actions and "Authorize" not in actions


def test_a_blocked_list_entry_outranks_an_accepted_cache_entry(cp: CoreDriver) -> None:
    cp.hardware.rfid.present("TAG", 1)  # cached Accepted by the central system's answer
    cp.take()
    cp.advance(31)  # ConnectionTimeOut: no cable
    assert cp.statuses(cp.take()) == [(1, "Available")]
    assert cp.store.cache_get("TAG") is not None
    assert send(cp, 1, "Full", [entry("TAG", "Blocked")]) == "Accepted"
    cp.respond("Authorize", lambda a, p: {"idTagInfo": {"status": "Blocked"}})
    actions = [a for a, _ in start_by_card(cp, "TAG")]
    assert "Authorize" in actions and "StartTransaction" not in actions  # not locally valid: ask


def test_listed_idtags_are_never_cached(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    start_by_card(cp, "LISTED")  # StartTransaction.conf carries an IdTagInfo for it
    cp.hardware.rfid.present("LISTED", 1)  # stop: StopTransaction.conf may carry one too
    cp.take()
    assert cp.store.cache_get("LISTED") is None
    cp.hardware.rfid.present("OTHER", 2)  # unlisted: cached from Authorize.conf
    cp.take()
    assert cp.store.cache_get("OTHER") is not None


def test_a_contradicting_central_verdict_is_reported_as_local_list_conflict(cp: CoreDriver) -> None:
    # OCPP 1.6 §3.5.2: StatusNotification, connectorId 0, errorCode LocalListConflict.
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    cp.respond("StartTransaction", lambda a, p: {"transactionId": 7, "idTagInfo": {"status": "Blocked"}})
    sent = start_by_card(cp, "LISTED")
    conflicts = [p for a, p in sent if a == "StatusNotification" and p["errorCode"] == "LocalListConflict"]
    assert len(conflicts) == 1 and conflicts[0]["connectorId"] == 0 and conflicts[0]["status"] == "Available"
    assert listed(cp) == {"LISTED": "Accepted"}  # only SendLocalList changes the list (§3.5.2)


def test_an_agreeing_verdict_is_no_conflict(cp: CoreDriver) -> None:
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    cp.respond("StartTransaction", lambda a, p: {"transactionId": 7, "idTagInfo": {"status": "ConcurrentTx"}})
    sent = start_by_card(cp, "LISTED")
    assert all(p["errorCode"] == "NoError" for a, p in sent if a == "StatusNotification")


def test_a_disabled_list_is_not_used() -> None:
    cp = CoreDriver(ENABLED)
    cp.connect()
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    assert result(cp.call("ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "false"})) == {
        "status": "Accepted"
    }
    actions = [a for a, _ in start_by_card(cp, "LISTED")]
    assert "Authorize" in actions
    cp.close()


# --- offline (LocalAuthorizeOffline, OCPP 1.6 §3.5, §3.5.4) ------------------------------------------------


def offline_start(cp: CoreDriver, tag: str) -> bool:
    cp.disconnect()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present(tag, 1)
    return cp.station.connector(1).transaction is not None


@pytest.fixture
def offline_cp() -> Iterator[CoreDriver]:
    driver = CoreDriver({**ENABLED, "LocalAuthorizeOffline": "true", "AuthorizationCacheEnabled": "false"})
    driver.connect()
    driver.take()
    yield driver
    driver.close()


def test_offline_a_listed_valid_idtag_starts(offline_cp: CoreDriver) -> None:
    assert send(offline_cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    assert offline_start(offline_cp, "LISTED")


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid"])
def test_offline_a_listed_not_valid_idtag_is_refused_even_for_unknown_offline(status: str) -> None:
    cp = CoreDriver({**ENABLED, "LocalAuthorizeOffline": "true", "AllowOfflineTxForUnknownId": "true"})
    cp.connect()
    assert send(cp, 1, "Full", [entry("LISTED", status)]) == "Accepted"
    assert not offline_start(cp, "LISTED")  # §3.5.4: MUST be rejected
    cp.close()


def test_offline_an_expired_listed_idtag_is_refused(offline_cp: CoreDriver) -> None:
    cp = offline_cp
    expiry = iso_utc(cp.clock.now() + 60)
    assert send(cp, 1, "Full", [entry("LISTED", "Accepted", expiryDate=expiry)]) == "Accepted"
    cp.clock.advance(61)
    assert not offline_start(cp, "LISTED")


def test_offline_without_local_authorize_offline_the_list_is_not_used() -> None:
    cp = CoreDriver({**ENABLED, "LocalAuthorizeOffline": "false"})
    cp.connect()
    assert send(cp, 1, "Full", [entry("LISTED")]) == "Accepted"
    assert not offline_start(cp, "LISTED")
    cp.close()
