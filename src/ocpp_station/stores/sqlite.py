"""The durable `Store` on SQLite (WAL): one schema, every row keyed by its station.

A `SqliteDatabase` is one file; a `SqliteStationStore` is one station's rows in it. The charger's own store,
`SqliteStore`, is a file of its own whose station key is '' and whose every write is committed, the WAL
fsynced (synchronous=FULL), before the station acts on it or acknowledges it anywhere: a power cut at any
instant loses nothing that was reported. A fleet shares one database among its stations and commits their
writes in groups (`stores.shared_sqlite`, where what that survives is said).

Files written before the station key existed (schema version 1 of the charger's store: the same tables without
the `station` column) are migrated when opened, in one transaction.
"""

from __future__ import annotations

import fcntl
import json
import os
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

SCHEMA_VERSION = 2

# The row ids of the queue, the transactions, the certificates and the security log are shared by the stations
# of a database (AUTOINCREMENT): each station's still increase, which is all the port asks of them.
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

TABLES = (
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


def _claim(path: Path, what: str) -> int:
    """An exclusive flock(2) on the database file, held until the database is closed (or its process dies).

    One writer per file: a second `ocpp-station run` with the same data directory and chargeBoxId, or a second
    fleet on the same `--store-path`, would interleave its writes with ours under the same keys. It is refused
    at open, in one line. Readers (the sqlite3 shell, the crash harness) take no flock and are not refused.
    flock and not fcntl: SQLite's own locks are fcntl byte-range locks, which an flock does not touch. But
    closing any descriptor of the file drops the process's fcntl locks on it, so this one is closed only after
    SQLite's connection."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"cannot open the {what} {path}: it is in use by another process") from None
    return fd


class SqliteDatabase:
    """One SQLite file (WAL, synchronous=FULL). Writes go into a group, committed (one fsync) by `flush()`, or
    once `max_writes` writes or `max_delay_s` seconds have piled up since the group began, whichever comes
    first. The defaults (one write) commit every write before it returns: the charger's durability. An
    `atomic()` block is all or nothing and never split by a commit: a savepoint inside the open group, or the
    group itself when none was open."""

    def __init__(self, path: Path, max_writes: int = 1, max_delay_s: float = 0.0, what: str = "station store") -> None:
        db, claim = None, -1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            claim = _claim(path, what)
            db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self.db = db
            self._create_schema()
        except (OSError, sqlite3.Error) as exc:
            if db is not None:
                db.close()
            if claim >= 0:
                os.close(claim)  # after SQLite's connection: see _claim
            raise StoreError(f"cannot open the {what} {path}: {exc}") from None
        self._claim = claim
        self.path = path
        self.max_writes = max_writes
        self.max_delay_s = max_delay_s
        self.commits = 0
        self._writes = 0
        self._group_began = 0.0
        self._depth = 0  # open atomic() blocks (savepoints); no group commit while one is open

    def _create_schema(self) -> None:
        """The tables, created, or migrated from version 1, in one transaction: a crash leaves the file as it was."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = [t for t in TABLES if (columns := _columns(db, t)) and "station" not in columns]
            for table in old:
                db.execute(f"ALTER TABLE {table} RENAME TO {table}_v1")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table in old:
                _copy_v1_rows(db, table)
            db.execute(
                "INSERT OR REPLACE INTO meta(station, key, value) VALUES ('', 'schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except BaseException:
            if db.in_transaction:  # some errors (SQLITE_FULL) have rolled it back already
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        if self._claim < 0:
            return
        try:
            self.flush()
        finally:
            self.db.close()
            os.close(self._claim)  # after SQLite's connection: see _claim
            self._claim = -1

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok", or what is wrong (the fuzzer checks it after each run)."""
        row = self.db.execute("PRAGMA integrity_check").fetchone()
        return "no answer" if row is None else str(row[0])

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """One write, in the open group (begun here if none is)."""
        if self.max_writes == 1 and not self.db.in_transaction:
            return self._execute_committed(sql, params)
        self._begin()
        try:
            cursor = self.db.execute(sql, params)
        except sqlite3.Error as exc:
            if self._depth == 0:
                self._end_empty_group()
                raise StoreWriteError(str(exc)) from exc
            raise  # the enclosing atomic() undoes its whole block
        self._wrote()
        return cursor

    def _execute_committed(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        """A write that is a group of its own: SQLite's autocommit commits it, a BEGIN and a COMMIT fewer."""
        try:
            cursor = self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreWriteError(str(exc)) from exc
        self.commits += 1
        return cursor

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._begin()
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            if self._depth == 0:
                self._end_empty_group()
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

    def _end_empty_group(self) -> None:
        """After a failed write: a group begun for it alone holds nothing, and must not keep the write lock."""
        if self._depth == 0 and self._writes == 0 and self.db.in_transaction:
            self.db.execute("ROLLBACK")

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
        # A block that opens the group needs no savepoint: undoing it is undoing the group (and a charger's
        # every block opens one).
        opens_group = not self.db.in_transaction
        self._begin()
        writes_before = self._writes
        name = f"a{self._depth}"
        if not opens_group:
            self.db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except sqlite3.Error as exc:
            self._undo(name if not opens_group else None, writes_before)
            raise StoreWriteError(str(exc)) from exc
        except BaseException:
            self._undo(name if not opens_group else None, writes_before)
            raise
        self._depth -= 1
        if not opens_group:
            self.db.execute(f"RELEASE {name}")
        self._wrote()

    def _undo(self, savepoint: str | None, writes_before: int) -> None:
        self._depth -= 1
        if not self.db.in_transaction:  # SQLite rolled the whole group back itself (e.g. SQLITE_FULL)
            self._writes = 0
        elif savepoint is None:
            self.db.execute("ROLLBACK")
        else:
            # The group was open before the block, so it keeps the writes it had: nothing to end here.
            self.db.execute(f"ROLLBACK TO {savepoint}")
            self.db.execute(f"RELEASE {savepoint}")
            self._writes = writes_before  # the block's writes are gone with its savepoint


class SqliteStationStore:
    """Implements `ocpp_station.station.ports.Store` for one station's rows of a `SqliteDatabase`."""

    def __init__(self, database: SqliteDatabase, station: str) -> None:
        self.database = database
        self.station = station
        self._db = database.db

    def atomic(self) -> AbstractContextManager[None]:
        return self.database.atomic()

    def close(self) -> None:
        """A view of a shared database: closing it commits nothing early and closes nothing (its owner does)."""

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

    @staticmethod
    def _queued(r: tuple[Any, ...]) -> QueuedMessage:
        return QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6])

    def queue_head(self) -> QueuedMessage | None:
        row = self._read(self._Q + " ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else self._queued(row)

    def queue_length(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM tx_queue WHERE station=?").fetchone()[0])

    def queue_messages(self) -> list[QueuedMessage]:
        return [self._queued(r) for r in self._read(self._Q + " ORDER BY seq").fetchall()]

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
        # Rolling (A04.FR.04 note): the entry is stored first, then this station's beyond the newest `keep` go.
        self._write(
            "DELETE FROM security_log WHERE station=?1 AND seq <= (SELECT seq FROM security_log WHERE station=?1"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            keep,
        )

    def security_log(self) -> list[SecurityLogEntry]:
        rows = self._read("SELECT seq, at, event, tech_info FROM security_log WHERE station=? ORDER BY seq")
        return [SecurityLogEntry(int(r[0]), float(r[1]), str(r[2]), str(r[3])) for r in rows]


class SqliteStore(SqliteStationStore):
    """The charger's store: a file of its own, every write committed (and fsynced) before it returns."""

    def __init__(self, path: Path) -> None:
        super().__init__(SqliteDatabase(path), "")

    @property
    def path(self) -> Path:
        return self.database.path

    def close(self) -> None:
        self.database.close()

    def integrity_check(self) -> str:
        return self.database.integrity_check()


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]


def _copy_v1_rows(db: sqlite3.Connection, table: str) -> None:
    """A version-1 table's rows into its new table as station '' (the charger's own), then the old table dropped.
    AUTOINCREMENT's high-water mark is carried over: a row id once given (a message since dequeued) is not
    given again."""
    columns = ", ".join(_columns(db, f"{table}_v1"))
    db.execute(f"INSERT INTO {table}(station, {columns}) SELECT '', {columns} FROM {table}_v1")
    mark = db.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (f"{table}_v1",)).fetchone()
    if mark is not None:
        db.execute("DELETE FROM sqlite_sequence WHERE name=?", (table,))
        db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, mark[0]))
    db.execute(f"DROP TABLE {table}_v1")
