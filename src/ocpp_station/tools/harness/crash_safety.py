"""Crash safety of the transaction-related message queue (OCPP 1.6 §3.7), tested from the outside.

A real station process (`python -m ocpp_station run --keep-trying`) runs charging sessions on both
connectors against a recording central system (`ScriptedCsms`, every frame schema-checked) while it is
killed with SIGKILL at random instants (and restarted on the same data dir) and its link is dropped at
random instants (the control API's network switch, or the central system closing the connection). Then
everything is ended, the queue drained, and the central system's record is held against the station's store.

What the station "created": every transaction-related message is a row of the store's `tx_queue`, whose
`seq` is an AUTOINCREMENT key, so SQLite's `sqlite_sequence` holds the number of rows ever inserted
(never reused, updated in the same commit as the insert). Every row keeps its uniqueId for life (a resend
reuses it, OCPP-J errata 3.1), so the distinct uniqueIds of the StartTransaction / StopTransaction /
MeterValues requests the central system received are the rows delivered; with the queue empty at the end,
created − delivered is what was lost (dropped rows included). The `transactions` table adds the
per-transaction view: each row was inserted in the same commit as its StartTransaction row, and marked
stopped in the same commit as its StopTransaction row, so each row must match exactly one delivered
StartTransaction (the central system's transactionId is stored in it) and exactly one StopTransaction.

The recording central system answers a StartTransaction it has already answered (same uniqueId: the one
in flight when the station died) with the same transactionId, as a central system must to make the
permitted resend harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import signal
import socket
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.rpc import Call, Payload
from ocpp_station.shell.runtime import store_path
from ocpp_station.tools.harness.control_client import ControlClient
from ocpp_station.tools.harness.csms import CaseFailure, ScriptedCsms, StationCall
from ocpp_station.tools.harness.settings import HarnessSettings

QUEUED_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")
CHARGE_BOX_ID = "CRASH-CP-1"
ENERGY = "Energy.Active.Import.Register"
CHARGING = ("Charging", "SuspendedEV", "SuspendedEVSE")  # a transaction runs (offline: no id on display yet)
# Station timestamps come from its wall clock, which the central system sets (BootNotification /
# Heartbeat currentTime, OCPP 1.6 §4.2): across such a correction two messages created a few
# milliseconds apart may swap their timestamps. The exact ordering evidence is per connector.
CLOCK_JITTER_S = 0.05

STATION_CONFIG = """\
[network]
reconnect_min_s = 0.2
reconnect_max_s = 1.0

[configuration]
MeterValueSampleInterval = {interval}
MeterValuesSampledData = "Energy.Active.Import.Register,Power.Active.Import"
ClockAlignedDataInterval = 0
LocalAuthorizeOffline = true
AllowOfflineTxForUnknownId = true
"""


@dataclass(frozen=True, slots=True)
class CrashPlan:
    seed: int
    sessions: int = 16  # charging sessions started (over both connectors)
    kills: int = 4  # SIGKILLs, each at a random instant during a random session
    link_drops: int = 4  # network pulled (or closed by the central system) at random instants
    sample_interval: int = 1  # MeterValueSampleInterval, s
    latency_s: float = 0.05  # each way, between station and central system
    session_s: tuple[float, float] = (0.5, 4.0)  # how long a session charges
    drain_timeout_s: float = 60.0


@dataclass(slots=True)
class CrashReport:
    sessions: int = 0  # transactions the station created (store)
    kills: int = 0
    link_drops: int = 0
    created: int = 0  # transaction-related messages the station created (sqlite_sequence of tx_queue)
    delivered: int = 0  # distinct ones the central system received
    duplicated: int = 0  # extra receptions of an already received message
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.created - self.delivered

    def summary(self) -> str:
        return (
            f"sessions {self.sessions}, kills {self.kills}, link drops {self.link_drops}, messages created"
            f" {self.created}, delivered {self.delivered}, lost {self.lost}, duplicated {self.duplicated}"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StationProcess:
    """`python -m ocpp_station run --keep-trying` on one data dir; a new control API port per start."""

    def __init__(
        self, csms_url: str, data_dir: Path, config: Path, log: Path, charge_box_id: str = CHARGE_BOX_ID
    ) -> None:
        self.csms_url = csms_url
        self.charge_box_id = charge_box_id
        self.data_dir = data_dir
        self.config = config
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.control: ControlClient | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 20.0) -> None:
        port = _free_port()
        with self.log.open("ab") as log:
            process = self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ocpp_station",
                "run",
                "--csms",
                self.csms_url,
                "--id",
                self.charge_box_id,
                "--data-dir",
                str(self.data_dir),
                "--config",
                str(self.config),
                "--api",
                f"127.0.0.1:{port}",
                "--keep-trying",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        self.control = ControlClient(f"http://127.0.0.1:{port}", timeout=2.0)
        deadline = time.monotonic() + timeout
        while await self.state() is None:
            if process.returncode is not None:
                raise RuntimeError(f"the station exited with {process.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the station's control API did not come up; see {self.log}")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: nothing more is written or sent."""
        process, control = self.process, self.control
        self.control = None
        if control is not None:
            await control.close()
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()

    async def state(self) -> dict[str, Any] | None:
        if self.control is None:
            return None
        try:
            return await self.control.state()
        except CaseFailure:
            return None

    async def act(self, method: str, *args: Any) -> bool:
        """A manual action on the control API; False when the station could not take it (down, 409...)."""
        if self.control is None:
            return False
        try:
            await getattr(self.control, method)(*args)
        except CaseFailure:
            return False
        return True


class LatencyProxy:
    """A TCP relay between station and central system that delays every chunk by `latency` seconds each
    way (so a kill lands while a request is in flight far more often) and can cut every connection at once
    without a closing handshake to either side: a link that just dies."""

    def __init__(self, target_port: int, latency: float) -> None:
        self.target_port = target_port
        self.latency = latency
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._relays:
            await asyncio.wait(set(self._relays), timeout=5)

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            self._relays.discard(task)
            return
        self._writers |= {writer, upstream_writer}
        pumps = [
            asyncio.create_task(self._pump(reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for side in (writer, upstream_writer):
                side.transport.abort()
                self._writers.discard(side)
            self._relays.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not chunk:
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(65536)
                queue.put_nowait((time.monotonic() + self.latency, chunk))
                if not chunk:
                    break
            await sender
        except OSError:
            pass  # cut, or the other side died: the relay ends
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


@dataclass(slots=True)
class _Connector:
    connector_id: int
    id_tag: str
    stop_at: float | None = None  # when the running session ends (monotonic)


Progress = Callable[[str], None] | None


async def run_crash_safety(plan: CrashPlan, workdir: Path, *, progress: Progress = None) -> CrashReport:
    """Run the plan in `workdir` (data dir, config, station log) and return the checked figures."""
    rng = random.Random(plan.seed)
    settings = HarnessSettings(charge_box_id=CHARGE_BOX_ID, heartbeat_interval=60)
    csms = ScriptedCsms(settings)
    assigned: dict[str, int] = {}  # StartTransaction uniqueId → the transactionId answered
    numbers = itertools.count(1)

    def start_transaction(call: Call) -> Payload:
        if call.unique_id not in assigned:
            assigned[call.unique_id] = next(numbers)
        return {"idTagInfo": {"status": "Accepted"}, "transactionId": assigned[call.unique_id]}

    csms.respond_with("StartTransaction", start_transaction, once=False)
    data_dir = workdir / "data"
    config = workdir / "station.toml"
    config.write_text(STATION_CONFIG.format(interval=plan.sample_interval))
    report = CrashReport()
    await csms.start()
    proxy = LatencyProxy(csms.port, plan.latency_s)
    station = StationProcess(f"ws://127.0.0.1:{await proxy.start()}", data_dir, config, workdir / "station.log")
    try:
        await station.start()
        await _chaos(plan, rng, proxy, station, report, progress)
        await _drain(plan, station, store_path(data_dir, CHARGE_BOX_ID))
        await station.kill()
    finally:
        await station.kill()
        await proxy.stop()
        await csms.stop()
    _check(csms, assigned, store_path(data_dir, CHARGE_BOX_ID), report)
    return report


async def _chaos(
    plan: CrashPlan,
    rng: random.Random,
    proxy: LatencyProxy,
    station: StationProcess,
    report: CrashReport,
    progress: Progress,
) -> None:
    settings = HarnessSettings()
    connectors = [_Connector(1, settings.valid_id_tag), _Connector(2, settings.valid_id_tag_2)]
    kill_after = set(rng.sample(range(1, plan.sessions + 1), min(plan.kills, plan.sessions)))
    drop_after = set(rng.sample(range(1, plan.sessions + 1), min(plan.link_drops, plan.sessions)))
    events: list[tuple[float, str]] = []  # (monotonic due time, "kill" | "drop" | "restore")
    started = 0
    while started < plan.sessions or events or any(c.stop_at is not None for c in connectors):
        await asyncio.sleep(rng.uniform(0.02, 0.2))
        now = time.monotonic()
        for due, kind in sorted(e for e in events if e[0] <= now):
            events.remove((due, kind))
            if kind == "kill":
                await station.kill()
                report.kills += 1
                for c in connectors:
                    c.stop_at = None  # the simulated hardware comes back unplugged
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                await station.start()
            elif kind == "drop":
                report.link_drops += 1
                if rng.random() < 0.5 and await station.act("set_online", False):
                    events.append((now + rng.uniform(0.2, 2.5), "restore"))  # the station's cable pulled
                else:
                    proxy.cut()  # the link dies somewhere between the two
            else:
                await station.act("set_online", True)
        state = await station.state()
        if state is None:
            continue
        c = rng.choice(connectors)
        facts = next(item for item in state["connectors"] if item["connectorId"] == c.connector_id)
        if not facts["pluggedIn"]:
            c.stop_at = None
            if started < plan.sessions and await station.act("plug", c.connector_id):
                await station.act("present_id_tag", c.id_tag, c.connector_id)
                started += 1
                c.stop_at = now + rng.uniform(*plan.session_s)
                if started in kill_after:
                    events.append((now + rng.uniform(0.0, plan.session_s[1]), "kill"))
                if started in drop_after:
                    events.append((now + rng.uniform(0.0, plan.session_s[1]), "drop"))
                if progress is not None:
                    progress(f"session {started}/{plan.sessions} on connector {c.connector_id}")
        elif c.stop_at is None or now >= c.stop_at:
            # End the session: the idTag again (Local) or the EV unplugged (EVDisconnected); a cable left
            # in after the stop is pulled on a later turn.
            charging = facts["transactionId"] is not None or facts["status"] in CHARGING
            if charging and rng.random() < 0.5:
                await station.act("present_id_tag", c.id_tag, c.connector_id)
                continue
            if await station.act("unplug", c.connector_id):
                c.stop_at = None


async def _drain(plan: CrashPlan, station: StationProcess, store: Path) -> None:
    """End everything: the station up and online, every cable out, until the queue is empty and no
    transaction is open."""
    if not station.running or await station.state() is None:
        await station.kill()
        await station.start()
    await station.act("set_online", True)
    for connector_id in (1, 2):
        await station.act("unplug", connector_id)
    deadline = time.monotonic() + plan.drain_timeout_s
    while True:
        await asyncio.sleep(0.2)
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            queued = int(db.execute("SELECT COUNT(*) FROM tx_queue").fetchone()[0])
            open_tx = int(db.execute("SELECT COUNT(*) FROM transactions WHERE stopped=0").fetchone()[0])
        if queued == 0 and open_tx == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not drained after {plan.drain_timeout_s:g} s: {queued} queued, {open_tx} open")


def _energy(call: StationCall) -> list[float]:
    """The readings a message reports, in order: meterStart / the register values / meterStop."""
    if call.action == "StartTransaction":
        return [float(call.payload["meterStart"])]
    if call.action == "StopTransaction":
        return [float(call.payload["meterStop"])]
    return [
        float(sv["value"])
        for mv in call.payload["meterValue"]
        for sv in mv["sampledValue"]
        if sv.get("measurand", ENERGY) == ENERGY
    ]


def _timestamp(call: StationCall) -> float:
    if call.action == "MeterValues":
        return parse_iso(call.payload["meterValue"][0]["timestamp"])
    return parse_iso(call.payload["timestamp"])


def _same(a: Payload, b: Payload) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _check(csms: ScriptedCsms, assigned: dict[str, int], store: Path, report: CrashReport) -> None:
    problems = report.problems
    problems.extend(f"protocol violation: {v}" for v in csms.violations)
    deliveries = [c for c in csms.station_calls if c.action in QUEUED_ACTIONS]
    by_uid: dict[str, list[StationCall]] = defaultdict(list)
    for call in deliveries:
        by_uid[call.unique_id].append(call)
    per_connection: dict[int, list[StationCall]] = defaultdict(list)
    for call in deliveries:
        per_connection[call.connection].append(call)
    # Duplicates: only the message in flight when the station died or the link went, resent identical as
    # the first transaction-related message of a later connection.
    for uid, calls in by_uid.items():
        for earlier, again in itertools.pairwise(calls):
            if not _same(earlier.payload, again.payload) or earlier.action != again.action:
                problems.append(f"{again.action} {uid} sent again with a different content")
            if per_connection[earlier.connection][-1] is not earlier:
                problems.append(f"{earlier.action} {uid} sent again, but it was not the last one of its connection")
            if again.connection <= earlier.connection or per_connection[again.connection][0] is not again:
                problems.append(f"{again.action} {uid} sent again, but not first after a reconnection")
    first = [calls[0] for calls in by_uid.values()]
    first.sort(key=lambda call: deliveries.index(call))
    # Delivered: received and processed (answered with a CallResult) at least once.
    report.delivered = sum(1 for calls in by_uid.values() if any(isinstance(c.response, dict) for c in calls))
    report.duplicated = len(deliveries) - len(first)

    with contextlib.closing(sqlite3.connect(store)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='tx_queue'").fetchone()
        report.created = int(row[0]) if row else 0
        remaining = int(db.execute("SELECT COUNT(*) FROM tx_queue").fetchone()[0])
        transactions = db.execute(
            "SELECT local_id, connector_id, id_tag, meter_start, start_time, transaction_id, start_status, stopped"
            " FROM transactions ORDER BY local_id"
        ).fetchall()
    report.sessions = len(transactions)
    if remaining:
        problems.append(f"{remaining} messages still queued after the drain")
    if report.lost:
        problems.append(f"{report.lost} of {report.created} transaction-related messages created were never delivered")

    starts = {assigned[c.unique_id]: c for c in first if c.action == "StartTransaction"}
    stops: dict[int, list[StationCall]] = defaultdict(list)
    for call in first:
        if call.action == "StopTransaction":
            stops[int(call.payload["transactionId"])].append(call)
    known: set[int] = set()
    for local_id, connector_id, id_tag, meter_start, _start_time, tid, start_status, stopped in transactions:
        what = f"transaction {local_id} (connector {connector_id})"
        if tid is None or start_status != "accepted" or not stopped:
            problems.append(f"{what}: transactionId {tid}, start {start_status}, stopped {bool(stopped)}")
            continue
        known.add(int(tid))
        start = starts.get(int(tid))
        expected = {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start}
        if start is None or any(start.payload.get(k) != v for k, v in expected.items()):
            problems.append(f"{what}: no StartTransaction {expected} answered with transactionId {tid}")
        count = len(stops.get(int(tid), []))
        if count != 1:
            problems.append(f"{what}, transactionId {tid}: {count} StopTransaction messages, expected exactly one")
    for tid in sorted(set(starts) - known):
        problems.append(f"transactionId {tid} was given to a StartTransaction the station has no transaction for")
    for tid in sorted(set(stops) - known):
        problems.append(f"StopTransaction for transactionId {tid}, which no transaction of the station has")

    _check_order(first, assigned, problems)


def _check_order(first: Sequence[StationCall], assigned: dict[str, int], problems: list[str]) -> None:
    """In the order the central system first received them: per connector, Start → MeterValues → Stop of one
    transaction after the other with readings that never go backwards; overall, chronological timestamps."""
    tid_connector: dict[int, int] = {
        assigned[c.unique_id]: c.payload["connectorId"] for c in first if c.action == "StartTransaction"
    }
    running: dict[int, int | None] = defaultdict(lambda: None)  # connector → its open transactionId
    last_energy: dict[int, float] = defaultdict(float)
    last_time = -1.0
    for call in first:
        tid = assigned[call.unique_id] if call.action == "StartTransaction" else call.payload.get("transactionId")
        connector = call.payload.get("connectorId") or tid_connector.get(int(tid or 0), 0)
        if call.action == "StartTransaction":
            if running[connector] is not None:
                problems.append(
                    f"StartTransaction {tid} on connector {connector} before the Stop of {running[connector]}"
                )
            running[connector] = tid
        elif running[connector] != tid:
            problems.append(
                f"{call.action} of transaction {tid} on connector {connector} outside it"
                f" (running: {running[connector]})"
            )
        if call.action == "StopTransaction":
            running[connector] = None
        for value in _energy(call):
            if value < last_energy[connector]:
                problems.append(
                    f"connector {connector}: reading {value} Wh after {last_energy[connector]} Wh ({call.action})"
                )
            last_energy[connector] = max(last_energy[connector], value)
        moment = _timestamp(call)
        if moment < last_time - CLOCK_JITTER_S:
            problems.append(f"{call.action} {call.unique_id} stamped {last_time - moment:.3f} s before its predecessor")
        last_time = max(last_time, moment)
