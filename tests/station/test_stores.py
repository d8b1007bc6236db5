"""The `Store` port's contract, held by both implementations (SQLite and in-memory), and what only the
durable one promises: an update that fails halfway leaves nothing of itself, and a restart finds everything."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ocpp_station.station.ports import CertificateRecord, IdTagEntry, Store, StoreError, StoreWriteError
from ocpp_station.stores.memory import MemoryStore
from ocpp_station.stores.shared_sqlite import SharedSqliteDatabase
from ocpp_station.stores.sqlite import SqliteStationStore, SqliteStore
from tests.support.core_driver import CoreDriver, result

ENABLED = {"LocalAuthListEnabled": "true"}

# What a charger's store file held before the station key (schema version 1): the file to migrate.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tx_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    local_tx INTEGER,
    unique_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    parent_id_tag TEXT,
    meter_start INTEGER NOT NULL,
    start_time REAL NOT NULL,
    reservation_id INTEGER,
    transaction_id INTEGER,
    start_status TEXT NOT NULL DEFAULT 'queued',
    stopped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS auth_cache (
    id_tag TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiry REAL,
    parent_id_tag TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS local_list (
    id_tag TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiry REAL,
    parent_id_tag TEXT
);
CREATE TABLE IF NOT EXISTS charging_profiles (
    profile_id INTEGER PRIMARY KEY,
    connector_id INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id INTEGER PRIMARY KEY,
    connector_id INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id TEXT NOT NULL UNIQUE,
    use TEXT NOT NULL,
    pem TEXT NOT NULL,
    issuer_key BLOB NOT NULL,
    fallback INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS security_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    tech_info TEXT NOT NULL
);
"""


@pytest.fixture(params=["sqlite", "memory", "shared-sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "shared-sqlite":
        database = SharedSqliteDatabase(tmp_path / "fleet.sqlite")
        # A neighbour with data of its own in every table: the contract's station must see none of it.
        _fill(SqliteStationStore(database, "CP-NEIGHBOUR"))
        yield SqliteStationStore(database, "CP-1")
        database.close()
        return
    made: Store = SqliteStore(tmp_path / "s.sqlite") if request.param == "sqlite" else MemoryStore()
    yield made
    made.close()


def _fill(store: Store) -> None:
    store.enqueue("MeterValues", {"n": 1}, None, "n1")
    store.create_transaction(2, "NEIGHBOUR", None, 1, 1.0, None)
    store.cache_put(IdTagEntry("N-TAG", "Blocked", None, None), now=0.5, capacity=10)
    store.local_list_update(True, [IdTagEntry("N-TAG", "Accepted", None, None)], [], 9)
    store.put_profile(1, 1, {"neighbour": True})
    store.put_reservation(5, 1, {"neighbour": True})
    store.put_certificate(CertificateRecord("a", "CentralSystemRootCertificate", "N", b"n", False))
    store.append_security_log(1.0, "StartupOfTheDevice", "neighbour", keep=10)
    store.set_meta("k", "neighbour")
    store.save_config("HeartbeatInterval", "999")


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
            True,
            # A None status on purpose (the type says str): the row the database refuses.
            [IdTagEntry("C", "Accepted", None, None), IdTagEntry("X", None, None, None)],  # type: ignore[arg-type]
            [],
            2,
        )
    assert [(e.id_tag, e.status) for e in durable.local_list_entries()] == [("A", "Accepted")]
    assert durable.get_meta("local_list_version") == "1"
    cp.close()


def test_a_failed_write_leaves_the_file_free_for_the_next_writer(tmp_path: Path) -> None:
    durable = SqliteStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreWriteError):
        durable.local_list_update(True, [IdTagEntry("X", None, None, None)], [], 2)  # type: ignore[arg-type]
    with closing(sqlite3.connect(tmp_path / "s.sqlite", timeout=0)) as other:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the failed update kept its transaction open
        other.execute("ROLLBACK")
    durable.close()


def test_a_version_1_file_is_migrated_whole_and_its_row_ids_go_on_increasing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(path)) as v1:
        v1.executescript(V1_SCHEMA)
        v1.executescript(
            """
            INSERT INTO meta VALUES ('schema_version', '1'), ('local_list_version', '7');
            INSERT INTO config VALUES ('HeartbeatInterval', '77');
            INSERT INTO tx_queue(action, payload, local_tx, unique_id) VALUES
                ('StartTransaction', '{"connectorId":1}', 1, 'u1'), ('MeterValues', '{"n":2}', 1, 'u2'),
                ('MeterValues', '{"n":3}', 1, 'u3');
            DELETE FROM tx_queue WHERE seq = 3;
            INSERT INTO transactions(connector_id, id_tag, parent_id_tag, meter_start, start_time, reservation_id)
                VALUES (1, 'TAG', 'P', 10, 5.0, NULL);
            INSERT INTO auth_cache VALUES ('CACHED', 'Accepted', NULL, NULL, 1.0);
            INSERT INTO local_list VALUES ('LISTED', 'Blocked', 9.5, 'P');
            INSERT INTO charging_profiles VALUES (4, 1, '{"chargingProfileId":4}');
            INSERT INTO reservations VALUES (6, 2, '{"reservationId":6}');
            INSERT INTO certificates(certificate_id, use, pem, issuer_key, fallback)
                VALUES ('c1', 'CentralSystemRootCertificate', 'PEM', x'04', 1);
            INSERT INTO security_log(at, event, tech_info) VALUES (3.0, 'StartupOfTheDevice', 'boot');
            """
        )
    store = SqliteStore(path)
    assert store.get_meta("schema_version") == "2" and store.get_meta("local_list_version") == "7"
    assert store.load_config() == {"HeartbeatInterval": "77"}
    assert [(m.seq, m.action, m.payload) for m in store.queue_messages()] == [
        (1, "StartTransaction", {"connectorId": 1}),
        (2, "MeterValues", {"n": 2}),
    ]
    assert store.enqueue("StopTransaction", {}, 1, "u4") == 4  # 3 was given before the migration
    (record,) = store.open_transactions()
    assert (record.local_id, record.id_tag, record.parent_id_tag, record.meter_start) == (1, "TAG", "P", 10)
    assert store.cache_get("cached") == IdTagEntry("CACHED", "Accepted", None, None)
    assert store.local_list_get("listed") == IdTagEntry("LISTED", "Blocked", 9.5, "P")
    assert store.profiles() == [(1, {"chargingProfileId": 4})] and store.reservations() == [{"reservationId": 6}]
    assert store.certificates() == [CertificateRecord("c1", "CentralSystemRootCertificate", "PEM", b"\x04", True)]
    assert [(e.at, e.event) for e in store.security_log()] == [(3.0, "StartupOfTheDevice")]
    assert store.integrity_check() == "ok"
    store.close()
    with closing(sqlite3.connect(path)) as db:
        tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not any(name.endswith("_v1") for name in tables)
    again = SqliteStore(path)  # opening a migrated file again changes nothing
    assert [m.seq for m in again.queue_messages()] == [1, 2, 4] and again.load_config() == {"HeartbeatInterval": "77"}
    again.close()


def test_a_migration_that_fails_leaves_the_version_1_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(path)) as v1:
        v1.executescript(V1_SCHEMA)
        v1.execute("INSERT INTO config VALUES ('HeartbeatInterval', '77')")
        v1.execute("CREATE TABLE security_log_v1 (x)")  # in the way of the migration's last rename
        v1.commit()
    with pytest.raises(StoreError, match="cannot open the station store"):
        SqliteStore(path)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT key, value FROM config").fetchall() == [("HeartbeatInterval", "77")]
        assert "station" not in [str(r[1]) for r in db.execute("PRAGMA table_info(config)")]
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'config%'").fetchall() == [("config",)]


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


def test_two_stations_sharing_one_database_see_only_their_own_data(tmp_path: Path) -> None:
    database = SharedSqliteDatabase(tmp_path / "fleet.sqlite")
    one, two = SqliteStationStore(database, "CP-1"), SqliteStationStore(database, "CP-2")
    _fill(one)
    assert two.queue_length() == 0 and two.queue_head() is None and two.queue_messages() == []
    assert two.open_transactions() == [] and two.transaction_record(one.open_transactions()[0].local_id) is None
    assert two.cache_get("n-tag") is None and two.local_list_empty() and two.local_list_known(["N-TAG"]) == set()
    assert two.profiles() == [] and two.reservations() == [] and two.certificates() == []
    assert two.security_log() == [] and two.get_meta("k") is None and two.load_config() == {}
    # The same keys in the other station are other rows, and deleting them there leaves these.
    _fill(two)
    two.delete_profiles([1])
    two.delete_reservation(5)
    two.delete_certificate("a")
    two.cache_clear()
    two.local_list_update(True, [], [], 10)
    two.dequeue(two.queue_messages()[0].seq)
    for n in range(3):
        two.append_security_log(2.0 + n, "StartupOfTheDevice", f"two {n}", keep=1)
    assert one.profiles() == [(1, {"neighbour": True})] and one.reservations() == [{"neighbour": True}]
    assert [c.certificate_id for c in one.certificates()] == ["a"] and one.cache_get("N-TAG") is not None
    assert one.local_list_known(["n-tag"]) == {"N-TAG"} and one.get_meta("local_list_version") == "9"
    assert one.queue_length() == 1 and [e.tech_info for e in one.security_log()] == ["neighbour"]
    assert [e.tech_info for e in two.security_log()] == ["two 2"]
    # A new unit in CP-2's place (Fleet.renew) starts empty; CP-1 keeps everything.
    database.forget("CP-2")
    assert two.queue_length() == 0 and two.open_transactions() == [] and two.security_log() == []
    assert two.get_meta("local_list_version") is None and two.load_config() == {}
    assert one.queue_length() == 1 and len(one.open_transactions()) == 1 and one.load_config() != {}
    database.close()


# A fleet process that wrote a group, flushed it, wrote more, and then holds the file until it is killed.
FLEET_PROCESS = """
import sys
from pathlib import Path
from ocpp_station.stores.shared_sqlite import SharedSqliteDatabase
from ocpp_station.stores.sqlite import SqliteStationStore
database = SharedSqliteDatabase(Path(sys.argv[1]), max_writes=10_000, max_delay_s=3600.0)
store = SqliteStationStore(database, "CP-1")
local_id = store.create_transaction(1, "TAG", None, 100, 5.0, None)
store.enqueue("StartTransaction", {"idTag": "TAG"}, local_id, "u1")
with store.atomic():
    store.set_meta("k", "v")
database.flush()
store.enqueue("MeterValues", {"connectorId": 1}, local_id, "u2")  # in the open group, never committed
print(local_id, flush=True)
sys.stdin.read()
"""


def test_a_fleet_process_killed_after_a_flush_leaves_what_it_flushed_and_holds_the_file_until_then(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fleet.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", FLEET_PROCESS, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        local_id = int(child.stdout.readline())
        # The file has its writer: a second one is refused in one line, a reader sees what was committed.
        with pytest.raises(StoreError, match=r"^cannot open the fleet store .*: it is in use by another process$"):
            SharedSqliteDatabase(path)
        with closing(sqlite3.connect(path)) as reader:
            assert reader.execute("SELECT action FROM tx_queue").fetchall() == [("StartTransaction",)]
    finally:
        child.kill()
        child.wait()
    # Killed with its group open: the flushed writes are there, the later one is not, and the file is free.
    database = SharedSqliteDatabase(path)
    again = SqliteStationStore(database, "CP-1")
    assert [t.local_id for t in again.open_transactions()] == [local_id]
    assert [m.action for m in again.queue_messages()] == ["StartTransaction"] and again.get_meta("k") == "v"
    database.close()


def test_a_station_store_has_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "CP-1.sqlite"
    first = SqliteStore(path)
    first.set_meta("k", "v")
    # A second `ocpp-station run` on the same data directory and id would interleave its writes with ours.
    with pytest.raises(StoreError, match="it is in use by another process"):
        SqliteStore(path)
    first.close()
    first.close()  # a second close does nothing (and closes no descriptor another open now owns)
    second = SqliteStore(path)
    assert second.get_meta("k") == "v"
    with pytest.raises(StoreError, match="it is in use by another process"):
        SqliteStore(path)
    second.close()


def test_a_failed_atomic_block_in_a_group_leaves_the_rest_of_the_group(tmp_path: Path) -> None:
    database = SharedSqliteDatabase(tmp_path / "fleet.sqlite", max_writes=10_000, max_delay_s=3600.0)
    store = SqliteStationStore(database, "CP-1")
    store.set_meta("before", "1")
    with pytest.raises(StoreWriteError):
        store.local_list_update(
            True,
            # A None status on purpose (the type says str): the row the database refuses.
            [IdTagEntry("C", "Accepted", None, None), IdTagEntry("X", None, None, None)],  # type: ignore[arg-type]
            [],
            2,
        )
    assert store.local_list_entries() == [] and store.get_meta("local_list_version") is None
    database.flush()
    assert store.get_meta("before") == "1" and database.commits == 1
    database.close()
