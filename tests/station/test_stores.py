"""The `Store` port's contract, held by both implementations (SQLite and in-memory), and what only the
durable one promises: an update that fails halfway leaves nothing of itself, and a restart finds everything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ocpp_station.station.ports import CertificateRecord, IdTagEntry, Store, StoreWriteError
from ocpp_station.stores.memory import MemoryStore
from ocpp_station.stores.sqlite import SqliteStore
from tests.support.core_driver import CoreDriver, result

ENABLED = {"LocalAuthListEnabled": "true"}


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = SqliteStore(tmp_path / "s.sqlite") if request.param == "sqlite" else MemoryStore()
    yield made
    made.close()


def test_the_queue_keeps_its_order_and_its_retry_state(store: Store) -> None:
    first = store.enqueue("StartTransaction", {"a": 1}, 7, "u1")
    second = store.enqueue("MeterValues", {"b": [1, 2]}, 7, "u2")
    assert second > first and store.queue_length() == 2
    head = store.queue_head()
    assert head is not None and (head.seq, head.action, head.payload, head.local_tx) == (
        first,
        "StartTransaction",
        {"a": 1},
        7,
    )
    store.defer(first, 2, 123.5, "u3")
    head = store.queue_head()
    assert head is not None and (head.attempts, head.not_before, head.unique_id) == (2, 123.5, "u3")
    store.dequeue(first)
    assert [m.seq for m in store.queue_messages()] == [second]


def test_certificates_keep_their_installation_order_through_a_replacement(store: Store) -> None:
    first = CertificateRecord("a", "CentralSystemRootCertificate", "PEM-A", b"\x04ka", False)
    second = CertificateRecord("b", "ManufacturerRootCertificate", "PEM-B", b"\x04kb", False)
    store.put_certificate(first)
    store.put_certificate(second)
    store.put_certificate(CertificateRecord("a", "CentralSystemRootCertificate", "PEM-A", b"\x04ka", True))
    assert [(r.certificate_id, r.fallback) for r in store.certificates()] == [("a", True), ("b", False)]
    assert store.certificates()[1] == second
    store.delete_certificate("a")
    store.delete_certificate("missing")
    assert store.certificates() == [second]


def test_the_security_log_rolls_keeping_the_newest(store: Store) -> None:
    for n in range(5):
        store.append_security_log(100.0 + n, "StartupOfTheDevice", f"boot {n}", keep=3)
    assert [(e.at, e.tech_info) for e in store.security_log()] == [
        (102.0, "boot 2"),
        (103.0, "boot 3"),
        (104.0, "boot 4"),
    ]
    assert [e.seq for e in store.security_log()] == sorted(e.seq for e in store.security_log())


def test_transactions_are_recorded_and_closed(store: Store) -> None:
    local_id = store.create_transaction(1, "TAG", None, 100, 5.0, None)
    store.set_transaction_id(local_id, 42, "accepted")
    store.set_transaction_parent(local_id, "PARENT")
    record = store.transaction_record(local_id)
    assert record is not None and (record.transaction_id, record.parent_id_tag, record.stopped) == (42, "PARENT", False)
    assert [t.local_id for t in store.open_transactions()] == [local_id]
    store.mark_stopped(local_id)
    assert store.open_transactions() == []


def test_id_tags_compare_case_insensitively_and_the_cache_evicts_invalid_entries_first(store: Store) -> None:
    store.cache_put(IdTagEntry("old-valid", "Accepted", None, None), now=1.0, capacity=2)
    store.cache_put(IdTagEntry("blocked", "Blocked", None, None), now=2.0, capacity=2)
    store.cache_put(IdTagEntry("new", "Accepted", None, None), now=3.0, capacity=2)  # OCPP 1.6 §3.5.1
    assert store.cache_get("BLOCKED") is None
    assert store.cache_get("Old-Valid") is not None and store.cache_get("NEW") is not None
    store.local_list_update(True, [IdTagEntry("abc", "Accepted", None, "P")], [], 3)
    entry = store.local_list_get("ABC")
    assert entry is not None and entry.parent_id_tag == "P" and store.get_meta("local_list_version") == "3"
    store.local_list_update(False, [IdTagEntry("def", "Blocked", None, None)], ["aBc"], 4)
    assert [e.id_tag for e in store.local_list_entries()] == ["DEF"] and store.local_list_known(["def", "abc"]) == {
        "DEF"
    }


def test_profiles_reservations_meta_and_configuration(store: Store) -> None:
    store.put_profile(2, 1, {"id": 2})
    store.put_profile(1, 0, {"id": 1})
    assert store.profiles() == [(0, {"id": 1}), (1, {"id": 2})]
    store.delete_profiles([1])
    assert store.profiles() == [(1, {"id": 2})]
    store.put_reservation(5, 1, {"r": 5})
    assert store.reservations() == [{"r": 5}]
    store.delete_reservation(5)
    assert store.reservations() == []
    with store.atomic():
        store.set_meta("k", "v")
        store.save_config("HeartbeatInterval", "60")
    assert store.get_meta("k") == "v" and store.load_config() == {"HeartbeatInterval": "60"}


def test_an_error_in_the_middle_of_a_write_rolls_the_whole_update_back(tmp_path: Path) -> None:
    durable = SqliteStore(tmp_path / "s.sqlite")
    cp = CoreDriver(ENABLED, store=durable)
    cp.connect()
    entry = {"idTag": "A", "idTagInfo": {"status": "Accepted"}}
    update = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [entry]}
    assert result(cp.call("SendLocalList", update))["status"] == "Accepted"
    with pytest.raises(StoreWriteError):
        # The second row violates NOT NULL after the DELETE of the Full update and the first INSERT.
        durable.local_list_update(
            True, [IdTagEntry("C", "Accepted", None, None), IdTagEntry("X", None, None, None)], [], 2
        )  # type: ignore[arg-type]
    assert [(e.id_tag, e.status) for e in durable.local_list_entries()] == [("A", "Accepted")]
    assert durable.get_meta("local_list_version") == "1"
    cp.close()


def test_a_restart_on_the_same_file_finds_what_was_stored(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    cp = CoreDriver(ENABLED, store=SqliteStore(path))
    cp.connect()
    update = {
        "listVersion": 6,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Blocked"}}],
    }
    assert result(cp.call("SendLocalList", update))["status"] == "Accepted"
    cp.close()
    again = CoreDriver(ENABLED, store=SqliteStore(path))
    again.connect()
    assert result(again.call("GetLocalListVersion", {})) == {"listVersion": 6}
    again.close()
