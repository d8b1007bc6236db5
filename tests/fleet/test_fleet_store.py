"""`ocpp-station fleet --store sqlite`: the fleet's one database holds every station's transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from ocpp_station.fleet.command import store_path
from tests.support.fleet_csms import FleetCsms


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
