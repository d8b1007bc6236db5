"""The wire's floor: what a fleet process spends per 1 000 calls/s when its stations do nothing but send calls.

`fleet_capacity.py` measures the fleet: every station the full station core. This measures the same process
model with no station at all, to say how much of that figure is the station and how much the transport, which
any Python fleet pays: N "bare stations" on the fleet's own transport (asyncio protocols, websockets' opening
handshake, our RFC 6455 codec `fleet/wsframe.py`, orjson) and its shared timer heap (`fleet/timers.py`), against
the same load CSMS (`shared/bench/csms_load.py`) on the same machine. After its BootNotification each bare
station sends, one call at a time, a Heartbeat and a MeterValues (two sampled values, as the workload's) in turn,
at the shared workload's rate (0.43 calls/s per station, spread evenly); it parses each response and matches its
id, and does nothing else: no configuration, store, state machine, schema check or statistics.

Figures: CPU of this process per 1 000 calls/s over the steady window (1.0 = one core), beside the calls/s
achieved, and the load CSMS's own CPU. Run it beside `fleet_capacity.py` at the same size, alternated: the
difference between the two is the station core's share.

Run: .venv/bin/python bench/fleet_floor.py [--sizes 5000 10000] [--steady 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, cast

import orjson

from fleet_capacity import DEFAULT_CSMS, DEMAND_PER_STATION, cpu_s, process_cpu_s, raise_open_files, start_csms
from ocpp_station.fleet.driver import SUBPROTOCOL
from ocpp_station.fleet.timers import SharedTimers
from ocpp_station.fleet.wsframe import ClientCodec, ClientHandshake

BOOT = {"chargePointVendor": "ocpp-station", "chargePointModel": "bare"}


def meter_values(now: float, wh: int) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
    sampled = [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
    ]
    return {"connectorId": 1, "transactionId": 1, "meterValue": [{"timestamp": stamp, "sampledValue": sampled}]}


class BareStation(asyncio.Protocol):
    """One connection that sends a call, waits for its response, and sends the next at its next deadline."""

    def __init__(self, bench: Bare, index: int) -> None:
        self.bench = bench
        self.index = index
        self.scheduled = math.inf  # SharedTimers' field
        self.transport: asyncio.Transport | None = None
        self.handshake: ClientHandshake | None = None
        self.codec: ClientCodec | None = None
        self.pending: str | None = None
        self.sent = 0
        self.booted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.handshake = ClientHandshake(f"{self.bench.url}/BARE-{self.index:05d}", [SUBPROTOCOL])
        self.transport.write(self.handshake.request())

    def data_received(self, data: bytes) -> None:
        if self.codec is None:
            handshake = self.handshake
            assert handshake is not None and self.transport is not None
            if handshake.receive(data):
                if handshake.error is not None:
                    raise SystemExit(f"handshake failed: {handshake.error}")
                self.codec = ClientCodec(self.transport.write)
                self.send("BootNotification", BOOT)
            return
        for message in self.codec.receive(data):
            frame = orjson.loads(message)
            if frame[0] != 3 or frame[1] != self.pending:
                raise SystemExit(f"unexpected frame {frame!r}")
            self.pending = None
            self.bench.responses += 1
            if not self.booted:
                self.booted = True
                self.bench.on_booted()
                # The first call at a random phase, so that the stations' calls spread evenly over time.
                self.bench.timers.schedule(self, time.monotonic() + self.bench.rng.uniform(0, self.bench.period))
            else:
                self.bench.timers.schedule(self, time.monotonic() + self.bench.period)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.bench.running:
            self.bench.lost += 1

    def send(self, action: str, payload: dict[str, Any]) -> None:
        assert self.codec is not None
        self.sent += 1
        self.pending = f"{self.index}-{self.sent}"
        self.codec.send_text(orjson.dumps([2, self.pending, action, payload]))

    def on_timer(self, now: float, deadline: float) -> None:
        if self.sent % 2:
            self.send("Heartbeat", {})
        else:
            self.send("MeterValues", meter_values(time.time(), self.sent))


class Bare:
    """N bare stations connected at `ramp` per second."""

    def __init__(self, url: str, count: int, ramp: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.url = url
        self.count = count
        self.ramp = ramp
        self.period = 1 / DEMAND_PER_STATION
        self.rng = random.Random(1)
        self.timers = SharedTimers(self.loop)
        self.stations: list[BareStation] = []
        self.transports: list[asyncio.Transport] = []
        self.responses = 0
        self.booted = 0
        self.lost = 0
        self.running = True
        self.all_booted = asyncio.Event()

    def on_booted(self) -> None:
        self.booted += 1
        if self.booted == self.count:
            self.all_booted.set()

    async def connect_all(self) -> None:
        host, port = self.url.split("//", 1)[1].split("/", 1)[0].split(":")
        start = time.monotonic()
        for index in range(self.count):
            delay = start + index / self.ramp - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            station = BareStation(self, index)
            self.stations.append(station)
            transport, _ = await self.loop.create_connection(lambda s=station: s, host, int(port))  # type: ignore[misc]
            self.transports.append(transport)

    def stop(self) -> None:
        self.running = False
        self.timers.close()
        for transport in self.transports:
            transport.abort()


async def measure(count: int, url: str, steady_s: float, ramp: float, csms_pid: int | None) -> dict[str, Any]:
    bare = Bare(url, count, ramp)
    await bare.connect_all()
    try:
        await asyncio.wait_for(bare.all_booted.wait(), timeout=60)
    except TimeoutError:
        bare.stop()
        raise SystemExit(f"only {bare.booted} of {count} bare stations booted within 60 s") from None
    await asyncio.sleep(15)  # as fleet_capacity.py: past the boot burst
    c0, x0, r0, t0 = cpu_s(), process_cpu_s(csms_pid), bare.responses, time.monotonic()
    await asyncio.sleep(steady_s)
    c1, x1, r1, t1 = cpu_s(), process_cpu_s(csms_pid), bare.responses, time.monotonic()
    bare.stop()
    calls = (r1 - r0) / (t1 - t0)
    cpu = (c1 - c0) / (t1 - t0)
    return {
        "stations": count,
        "cpu_cores": cpu,
        "calls_per_s": calls,
        "demand_per_s": DEMAND_PER_STATION * count,
        "cpu_per_1000_calls": cpu / calls * 1000 if calls else 0.0,
        "csms_cpu_cores": (x1 - x0) / (t1 - t0),
        "lost": bare.lost,
    }


def run_one(count: int, csms: Path, steady_s: float, ramp: float) -> dict[str, Any]:
    server, port = start_csms(csms)
    try:
        return asyncio.run(measure(count, f"ws://127.0.0.1:{port}/ocpp", steady_s, ramp, server.pid))
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state measured per size")
    parser.add_argument("--ramp", type=float, default=2000.0, help="stations connecting per second")
    parser.add_argument("--csms", type=Path, default=DEFAULT_CSMS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; each run is a row")
    args = parser.parse_args()
    # A socket per station in this process, and in the CSMS child, which inherits the limit.
    need = max(args.sizes) + 1024
    got = raise_open_files(need)
    if got < need:
        raise SystemExit(f"{max(args.sizes)} stations need `ulimit -n` {need}; the most allowed here is {got}")
    print("| bare stations | CPU (1 core = 100 %) | calls/s (demand) | CPU per 1 000 calls/s | CSMS CPU |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        for _ in range(max(1, args.repeat)):
            r = run_one(size, args.csms, args.steady, args.ramp)
            if r["lost"]:
                print(f"{r['lost']} connections were lost during the run", file=sys.stderr)
            print(
                f"| {size:,} | {r['cpu_cores'] * 100:.0f} % | {r['calls_per_s']:,.0f} ({r['demand_per_s']:,.0f}) "
                f"| {r['cpu_per_1000_calls']:.3f} | {r['csms_cpu_cores'] * 100:.0f} % |",
                flush=True,
            )


if __name__ == "__main__":
    main()
