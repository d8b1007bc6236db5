"""Memory per idle station and the time to start many stations in one process, per store.

Each station is a full `StationRuntime` (station core, its link to a central system, the control contract),
as `ocpp-station run` builds it, booted and idle (BootNotification accepted, every StatusNotification sent,
HeartbeatInterval 3600 s). The central system is the shared load CSMS (`shared/bench/csms_load.py`) in its own
process, so its memory is not counted. Measured per store (`sqlite`: one durable file per station; `memory`:
the in-memory store):

* resident memory per station: (RSS with N stations − RSS with none) / N, after a garbage collection;
* file descriptors per station;
* time to start N stations: from the first `start()` until every station is registered (Accepted).

`--core-only` measures the pure station alone (composition root + store + simulated hardware, booted by hand,
no link and no event loop): what a leaner shell than `StationRuntime` could get down to.

Run: .venv/bin/python bench/bench_station_memory.py [--stations 2000] [--stores sqlite memory] [--core-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ocpp_station.assemble import assemble, build_hardware
from ocpp_station.clock import ManualClock
from ocpp_station.settings import parse_settings
from ocpp_station.shell.runtime import StationRuntime, StoreKind
from ocpp_station.station.contract import Registration
from ocpp_station.station.hub import Station
from ocpp_station.station.ports import Store
from ocpp_station.stores.memory import MemoryStore
from ocpp_station.stores.sqlite import SqliteStore

DEFAULT_CSMS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "csms_load.py"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_registered(runtimes: list[StationRuntime], limit_s: float) -> None:
    # A benchmark, not a test: a coarse poll costs nothing next to thousands of boots.
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if all(r.core.registration == Registration.ACCEPTED and not r.core.has_messages_to_send() for r in runtimes):
            return
        await asyncio.sleep(0.05)
    booted = sum(r.core.registration == Registration.ACCEPTED for r in runtimes)
    raise SystemExit(f"only {booted} of {len(runtimes)} stations registered within {limit_s:.0f} s")


async def measure(kind: StoreKind, count: int, url: str, data_dir: Path) -> tuple[float, float, float]:
    settings = parse_settings(
        {
            "hardware": {"connectors": 1},
            "configuration": {"MeterValueSampleInterval": 0, "ClockAlignedDataInterval": 0},
        }
    )

    def make(n: int) -> StationRuntime:
        return StationRuntime(
            csms_url=url, charge_box_id=f"{kind}-{n:05d}", data_dir=data_dir, settings=settings, store=kind
        )

    warm = make(count)  # the first station pays for imports, schemas and caches: not a per-station cost
    await warm.start()
    await wait_registered([warm], 30)
    gc.collect()
    rss_before, fds_before = rss_bytes(), open_fds()
    runtimes = [make(n) for n in range(count)]
    started = time.perf_counter()
    for runtime in runtimes:
        await runtime.start()
    await wait_registered(runtimes, 600)
    start_s = time.perf_counter() - started
    gc.collect()
    per_station_kib = (rss_bytes() - rss_before) / count / 1024
    per_station_fds = (open_fds() - fds_before) / count
    for runtime in [*runtimes, warm]:
        await runtime.stop()
    return per_station_kib, per_station_fds, start_s


def measure_core_only(kind: StoreKind, count: int, data_dir: Path) -> tuple[float, float, float]:
    settings = parse_settings({"hardware": {"connectors": 1}})
    clock = ManualClock()

    def make(n: int) -> Station:
        store: Store = SqliteStore(data_dir / f"{n}.sqlite") if kind == "sqlite" else MemoryStore()
        hardware = build_hardware(settings.hardware, store)
        station = assemble(
            charge_box_id=f"{kind}-{n:05d}", settings=settings, store=store, hardware=hardware.station, clock=clock
        )
        station.start()
        return station

    make(count)
    gc.collect()
    rss_before, fds_before = rss_bytes(), open_fds()
    started = time.perf_counter()
    stations = [make(n) for n in range(count)]
    start_s = time.perf_counter() - started
    gc.collect()
    result = (rss_bytes() - rss_before) / count / 1024, (open_fds() - fds_before) / count, start_s
    for station in stations:
        station.store.close()
    return result


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    if args.core_only:
        with tempfile.TemporaryDirectory() as tmp:
            kib, fds, start_s = measure_core_only(args.stores[0], args.stations, Path(tmp))
        print(f"{args.stores[0]:<8} {kib:>12.1f} {fds:>12.2f} {start_s:>14.2f}", flush=True)
        return
    port = free_port()
    csms = subprocess.Popen(
        [
            sys.executable,
            str(args.csms),
            "--port",
            str(port),
            "--heartbeat-interval",
            "3600",
            "--report-interval",
            "600",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/ocpp"
        with tempfile.TemporaryDirectory() as tmp:
            kib, fds, start_s = await measure(args.stores[0], args.stations, url, Path(tmp))
        print(f"{args.stores[0]:<8} {kib:>12.1f} {fds:>12.2f} {start_s:>14.2f}", flush=True)
    finally:
        csms.terminate()
        csms.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "memory"), default=["sqlite", "memory"])
    parser.add_argument("--csms", type=Path, default=DEFAULT_CSMS, help="the shared load CSMS script")
    parser.add_argument("--core-only", action="store_true", help="the pure station alone: no link, no event loop")
    arguments = parser.parse_args()
    what = "pure station cores, no link" if arguments.core_only else "StationRuntime: core + link, CSMS in another"
    print(f"{arguments.stations} idle stations ({what}), one process")
    print(f"{'store':<8} {'KiB/station':>12} {'fds/station':>12} {'start all (s)':>14}", flush=True)
    if len(arguments.stores) == 1:
        asyncio.run(main(arguments))
    else:
        # One process per store: memory freed by one run would otherwise be reused by the next and hide its cost.
        for kind in arguments.stores:
            one = [sys.executable, __file__, "--stations", str(arguments.stations), "--csms", str(arguments.csms)]
            one += ["--core-only"] if arguments.core_only else []
            lines = subprocess.run([*one, "--stores", kind], check=True, capture_output=True, text=True).stdout
            print(lines.splitlines()[-1], flush=True)
