"""`ocpp-station fleet --store sqlite`: the fleet's one database holds every station's state; a fleet restarted on
it resumes its stations; a `kill -9` keeps every commit and leaves each station whole (docs/fleet.md, "Stores")."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ocpp_station.fleet.command import on_shared_sqlite, store_path
from ocpp_station.fleet.driver import StationDriver
from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.settings import parse_settings
from ocpp_station.stores.shared_sqlite import SharedSqliteDatabase
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import until


async def test_a_fleet_on_the_sqlite_store_leaves_its_transactions_in_the_file(
    csms: FleetCsms, tmp_path: Path, fast_scenario: Path
) -> None:
    scenario = fast_scenario
    database = tmp_path / "fleet.sqlite"
    argv = ["-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", "20", "--duration", "4", "--quiet"]
    argv += ["--scenario", str(scenario), "--store", "sqlite", "--store-path", str(database)]
    process = await asyncio.create_subprocess_exec(sys.executable, *argv, stdout=subprocess.DEVNULL)
    assert await process.wait() == 0
    with closing(sqlite3.connect(database)) as db:
        stations = {r[0] for r in db.execute("SELECT DISTINCT station FROM transactions")}
        rows = db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
        answered = db.execute("SELECT COUNT(*) FROM transactions WHERE transaction_id IS NOT NULL").fetchone()[0]
    assert stations == {f"CP-{n:05d}" for n in range(1, 21)}
    # Every StartTransaction the CSMS got was recorded before it was sent; the ids it answered were stored.
    started = csms.calls["StartTransaction"]
    assert 0 < answered <= started <= rows


def test_each_shard_gets_its_own_database() -> None:
    assert store_path(Path("d/fleet.sqlite"), (0, 1)) == Path("d/fleet.sqlite")
    assert store_path(Path("d/fleet.sqlite"), (2, 4)) == Path("d/fleet-2.sqlite")


# -- a fleet restarted on its file ---------------------------------------------------------------------------
QUIET = {"WebSocketPingInterval": 0, "MeterValueSampleInterval": 0}


def _sqlite_fleet(
    url: str, count: int, path: Path, configuration: Mapping[str, object]
) -> tuple[Fleet, SharedSqliteDatabase]:
    """A fleet of `count` stations on one shared SQLite file, as `--store sqlite --store-path` makes it."""
    database = SharedSqliteDatabase(path)
    options = FleetOptions(
        csms_url=url,
        ids=station_ids("CP-{n}", count),
        settings=parse_settings({"hardware": {"connectors": 1}}),
        scenario=parse_scenario({"enabled": False, "configuration": configuration}),
        seed=3,
        ramp_per_s=100.0,
    )
    return Fleet(on_shared_sqlite(options, database)), database


def _begin(station: StationDriver, id_tag: str) -> None:
    assert station.controls is not None
    station.controls.present_id_tag(id_tag, 1)
    station.controls.plug(station.core.now(), 1)


def _transaction_id(station: StationDriver) -> int | None:
    tx = station.core.connectors[0].transaction
    return None if tx is None else tx.transaction_id


async def test_a_fleet_restarted_on_its_file_resumes_its_stations(csms: FleetCsms, tmp_path: Path) -> None:
    """What a station had when the fleet stopped, it has after the restart: its undelivered transaction
    messages (sent then, with the transaction ids the CSMS gave before), the transactions it was running (ended
    with reason PowerLoss, OCPP 1.6 §4.10), the configuration the CSMS changed; its ids go on increasing."""
    path = tmp_path / "fleet.sqlite"
    fleet, database = _sqlite_fleet(csms.url, 6, path, QUIET)
    cut, unanswered_stop, unanswered_start, running, _, untouched = fleet.drivers
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=20)
        csms.unanswered |= {("CP-2", "StopTransaction"), ("CP-3", "StartTransaction")}
        for station in (cut, unanswered_stop, unanswered_start, running):
            _begin(station, f"TAG-{station.charge_box_id}")
        await until(lambda: all(_transaction_id(s) is not None for s in (cut, unanswered_stop, running)))
        given = {s.charge_box_id: _transaction_id(s) for s in (cut, unanswered_stop, running)}
        # CP-1: its network is cut, then the driver ends the session: the StopTransaction waits in the queue.
        cut.set_online(False)
        assert cut.controls is not None and unanswered_stop.controls is not None
        cut.controls.present_id_tag("TAG-CP-1", 1)
        # CP-2: the CSMS receives its StopTransaction and never answers it.
        unanswered_stop.controls.present_id_tag("TAG-CP-2", 1)
        # CP-3: the CSMS receives its StartTransaction and never answers it (the transaction has no id yet).
        # CP-4: charging when the fleet stops. CP-5: a key changed by the CSMS (the scenario sets 0 everywhere).
        change = {"key": "MeterValueSampleInterval", "value": "300"}
        assert await csms.call("CP-5", "ChangeConfiguration", change) == {"status": "Accepted"}
        await csms.wait_until(lambda c: bool(c.of("CP-2", "StopTransaction") and c.of("CP-3", "StartTransaction")))
        await until(lambda: cut.core.store.queue_length() == 1)
        last_local_id = int(database.db.execute("SELECT MAX(local_id) FROM transactions").fetchone()[0])
    finally:
        fleet.stop()
        database.close()
    await csms.wait_until(lambda c: not any(c.linked(s.charge_box_id) for s in fleet.drivers))
    csms.unanswered.clear()
    assert not csms.of("CP-1", "StopTransaction")

    # The restart: every station's connection 2 (CP-1's connection 1 was cut before it could send anything).
    fleet, database = _sqlite_fleet(csms.url, 6, path, QUIET)
    untouched = fleet.drivers[5]
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=20)

        def stops(c: FleetCsms, station: str) -> list[dict[str, Any]]:
            return [r.payload for r in c.of(station, "StopTransaction") if r.connection == 2]

        await csms.wait_until(lambda c: all(stops(c, f"CP-{n}") for n in range(1, 5)))
        # The messages that were waiting, with the ids the CSMS gave in the first run.
        [stop] = stops(csms, "CP-1")
        assert (stop["transactionId"], stop["reason"]) == (given["CP-1"], "Local")
        [stop] = stops(csms, "CP-2")
        assert (stop["transactionId"], stop["reason"]) == (given["CP-2"], "Local")
        assert [r.payload["transactionId"] for r in csms.of("CP-2", "StopTransaction")] == [given["CP-2"]] * 2
        # A transaction running at the stop was cut by it: ended at the restart (PowerLoss) with its own id.
        [stop] = stops(csms, "CP-4")
        assert (stop["transactionId"], stop["reason"]) == (given["CP-4"], "PowerLoss")
        [start] = [r.payload for r in csms.of("CP-4", "StartTransaction")]
        assert stop["meterStop"] >= start["meterStart"]
        # The unanswered StartTransaction is sent again (the same one), and the StopTransaction that ends its
        # transaction carries the id the CSMS gives it now, not -1 (OCPP 1.6 errata v4.0 3.18).
        first, again = (r.payload for r in csms.of("CP-3", "StartTransaction"))
        assert again == first
        [stop] = stops(csms, "CP-3")
        assert stop["reason"] == "PowerLoss" and csms.transaction_ids[stop["transactionId"]] == "CP-3"
        # The configuration the CSMS set survived; the others kept the scenario's.
        for charge_box_id, value in (("CP-5", "300"), ("CP-6", "0")):
            reply = await csms.call(charge_box_id, "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
            assert reply["configurationKey"][0]["value"] == value
        # A new transaction takes a local id after every one of the first run.
        _begin(untouched, "TAG-NEW")
        await until(lambda: _transaction_id(untouched) is not None)
        tx = untouched.core.connectors[0].transaction
        assert tx is not None and tx.local_id > last_local_id
        # Nothing left behind: every queue drained, no transaction of the first run still open.
        await until(lambda: all(d.core.store.queue_length() == 0 for d in fleet.drivers))
        still_open = database.db.execute("SELECT station FROM transactions WHERE stopped=0").fetchall()
        assert still_open == [("CP-6",)]
    finally:
        fleet.stop()
        database.close()


# -- kill -9 -------------------------------------------------------------------------------------------------
# Sessions started and stopped through the control API; MeterValues every second while they run (store writes
# all along), nothing else.
KILL_SCENARIO = (
    "enabled = false\n[configuration]\nWebSocketPingInterval = 0\nMeterValueSampleInterval = 1\n"
    "ClockAlignedDataInterval = 0\n"
)
TABLES = ("meta", "config", "tx_queue", "transactions", "auth_cache", "local_list", "security_log")


async def _api_base(process: asyncio.subprocess.Process) -> str:
    """The control API's address, from the line the command prints once it listens."""
    assert process.stderr is not None
    async with asyncio.timeout(20):
        while line := (await process.stderr.readline()).decode():
            if line.startswith("control API on "):
                return line.removeprefix("control API on ").strip().removesuffix("/api/stations")
    raise AssertionError("the fleet ended without starting its control API")


async def _observed(db: sqlite3.Connection, sql: str, expected: object) -> None:
    """Wait until the file, read by another connection (which sees committed groups only), answers `expected`."""
    await until(lambda: db.execute(sql).fetchall() == expected)


def _content(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}


def _inconsistencies(db: sqlite3.Connection) -> list[str]:
    """What no savepoint boundary could leave: a station's data half before and half after one of its `atomic()`
    blocks (core_profile: a transaction is created with its queued StartTransaction, its id set as that message
    leaves the queue, it is marked stopped with its StopTransaction queued)."""
    problems = []
    queued = db.execute("SELECT station, action, local_tx FROM tx_queue WHERE local_tx IS NOT NULL").fetchall()
    transactions = {
        (station, local_id): (status, stopped)
        for station, local_id, status, stopped in db.execute(
            "SELECT station, local_id, start_status, stopped FROM transactions"
        )
    }
    for station, action, local_tx in queued:
        if (station, local_tx) not in transactions:
            problems.append(f"{station}: {action} queued for a transaction {local_tx} not in the file")
    starts = {(s, tx) for s, action, tx in queued if action == "StartTransaction"}
    stops = {(s, tx) for s, action, tx in queued if action == "StopTransaction"}
    for key, (status, stopped) in transactions.items():
        if (status == "queued") != (key in starts):
            problems.append(f"{key}: start_status {status} but StartTransaction queued: {key in starts}")
        if key in stops and not stopped:
            problems.append(f"{key}: a StopTransaction queued for a transaction not marked stopped")
    for action in ("StartTransaction", "StopTransaction"):
        twice = db.execute(
            "SELECT station, local_tx FROM tx_queue WHERE action=? GROUP BY station, local_tx HAVING COUNT(*) > 1",
            (action,),
        ).fetchall()
        problems += [f"{key}: {action} queued twice" for key in twice]
    return problems


@pytest.mark.parametrize("quiesced", [False, True], ids=["while-charging", "after-the-flush"])
async def test_kill_9_keeps_every_commit_and_leaves_each_station_whole(
    csms: FleetCsms, tmp_path: Path, quiesced: bool
) -> None:
    """`kill -9` of a fleet process on `--store sqlite`: what a reader of the file saw committed before the kill
    is there after it (only the group still open can be lost), and every station's data is whole (before or
    after each of its savepoints, never in between). `after-the-flush`: the traffic is quiesced (network cut,
    sessions stopped offline), the StopTransactions it queued are seen committed, then the kill: the file is
    exactly what was seen. `while-charging`: killed while every station writes its MeterValues.
    Then a fleet on the file resumes: each station ends its session with the id the CSMS gave it."""
    count = 10
    ids = station_ids("CP-{n}", count)
    path, scenario = tmp_path / "fleet.sqlite", tmp_path / "kill.toml"
    scenario.write_text(KILL_SCENARIO)
    argv = ["-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", str(count), "--id-pattern", "CP-{n}"]
    argv += ["--scenario", str(scenario), "--store", "sqlite", "--store-path", str(path), "--api", "127.0.0.1:0"]
    argv += ["--ramp", "100", "--quiet"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        base = await _api_base(process)
        await csms.wait_until(lambda c: c.calls["BootNotification"] == count)
        async with aiohttp.ClientSession() as http:
            for charge_box_id in ids:
                station = f"{base}/api/stations/{charge_box_id}"
                async with http.post(f"{station}/rfid", json={"idTag": f"K-{charge_box_id}", "connectorId": 1}) as r:
                    assert r.status == 200
                async with http.post(f"{station}/connectors/1/plug") as r:
                    assert r.status == 200
            await csms.wait_until(lambda c: len(c.transaction_ids) == count and c.calls["MeterValues"] >= count)
            given = {station: tx for tx, station in csms.transaction_ids.items()}
            with closing(sqlite3.connect(path)) as reader:
                await _observed(
                    reader,
                    "SELECT station, transaction_id FROM transactions ORDER BY transaction_id",
                    sorted(given.items(), key=lambda item: item[1]),
                )
                if quiesced:
                    async with http.post(f"{base}/api/fleet/network", json={"share": 1.0, "online": False}) as r:
                        assert r.status == 200
                    for charge_box_id in ids:
                        body = {"idTag": f"K-{charge_box_id}", "connectorId": 1}
                        async with http.post(f"{base}/api/stations/{charge_box_id}/rfid", json=body) as r:
                            assert r.status == 200
                    await _observed(
                        reader,
                        "SELECT station FROM tx_queue WHERE action='StopTransaction' ORDER BY station",
                        sorted((i,) for i in ids),
                    )
                seen = _content(reader)
        process.kill()
        assert await process.wait() == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert _inconsistencies(db) == []
        after = _content(db)
    if quiesced:
        assert after == seen
    else:
        # A transaction, once its id is set, only ever gains a stop mark: every one seen is there, as seen or
        # stopped since (columns: local_id, station, ..., transaction_id, start_status, stopped).
        transactions = {row[:2]: row for row in after["transactions"]}
        for row in seen["transactions"]:
            assert transactions[row[:2]][:10] == row[:10] and transactions[row[:2]][10] >= row[10]
        assert {(row[1], row[8]) for row in after["transactions"]} == set(given.items())

    # A fleet on the file: each station's session ends with the id the CSMS gave it in the first run, the
    # StopTransaction queued offline (reason Local) or, for a transaction the kill cut, PowerLoss (OCPP 1.6 §4.10).
    fleet, database = _sqlite_fleet(csms.url, count, path, QUIET)
    fleet.start()
    try:
        await csms.wait_until(lambda c: all(c.of(i, "StopTransaction") for i in ids))
        for charge_box_id in ids:
            [stop] = csms.of(charge_box_id, "StopTransaction")
            assert stop.payload["transactionId"] == given[charge_box_id]
            assert stop.payload["reason"] == ("Local" if quiesced else "PowerLoss")
        # The MeterValues committed before the kill go out too, with their transaction's id.
        await until(lambda: all(d.core.store.queue_length() == 0 for d in fleet.drivers))
        for received in csms.received:
            if received.action == "MeterValues" and "transactionId" in received.payload:
                assert received.payload["transactionId"] == given[received.station]
    finally:
        fleet.stop()
        database.close()
