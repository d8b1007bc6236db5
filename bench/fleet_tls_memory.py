"""What a fleet station costs per security profile: RSS per station and time to boot all, profiles 1, 2 and 3.

N fleet stations (one connector, no scenario, no pings) boot against a small wss:// central system in its own
process on 127.0.0.1 (the demo PKI's server certificate, asking for a client certificate in profile 3); the
figure is the fleet process's RSS growth from before the stations are built until all are booted, per station.
Profile 1 runs over ws://, 2 over TLS with Basic (the root installed with `central_system_roots`), 3 over TLS
with each station's own certificate (`enrol_authority`).

Run: .venv/bin/python bench/fleet_tls_memory.py [--count 1000] [--profiles 1 2 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.security.demo_pki import init_demo_pki, load_authority
from ocpp_station.security.tls import server_context
from ocpp_station.settings import parse_settings

PAGE = os.sysconf("SC_PAGE_SIZE")
KEY = "0123456789abcdef0123456789abcdef01234567"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


async def central_system(pki_dir: Path, tls: bool) -> None:
    """The child process: Boot Accepted, every other call answered with an empty payload; its port on stdout."""

    async def handle(ws: ServerConnection) -> None:
        async for text in ws:
            message = json.loads(text)
            if message[0] != 2:
                continue
            payload: dict[str, Any] = {}
            if message[2] == "BootNotification":
                payload = {"status": "Accepted", "currentTime": "2026-12-06T00:00:00Z", "interval": 300}
            await ws.send(json.dumps([3, message[1], payload]))

    root = (pki_dir / "central_system_root.pem").read_text()
    context = (
        server_context(
            pki_dir / "central_system.pem", pki_dir / "central_system.key", client_roots=[root], require_client=False
        )
        if tls
        else None
    )
    async with serve(handle, "127.0.0.1", 0, ssl=context, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.Event().wait()


async def measure(count: int, profile: int, pki_dir: Path, port: int) -> dict[str, float]:
    configuration = {"SecurityProfile": profile, "AuthorizationKey": KEY, "CpoName": "Bench CPO"}
    root = (pki_dir / "central_system_root.pem").read_text()
    authority = load_authority(pki_dir / "central_system_root.pem", pki_dir / "central_system_root.key")
    gc.collect()
    before = rss_bytes()
    started = time.monotonic()
    fleet = Fleet(
        FleetOptions(
            csms_url=f"ws://127.0.0.1:{port}/ocpp",
            ids=station_ids("TLS-{n:05d}", count),
            settings=parse_settings({"hardware": {"connectors": 1}}),
            scenario=parse_scenario({"enabled": False, "configuration": {**configuration, "WebSocketPingInterval": 0}}),
            seed=1,
            ramp_per_s=1000.0,
            central_system_roots=(root,) if profile >= 2 else (),
            enrol_authority=authority if profile == 3 else None,
        )
    )
    built_s = time.monotonic() - started
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=60 + count / 50)
        gc.collect()
        return {
            "kib_per_station": (rss_bytes() - before) / count / 1024,
            "build_s": built_s,
            "boot_all_s": fleet.stats.booted_at or 0.0,
        }
    finally:
        fleet.stop()
        await asyncio.sleep(0.5)  # the closing handshakes go out before the loop ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--profiles", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)  # PKI_DIR TLS(0/1): the child CSMS
    parser.add_argument("--profile", type=int, help=argparse.SUPPRESS)  # one measurement in a fresh process
    parser.add_argument("--pki", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(central_system(Path(args.serve[0]), args.serve[1] == "1"))
        return
    if args.profile is not None:
        print(json.dumps(asyncio.run(measure(args.count, args.profile, args.pki, args.port))))
        return
    print("| security profile | stations | fleet RSS per station | build (keys, certificates) | boot all |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="fleet-tls-bench-") as tmp:
        pki_dir = Path(tmp) / "pki"
        init_demo_pki(pki_dir)
        for profile in args.profiles:
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(pki_dir), "1" if profile >= 2 else "0"],
                stdout=subprocess.PIPE,
            )
            try:
                assert server.stdout is not None
                port = int(server.stdout.readline())
                # Each profile in a process of its own: RSS only grows, so runs in one process would not compare.
                command = [sys.executable, __file__, "--count", str(args.count), "--profile", str(profile)]
                command += ["--pki", str(pki_dir), "--port", str(port)]
                result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            finally:
                server.terminate()
                server.wait(10)
            print(
                f"| {profile} | {args.count:,} | {result['kib_per_station']:.1f} KiB | {result['build_s']:.1f} s "
                f"| {result['boot_all_s']:.1f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
