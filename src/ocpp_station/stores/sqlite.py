"""The durable `Store`: one SQLite file per station (WAL).

Every write that the station later relies on is committed before the station acts on it or acknowledges
it anywhere (synchronous=FULL: the WAL is fsynced at each commit), so a power cut at any instant loses
nothing that was reported.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
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

_SCHEMA = """
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


class SqliteStore:
    """Implements `ocpp_station.station.ports.Store`; every commit is fsynced (synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the station store {path}: {exc}") from None
        self.path = path
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self._db.close()

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok", or what is wrong (the fuzzer checks it after each run)."""
        row = self._db.execute("PRAGMA integrity_check").fetchone()
        return "no answer" if row is None else str(row[0])

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreWriteError(str(exc)) from exc
        try:
            yield self._db
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreWriteError(str(exc)) from exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # e.g. SQLITE_FULL at commit: nothing of the block was stored
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreWriteError(str(exc)) from exc

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- configuration (ConfigPersistence) ------------------------------------------------------
    def load_config(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM config")}

    def save_config(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO config(key, value) VALUES (?, ?)", (key, value))

    # -- transaction-related message queue (OCPP 1.6 §3.7) --------------------------------------
    def enqueue(self, action: str, payload: dict[str, Any], local_tx: int | None, unique_id: str) -> int:
        cur = self._db.execute(
            "INSERT INTO tx_queue(action, payload, local_tx, unique_id) VALUES (?, ?, ?, ?)",
            (action, dumps(payload), local_tx, unique_id),
        )
        return int(cur.lastrowid or 0)

    def queue_head(self) -> QueuedMessage | None:
        row = self._db.execute(
            "SELECT seq, action, payload, local_tx, unique_id, attempts, not_before FROM tx_queue ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedMessage(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])

    def queue_length(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM tx_queue").fetchone()[0])

    def queue_messages(self) -> list[QueuedMessage]:
        rows = self._db.execute(
            "SELECT seq, action, payload, local_tx, unique_id, attempts, not_before FROM tx_queue ORDER BY seq"
        ).fetchall()
        return [QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def dequeue(self, seq: int) -> None:
        self._db.execute("DELETE FROM tx_queue WHERE seq=?", (seq,))

    def defer(self, seq: int, attempts: int, not_before: float, unique_id: str) -> None:
        self._db.execute(
            "UPDATE tx_queue SET attempts=?, not_before=?, unique_id=? WHERE seq=?",
            (attempts, not_before, unique_id, seq),
        )

    # -- transactions ---------------------------------------------------------------------------
    _TX_COLUMNS = (
        "local_id, connector_id, id_tag, parent_id_tag, meter_start, start_time, reservation_id,"
        " transaction_id, start_status, stopped"
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
        cur = self._db.execute(
            "INSERT INTO transactions(connector_id, id_tag, parent_id_tag, meter_start, start_time,"
            " reservation_id) VALUES (?, ?, ?, ?, ?, ?)",
            (connector_id, id_tag, parent_id_tag, meter_start, start_time, reservation_id),
        )
        return int(cur.lastrowid or 0)

    def _tx(self, row: tuple[Any, ...]) -> TransactionRecord:
        return TransactionRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], bool(row[9]))

    def transaction_record(self, local_id: int) -> TransactionRecord | None:
        row = self._db.execute(f"SELECT {self._TX_COLUMNS} FROM transactions WHERE local_id=?", (local_id,)).fetchone()
        return None if row is None else self._tx(row)

    def open_transactions(self) -> list[TransactionRecord]:
        rows = self._db.execute(
            f"SELECT {self._TX_COLUMNS} FROM transactions WHERE stopped=0 ORDER BY local_id"
        ).fetchall()
        return [self._tx(r) for r in rows]

    def set_transaction_id(self, local_id: int, transaction_id: int | None, start_status: str) -> None:
        self._db.execute(
            "UPDATE transactions SET transaction_id=?, start_status=? WHERE local_id=?",
            (transaction_id, start_status, local_id),
        )

    def mark_stopped(self, local_id: int) -> None:
        self._db.execute("UPDATE transactions SET stopped=1 WHERE local_id=?", (local_id,))

    def set_transaction_parent(self, local_id: int, parent_id_tag: str | None) -> None:
        self._db.execute("UPDATE transactions SET parent_id_tag=? WHERE local_id=?", (parent_id_tag, local_id))

    # -- authorization cache and local list (keys compared case-insensitively: OCPP 1.6 §3.9) ---
    def cache_get(self, id_tag: str) -> IdTagEntry | None:
        row = self._db.execute(
            "SELECT id_tag, status, expiry, parent_id_tag FROM auth_cache WHERE id_tag=?", (id_tag.upper(),)
        ).fetchone()
        return None if row is None else IdTagEntry(row[0], row[1], row[2], row[3])

    def cache_put(self, entry: IdTagEntry, now: float, capacity: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO auth_cache(id_tag, status, expiry, parent_id_tag, updated)"
                " VALUES (?, ?, ?, ?, ?)",
                (entry.id_tag.upper(), entry.status, entry.expiry, entry.parent_id_tag, now),
            )
            # OCPP 1.6 §3.5.1: when full, evict not-valid entries first, then the oldest valid ones.
            excess = int(db.execute("SELECT COUNT(*) FROM auth_cache").fetchone()[0]) - capacity
            if excess > 0:
                db.execute(
                    "DELETE FROM auth_cache WHERE id_tag IN (SELECT id_tag FROM auth_cache"
                    " ORDER BY status='Accepted', updated LIMIT ?)",
                    (excess,),
                )

    def cache_clear(self) -> None:
        self._db.execute("DELETE FROM auth_cache")

    def local_list_get(self, id_tag: str) -> IdTagEntry | None:
        row = self._db.execute(
            "SELECT id_tag, status, expiry, parent_id_tag FROM local_list WHERE id_tag=?", (id_tag.upper(),)
        ).fetchone()
        return None if row is None else IdTagEntry(row[0], row[1], row[2], row[3])

    def local_list_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0])

    def local_list_entries(self) -> list[IdTagEntry]:
        rows = self._db.execute("SELECT id_tag, status, expiry, parent_id_tag FROM local_list ORDER BY id_tag")
        return [IdTagEntry(r[0], r[1], r[2], r[3]) for r in rows]

    def local_list_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM local_list LIMIT 1").fetchone() is None

    def local_list_known(self, id_tags: list[str]) -> set[str]:
        """Which of `id_tags` the list holds (upper-cased): primary-key lookups, 500 per query."""
        keys = [t.upper() for t in id_tags]
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT id_tag FROM local_list WHERE id_tag IN ({marks})", part)
            found.update(str(r[0]) for r in rows)
        return found

    def local_list_update(self, full: bool, upserts: list[IdTagEntry], deletes: list[str], version: int) -> None:
        with self._transaction() as db:
            if full:
                db.execute("DELETE FROM local_list")
            db.executemany(
                "INSERT OR REPLACE INTO local_list(id_tag, status, expiry, parent_id_tag) VALUES (?, ?, ?, ?)",
                [(e.id_tag.upper(), e.status, e.expiry, e.parent_id_tag) for e in upserts],
            )
            db.executemany("DELETE FROM local_list WHERE id_tag=?", [(t.upper(),) for t in deletes])
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('local_list_version', ?)", (str(version),))

    # -- charging profiles and reservations (bodies kept as the JSON that was received) ----------
    def profiles(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self._db.execute("SELECT connector_id, body FROM charging_profiles ORDER BY profile_id")
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def put_profile(self, profile_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO charging_profiles(profile_id, connector_id, body) VALUES (?, ?, ?)",
            (profile_id, connector_id, dumps(body)),
        )

    def delete_profiles(self, profile_ids: list[int]) -> None:
        self._db.executemany("DELETE FROM charging_profiles WHERE profile_id=?", [(i,) for i in profile_ids])

    def reservations(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT body FROM reservations ORDER BY reservation_id")
        return [json.loads(r[0]) for r in rows]

    def put_reservation(self, reservation_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO reservations(reservation_id, connector_id, body) VALUES (?, ?, ?)",
            (reservation_id, connector_id, dumps(body)),
        )

    def delete_reservation(self, reservation_id: int) -> None:
        self._db.execute("DELETE FROM reservations WHERE reservation_id=?", (reservation_id,))

    # -- installed root certificates and the security log (security whitepaper M03–M05, A04) -------
    def certificates(self) -> list[CertificateRecord]:
        rows = self._db.execute("SELECT certificate_id, use, pem, issuer_key, fallback FROM certificates ORDER BY seq")
        return [CertificateRecord(str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), bool(r[4])) for r in rows]

    def put_certificate(self, record: CertificateRecord) -> None:
        # ON CONFLICT keeps the row (and so its place in the installation order) of a certificate replaced.
        self._db.execute(
            "INSERT INTO certificates(certificate_id, use, pem, issuer_key, fallback) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(certificate_id) DO UPDATE SET use=excluded.use, pem=excluded.pem, "
            "issuer_key=excluded.issuer_key, fallback=excluded.fallback",
            (record.certificate_id, record.use, record.pem, record.issuer_key, int(record.fallback)),
        )

    def delete_certificate(self, certificate_id: str) -> None:
        self._db.execute("DELETE FROM certificates WHERE certificate_id=?", (certificate_id,))

    def append_security_log(self, at: float, event: str, tech_info: str, keep: int) -> None:
        cursor = self._db.execute(
            "INSERT INTO security_log(at, event, tech_info) VALUES (?, ?, ?)", (at, event, tech_info)
        )
        # Rolling (A04.FR.04 note): the entry is stored first, the oldest beyond `keep` go after it.
        self._db.execute("DELETE FROM security_log WHERE seq <= ?", (int(cursor.lastrowid or 0) - keep,))

    def security_log(self) -> list[SecurityLogEntry]:
        rows = self._db.execute("SELECT seq, at, event, tech_info FROM security_log ORDER BY seq")
        return [SecurityLogEntry(int(r[0]), float(r[1]), str(r[2]), str(r[3])) for r in rows]
