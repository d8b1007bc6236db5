"""A durable `Store` for fleets: ONE SQLite file (WAL) per fleet process, shared by all its stations.

The schema is the charger's (`stores.sqlite`), every row keyed by its station's chargeBoxId, and a
station's store is its rows (`SqliteStationStore`). Writes are grouped: they go into a transaction the
database keeps open and commits (one fsync, synchronous=FULL) when the fleet calls `flush()` (from its loop,
every 50–100 ms) or when `max_writes` writes or `max_delay_s` seconds have piled up since the group began,
whichever comes first. An `atomic()` block is all or nothing inside the group, and a group is never
committed in the middle of one.

What it survives: a crash of the fleet process (or a power cut) loses at most the last group window: the
writes since the last commit, i.e. up to `max_delay_s` (and at most `max_writes` writes) of every station's
state. Everything committed before survives, each `atomic()` block whole or not at all. This is not the
charger's `SqliteStore`, whose every commit is fsynced before the station acts on it: a fleet station may
have sent a message whose record is then lost with the window. It is for load tests that restart a fleet
and want its stations to come back with their transactions and queues, not for a real charger.
"""

from __future__ import annotations

from pathlib import Path

from ocpp_station.stores.sqlite import TABLES, SqliteDatabase


class SharedSqliteDatabase(SqliteDatabase):
    """The fleet's one database; commits a group of writes at `flush()` or after `max_writes` / `max_delay_s`."""

    def __init__(self, path: Path, max_writes: int = 5000, max_delay_s: float = 0.1) -> None:
        super().__init__(path, max_writes, max_delay_s, what="fleet store")

    def forget(self, station: str) -> None:
        """Delete everything of `station` (a new unit in its place)."""
        with self.atomic():
            for table in TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE station=?", (station,))

    def stations(self) -> list[str]:
        """The stations with a transaction recorded (tests and diagnostics)."""
        rows = self.db.execute("SELECT DISTINCT station FROM transactions ORDER BY station")
        return [str(r[0]) for r in rows]
