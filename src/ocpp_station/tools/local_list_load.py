"""A central system installing a large Local Authorization List in SendLocalListMaxLength chunks while it
watches the station stay live: the scenario of tests/test_local_list_scale.py and bench/bench_local_list.py.

It runs as the body of a harness case (`run_case`): a fresh real station over WebSocket, booted by the
general pre-conditions. A Full update carries the first chunk, Differential updates (listVersion + 1 each)
the others. Meanwhile two probes measure liveness: GetConfiguration calls on the same OCPP link (one
request at a time, OCPP-J 1.6 §4.1.1, so a probe waits for the chunk in flight) and GET /api/state on
the control API, served by the same event loop; and the station's Heartbeats keep their period.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from ocpp_station.protocol.rpc import Payload
from ocpp_station.tools.harness.case import CaseContext, check
from ocpp_station.tools.harness.csms import Expect
from ocpp_station.tools.harness.states import ensure_configuration, read_key

PROBE_PAUSE_S = 0.05


def load_tag(index: int) -> str:
    return f"LOAD-{index:06d}"


def chunk_entries(start: int, count: int) -> list[Payload]:
    entries: list[Payload] = []
    for index in range(start, start + count):
        info: Payload = {"status": "Accepted" if index % 10 else "Blocked"}
        if index % 3 == 0:
            info["parentIdTag"] = f"GROUP-{index % 97}"
        if index % 5 == 0:
            info["expiryDate"] = "2099-12-31T23:59:59Z"
        entries.append({"idTag": load_tag(index), "idTagInfo": info})
    return entries


@dataclass
class LoadFigures:
    entries: int
    chunk: int
    seconds: float = 0.0  # first SendLocalList.req sent → last SendLocalList.conf received
    list_version: int = 0
    answer_s: list[float] = field(default_factory=list)  # station response times (request sent → answer)
    probe_s: list[float] = field(default_factory=list)  # GetConfiguration: wanted → answered, queueing included
    control_s: list[float] = field(default_factory=list)  # GET /api/state round trips during the load
    heartbeat_gaps: list[float] = field(default_factory=list)  # around and during the load
    heartbeat_interval: int = 0

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds if self.seconds else float("inf")

    def summary(self) -> str:
        def worst(values: list[float]) -> str:
            return f"{max(values) * 1000:.1f} ms" if values else "-"

        return "\n".join(
            [
                f"entries installed       {self.entries} in {self.entries // self.chunk} SendLocalList of {self.chunk}",
                f"load time               {self.seconds:.2f} s",
                f"throughput              {self.entries_per_s:,.0f} entries/s",
                f"listVersion afterwards  {self.list_version}",
                f"worst station answer    {worst(self.answer_s)} (any call during the load, request → answer)",
                f"worst GetConfiguration  {worst(self.probe_s)} (queued behind the chunk in flight included;"
                f" {len(self.probe_s)} probes)",
                f"worst control API       {worst(self.control_s)} (GET /api/state; {len(self.control_s)} probes)",
                f"worst heartbeat gap     {max(self.heartbeat_gaps, default=0.0):.2f} s"
                f" (HeartbeatInterval {self.heartbeat_interval} s, {len(self.heartbeat_gaps)} gaps)",
            ]
        )


async def install_list(ctx: CaseContext, entries: int, chunk: int) -> LoadFigures:
    """Enable the list and install `entries` idTags (load_tag(0) ...) in chunks of `chunk`."""
    csms = ctx.csms
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    limit = await read_key(ctx, "SendLocalListMaxLength")
    check(limit is not None and int(limit.value or 0) >= chunk, f"SendLocalListMaxLength {limit} < {chunk}")
    figures = LoadFigures(entries, chunk, heartbeat_interval=ctx.settings.heartbeat_interval)
    done = asyncio.Event()

    async def ocpp_probe() -> None:
        while not done.is_set():
            wanted = time.monotonic()
            await csms.call_result("GetConfiguration", {"key": ["HeartbeatInterval"]})
            figures.probe_s.append(time.monotonic() - wanted)
            await asyncio.sleep(PROBE_PAUSE_S)

    async def control_probe() -> None:
        while not done.is_set():
            sent = time.monotonic()
            await ctx.control.state()
            figures.control_s.append(time.monotonic() - sent)
            await asyncio.sleep(PROBE_PAUSE_S)

    timings_before = len(csms.timings)
    probes = [asyncio.create_task(ocpp_probe()), asyncio.create_task(control_probe())]
    started = time.monotonic()
    try:
        for version, start in enumerate(range(0, entries, chunk), start=1):
            update = "Full" if start == 0 else "Differential"
            payload: Payload = {
                "listVersion": version,
                "updateType": update,
                "localAuthorizationList": chunk_entries(start, min(chunk, entries - start)),
            }
            reply = await csms.call_result("SendLocalList", payload)
            check(reply["status"] == "Accepted", f"SendLocalList {update} v{version}: {reply['status']}")
        figures.seconds = time.monotonic() - started
    finally:
        done.set()
        await asyncio.gather(*probes)
    ended = time.monotonic()
    figures.answer_s = [t.seconds for t in csms.timings[timings_before:] if t.kind == "response"]
    reply = await csms.call_result("GetLocalListVersion", {})
    figures.list_version = int(reply["listVersion"])
    figures.heartbeat_gaps = await _heartbeat_gaps(ctx, started, ended)
    return figures


async def _heartbeat_gaps(ctx: CaseContext, started: float, ended: float) -> list[float]:
    """The gaps between the station's Heartbeats from the last one before the load (or its start) to the
    first one after it, which is waited for."""
    csms = ctx.csms
    deadline = time.monotonic() + ctx.settings.heartbeat_interval + ctx.settings.message_timeout
    while not any(c.action == "Heartbeat" and c.received_at > ended for c in csms.station_calls):
        check(time.monotonic() < deadline, "no Heartbeat.req after the load")
        await asyncio.sleep(0.05)
    beats = [c.received_at for c in csms.station_calls if c.action == "Heartbeat"]
    before = [b for b in beats if b <= started]
    points = [before[-1] if before else started]
    points += [b for b in beats if started < b <= ended]
    points.append(next(b for b in beats if b > ended))
    return [later - earlier for earlier, later in itertools.pairwise(points)]


async def start_without_authorize(ctx: CaseContext, id_tag: str) -> None:
    """Plug in, present a listed idTag: StartTransaction and Charging follow with no Authorize.req
    (LocalPreAuthorize, OCPP 1.6 §3.5); only Heartbeat and MeterValues may come in between."""
    connector = ctx.settings.connector_id
    # The central system agrees with the list (otherwise: a LocalListConflict, OCPP 1.6 §3.5.2).
    ctx.csms.respond_with("StartTransaction", {"idTagInfo": {"status": "Accepted"}, "transactionId": 1})
    await ctx.control.plug(connector)
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})
    await ctx.control.present_id_tag(id_tag, connector)
    await ctx.csms.expect_unordered(
        [
            Expect("StartTransaction", {"connectorId": connector, "idTag": id_tag}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Charging"}),
        ]
    )
