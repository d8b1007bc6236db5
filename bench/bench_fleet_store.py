"""What a fleet's durable store costs per transaction: one SQLite file per station vs one shared file.

N stations each run `--sessions` charging sessions as the station core writes them (a transaction record, a
queued StartTransaction answered and dequeued, `--meter-values` queued MeterValues sent and dequeued, the stop
and its StopTransaction), interleaved station by station as a fleet's loop does. Stores: in-memory, the
charger's `SqliteStore` (one file and an fsync per commit, per station) and a `SharedSqliteDatabase` (one file,
writes grouped, committed at `max_delay_s`). Prints writes/s and commits (fsyncs) per store.

Run: .venv/bin/python bench/bench_fleet_store.py [--stations 200] [--sessions 5] [--meter-values 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ocpp_station.station.ports import Store
from ocpp_station.stores.memory import MemoryStore
from ocpp_station.stores.shared_sqlite import SharedSqliteDatabase
from ocpp_station.stores.sqlite import SqliteStationStore, SqliteStore


def session(store: Store, meter_values: int) -> int:
    """One charging session's writes, each committed on its own as the station core does; returns the count."""
    with store.atomic():
        local_id = store.create_transaction(1, "TAG", None, 0, 0.0, None)
        seq = store.enqueue("StartTransaction", {"connectorId": 1}, local_id, "s")
    with store.atomic():
        store.set_transaction_id(local_id, 1, "accepted")
        store.dequeue(seq)
    for n in range(meter_values):
        seq = store.enqueue("MeterValues", {"n": n}, local_id, f"m{n}")
        store.dequeue(seq)
    with store.atomic():
        store.mark_stopped(local_id)
        seq = store.enqueue("StopTransaction", {"meterStop": 1}, local_id, "e")
    store.dequeue(seq)
    return 3 + 2 * meter_values + 1


def run(name: str, stores: list[Store], args: argparse.Namespace, commits: Callable[[], int | str]) -> None:
    started = time.perf_counter()
    writes = 0
    for _ in range(args.sessions):
        for store in stores:
            writes += session(store, args.meter_values)
    elapsed = time.perf_counter() - started
    print(f"{name:<34} {writes:>8} writes  {writes / elapsed:>10.0f} writes/s  commits {commits()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--meter-values", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("memory", [MemoryStore() for _ in range(args.stations)], args, lambda: 0)
        per_station: list[Store] = [SqliteStore(Path(tmp) / f"{n}.sqlite") for n in range(args.stations)]
        run("SqliteStore (file per station)", per_station, args, lambda: "one per write")
        database = SharedSqliteDatabase(Path(tmp) / "fleet.sqlite", max_delay_s=0.05)
        shared: list[Store] = [SqliteStationStore(database, f"CP-{n}") for n in range(args.stations)]
        run("SharedSqliteDatabase (50 ms groups)", shared, args, lambda: database.commits)
        database.close()


if __name__ == "__main__":
    main()
