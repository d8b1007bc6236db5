"""A durable `Store` for fleets: ONE SQLite file (WAL) per fleet process, shared by all its stations.

Every table of `stores.sqlite` is here with a `station` column in its key; `SharedSqliteStore` is one
station's view of the database. Writes are grouped: they go into a transaction the database keeps open and
commits (one fsync, synchronous=FULL) when the fleet calls `flush()` (from its loop, every 50–100 ms) or when
`max_writes` writes or `max_delay_s` seconds have piled up since the group began, whichever comes first. An
`atomic()` block is a savepoint inside the group: all or nothing, and a group is never committed in the
middle of one.

What it survives: a crash of the fleet process (or a power cut) loses at most the last group window: the
writes since the last commit, i.e. up to `max_delay_s` (and at most `max_writes` writes) of every station's
state. Everything committed before survives, each `atomic()` block whole or not at all. This is not the
charger's `SqliteStore`, whose every commit is fsynced before the station acts on it: a fleet station may
have sent a message whose record is then lost with the window. It is for load tests that restart a fleet
and want its stations to come back with their transactions and queues, not for a real charger.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ocpp_station.protocol.rpc import dumps
from ocpp_station.station.ports import (
    CertificateRecord,
    IdTagEntry,
    QueuedMessage,
    SecurityLogEntry,
    StoreError,
    StoreWriteError,
    TransactionRecord,
)

SCHEMA_VERSION = 1

# The row ids of the queue, the transactions, the certificates and the security log are shared by all
# stations (AUTOINCREMENT): each station's still increase, which is all the port asks of them.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (station TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (station, key));
CREATE TABLE IF NOT EXISTS config (station TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (station, key));
CREATE TABLE IF NOT EXISTS tx_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    local_tx INTEGER,
    unique_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tx_queue_station ON tx_queue (station, seq);
CREATE TABLE IF NOT EXISTS transactions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
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
CREATE INDEX IF NOT EXISTS transactions_station ON transactions (station, stopped, local_id);
CREATE TABLE IF NOT EXISTS auth_cache (
    station TEXT NOT NULL,
    id_tag TEXT NOT NULL,
    status TEXT NOT NULL,
    expiry REAL,
    parent_id_tag TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (station, id_tag)
);
CREATE TABLE IF NOT EXISTS local_list (
    station TEXT NOT NULL,
    id_tag TEXT NOT NULL,
    status TEXT NOT NULL,
    expiry REAL,
    parent_id_tag TEXT,
    PRIMARY KEY (station, id_tag)
);
CREATE TABLE IF NOT EXISTS charging_profiles (
    station TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (station, profile_id)
);
CREATE TABLE IF NOT EXISTS reservations (
    station TEXT NOT NULL,
    reservation_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (station, reservation_id)
);
CREATE TABLE IF NOT EXISTS certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    use TEXT NOT NULL,
    pem TEXT NOT NULL,
    issuer_key BLOB NOT NULL,
    fallback INTEGER NOT NULL DEFAULT 0,
    UNIQUE (station, certificate_id)
);
CREATE TABLE IF NOT EXISTS security_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    tech_info TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS security_log_station ON security_log (station, seq);
"""

_TABLES = (
    "meta",
    "config",
    "tx_queue",
    "transactions",
    "auth_cache",
    "local_list",
    "charging_profiles",
    "reservations",
    "certificates",
    "security_log",
)


class SharedSqliteDatabase:
    """The fleet's one database; commits a group of writes at `flush()` or after `max_writes` / `max_delay_s`."""

    def __init__(self, path: Path, max_writes: int = 5000, max_delay_s: float = 0.1) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self.db.execute(
                "INSERT OR IGNORE INTO meta(station, key, value) VALUES ('', 'schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except (OSError, sqlite3.Error) as exc:
            # "database is locked": another fleet process has the file (one database per process).
            raise StoreError(f"cannot open the fleet store {path}: {exc}") from None
        self.path = path
        self.max_writes = max_writes
        self.max_delay_s = max_delay_s
        self.commits = 0
        self._writes = 0
        self._group_began = 0.0
        self._depth = 0  # open atomic() blocks (savepoints); no group commit while one is open

    def close(self) -> None:
        self.flush()
        self.db.close()

    def integrity_check(self) -> str:
        row = self.db.execute("PRAGMA integrity_check").fetchone()
        return "no answer" if row is None else str(row[0])

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """One write, in the open group (begun here if none is)."""
        self._begin()
        try:
            cursor = self.db.execute(sql, params)
        except sqlite3.Error as exc:
            if self._depth == 0:
                raise StoreWriteError(str(exc)) from exc
            raise  # the enclosing atomic() rolls its savepoint back
        self._wrote()
        return cursor

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._begin()
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            if self._depth == 0:
                raise StoreWriteError(str(exc)) from exc
            raise
        self._wrote()

    def _begin(self) -> None:
        if not self.db.in_transaction:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreWriteError(str(exc)) from exc
            self._writes = 0
            self._group_began = time.monotonic()

    def _wrote(self) -> None:
        self._writes += 1
        if self._depth == 0 and (
            self._writes >= self.max_writes or time.monotonic() - self._group_began >= self.max_delay_s
        ):
            self.flush()

    def flush(self) -> None:
        """Commit the open group (one fsync); a no-op without one or inside an `atomic()` block."""
        if self._depth or not self.db.in_transaction:
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:  # e.g. SQLITE_FULL: the whole group is lost, what was committed holds
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StoreWriteError(str(exc)) from exc
        self.commits += 1

    @contextmanager
    def atomic(self) -> Iterator[None]:
        self._begin()
        name = f"a{self._depth}"
        self.db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except sqlite3.Error as exc:
            self._depth -= 1
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise StoreWriteError(str(exc)) from exc
        except BaseException:
            self._depth -= 1
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self._depth -= 1
        self.db.execute(f"RELEASE {name}")
        self._wrote()

    def forget(self, station: str) -> None:
        """Delete everything of `station` (a new unit in its place)."""
        with self.atomic():
            for table in _TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE station=?", (station,))

    def stations(self) -> list[str]:
        """The stations with a transaction recorded (tests and diagnostics)."""
        rows = self.db.execute("SELECT DISTINCT station FROM transactions ORDER BY station")
        return [str(r[0]) for r in rows]


class SharedSqliteStore:
    """Implements `ocpp_station.station.ports.Store` for one station of a `SharedSqliteDatabase`."""

    def __init__(self, database: SharedSqliteDatabase, charge_box_id: str) -> None:
        self.database = database
        self.station = charge_box_id
        self._db = database.db

    def atomic(self) -> AbstractContextManager[None]:
        return self.database.atomic()

    def close(self) -> None:
        """The database is the fleet's: closing a view commits nothing early and closes nothing."""

    def _read(self, sql: str, *params: Any) -> sqlite3.Cursor:
        return self._db.execute(sql, (self.station, *params))

    def _write(self, sql: str, *params: Any) -> sqlite3.Cursor:
        return self.database.execute(sql, (self.station, *params))

    # -- meta and configuration -------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._read("SELECT value FROM meta WHERE station=? AND key=?", key).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta(station, key, value) VALUES (?, ?, ?)", key, value)

    def load_config(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._read("SELECT key, value FROM config WHERE station=?")}

    def save_config(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO config(station, key, value) VALUES (?, ?, ?)", key, value)

    # -- transaction-related message queue (OCPP 1.6 §3.7) ----------------------------------------------
    _Q = "SELECT seq, action, payload, local_tx, unique_id, attempts, not_before FROM tx_queue WHERE station=?"

    def enqueue(self, action: str, payload: dict[str, Any], local_tx: int | None, unique_id: str) -> int:
        cur = self._write(
            "INSERT INTO tx_queue(station, action, payload, local_tx, unique_id) VALUES (?, ?, ?, ?, ?)",
            action,
            dumps(payload),
            local_tx,
            unique_id,
        )
        return int(cur.lastrowid or 0)

    def queue_head(self) -> QueuedMessage | None:
        row = self._read(self._Q + " ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else QueuedMessage(row[0], row[1], json.loads(row[2]), *row[3:])

    def queue_length(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM tx_queue WHERE station=?").fetchone()[0])

    def queue_messages(self) -> list[QueuedMessage]:
        rows = self._read(self._Q + " ORDER BY seq").fetchall()
        return [QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def dequeue(self, seq: int) -> None:
        self._write("DELETE FROM tx_queue WHERE station=? AND seq=?", seq)

    def defer(self, seq: int, attempts: int, not_before: float, unique_id: str) -> None:
        self.database.execute(
            "UPDATE tx_queue SET attempts=?, not_before=?, unique_id=? WHERE station=? AND seq=?",
            (attempts, not_before, unique_id, self.station, seq),
        )

    # -- transactions -----------------------------------------------------------------------------------
    _TX = (
        "SELECT local_id, connector_id, id_tag, parent_id_tag, meter_start, start_time, reservation_id,"
        " transaction_id, start_status, stopped FROM transactions WHERE station=?"
    )

    def create_transaction(
        self,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        meter_start: int,
        start_time: float,
        reservation_id: int | None,
    ) -> int:
        cur = self._write(
            "INSERT INTO transactions(station, connector_id, id_tag, parent_id_tag, meter_start, start_time,"
            " reservation_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            connector_id,
            id_tag,
            parent_id_tag,
            meter_start,
            start_time,
            reservation_id,
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def _tx(r: tuple[Any, ...]) -> TransactionRecord:
        return TransactionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]))

    def transaction_record(self, local_id: int) -> TransactionRecord | None:
        row = self._read(self._TX + " AND local_id=?", local_id).fetchone()
        return None if row is None else self._tx(row)

    def open_transactions(self) -> list[TransactionRecord]:
        return [self._tx(r) for r in self._read(self._TX + " AND stopped=0 ORDER BY local_id").fetchall()]

    def set_transaction_id(self, local_id: int, transaction_id: int | None, start_status: str) -> None:
        self.database.execute(
            "UPDATE transactions SET transaction_id=?, start_status=? WHERE station=? AND local_id=?",
            (transaction_id, start_status, self.station, local_id),
        )

    def mark_stopped(self, local_id: int) -> None:
        self._write("UPDATE transactions SET stopped=1 WHERE station=? AND local_id=?", local_id)

    def set_transaction_parent(self, local_id: int, parent_id_tag: str | None) -> None:
        self.database.execute(
            "UPDATE transactions SET parent_id_tag=? WHERE station=? AND local_id=?",
            (parent_id_tag, self.station, local_id),
        )

    # -- authorization cache and local list (keys compared case-insensitively: OCPP 1.6 §3.9) -----------
    def cache_get(self, id_tag: str) -> IdTagEntry | None:
        sql = "SELECT id_tag, status, expiry, parent_id_tag FROM auth_cache WHERE station=? AND id_tag=?"
        row = self._read(sql, id_tag.upper()).fetchone()
        return None if row is None else IdTagEntry(row[0], row[1], row[2], row[3])

    def cache_put(self, entry: IdTagEntry, now: float, capacity: int) -> None:
        with self.database.atomic():
            self._write(
                "INSERT OR REPLACE INTO auth_cache(station, id_tag, status, expiry, parent_id_tag, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                entry.id_tag.upper(),
                entry.status,
                entry.expiry,
                entry.parent_id_tag,
                now,
            )
            # OCPP 1.6 §3.5.1: when full, evict not-valid entries first, then the oldest valid ones.
            excess = int(self._read("SELECT COUNT(*) FROM auth_cache WHERE station=?").fetchone()[0]) - capacity
            if excess > 0:
                self._write(
                    "DELETE FROM auth_cache WHERE station=?1 AND id_tag IN (SELECT id_tag FROM auth_cache"
                    " WHERE station=?1 ORDER BY status='Accepted', updated LIMIT ?2)",
                    excess,
                )

    def cache_clear(self) -> None:
        self._write("DELETE FROM auth_cache WHERE station=?")

    def local_list_get(self, id_tag: str) -> IdTagEntry | None:
        sql = "SELECT id_tag, status, expiry, parent_id_tag FROM local_list WHERE station=? AND id_tag=?"
        row = self._read(sql, id_tag.upper()).fetchone()
        return None if row is None else IdTagEntry(row[0], row[1], row[2], row[3])

    def local_list_size(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM local_list WHERE station=?").fetchone()[0])

    def local_list_entries(self) -> list[IdTagEntry]:
        sql = "SELECT id_tag, status, expiry, parent_id_tag FROM local_list WHERE station=? ORDER BY id_tag"
        return [IdTagEntry(r[0], r[1], r[2], r[3]) for r in self._read(sql)]

    def local_list_empty(self) -> bool:
        return self._read("SELECT 1 FROM local_list WHERE station=? LIMIT 1").fetchone() is None

    def local_list_known(self, id_tags: list[str]) -> set[str]:
        keys = [t.upper() for t in id_tags]
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._read(f"SELECT id_tag FROM local_list WHERE station=? AND id_tag IN ({marks})", *part)
            found.update(str(r[0]) for r in rows)
        return found

    def local_list_update(self, full: bool, upserts: list[IdTagEntry], deletes: list[str], version: int) -> None:
        with self.database.atomic():
            if full:
                self._write("DELETE FROM local_list WHERE station=?")
            self.database.executemany(
                "INSERT OR REPLACE INTO local_list(station, id_tag, status, expiry, parent_id_tag)"
                " VALUES (?, ?, ?, ?, ?)",
                [(self.station, e.id_tag.upper(), e.status, e.expiry, e.parent_id_tag) for e in upserts],
            )
            self.database.executemany(
                "DELETE FROM local_list WHERE station=? AND id_tag=?", [(self.station, t.upper()) for t in deletes]
            )
            self.set_meta("local_list_version", str(version))

    # -- charging profiles and reservations (bodies kept as the JSON that was received) -----------------
    def profiles(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self._read("SELECT connector_id, body FROM charging_profiles WHERE station=? ORDER BY profile_id")
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def put_profile(self, profile_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._write(
            "INSERT OR REPLACE INTO charging_profiles(station, profile_id, connector_id, body) VALUES (?, ?, ?, ?)",
            profile_id,
            connector_id,
            dumps(body),
        )

    def delete_profiles(self, profile_ids: list[int]) -> None:
        self.database.executemany(
            "DELETE FROM charging_profiles WHERE station=? AND profile_id=?", [(self.station, i) for i in profile_ids]
        )

    def reservations(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT body FROM reservations WHERE station=? ORDER BY reservation_id")
        return [json.loads(r[0]) for r in rows]

    def put_reservation(self, reservation_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._write(
            "INSERT OR REPLACE INTO reservations(station, reservation_id, connector_id, body) VALUES (?, ?, ?, ?)",
            reservation_id,
            connector_id,
            dumps(body),
        )

    def delete_reservation(self, reservation_id: int) -> None:
        self._write("DELETE FROM reservations WHERE station=? AND reservation_id=?", reservation_id)

    # -- installed root certificates and the security log (security whitepaper M03–M05, A04) ------------
    def certificates(self) -> list[CertificateRecord]:
        sql = "SELECT certificate_id, use, pem, issuer_key, fallback FROM certificates WHERE station=? ORDER BY seq"
        return [CertificateRecord(str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), bool(r[4])) for r in self._read(sql)]

    def put_certificate(self, record: CertificateRecord) -> None:
        # ON CONFLICT keeps the row (and so its place in the installation order) of a certificate replaced.
        self._write(
            "INSERT INTO certificates(station, certificate_id, use, pem, issuer_key, fallback)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(station, certificate_id) DO UPDATE SET use=excluded.use,"
            " pem=excluded.pem, issuer_key=excluded.issuer_key, fallback=excluded.fallback",
            record.certificate_id,
            record.use,
            record.pem,
            record.issuer_key,
            int(record.fallback),
        )

    def delete_certificate(self, certificate_id: str) -> None:
        self._write("DELETE FROM certificates WHERE station=? AND certificate_id=?", certificate_id)

    def append_security_log(self, at: float, event: str, tech_info: str, keep: int) -> None:
        self._write("INSERT INTO security_log(station, at, event, tech_info) VALUES (?, ?, ?, ?)", at, event, tech_info)
        # Rolling (A04.FR.04 note): the entry is stored first, the oldest of this station beyond `keep` go after it.
        self._write(
            "DELETE FROM security_log WHERE station=?1 AND seq NOT IN"
            " (SELECT seq FROM security_log WHERE station=?1 ORDER BY seq DESC LIMIT ?2)",
            keep,
        )

    def security_log(self) -> list[SecurityLogEntry]:
        rows = self._read("SELECT seq, at, event, tech_info FROM security_log WHERE station=? ORDER BY seq")
        return [SecurityLogEntry(int(r[0]), float(r[1]), str(r[2]), str(r[3])) for r in rows]
