"""End-to-end latency of the MQTT hardware bridge: a "plug" input published to the broker → the
StatusNotification it causes arriving at the central system.

A real Mosquitto on a loopback port, the station (`StationRuntime`, SQLite store, hardware from
`[hardware.bridge] driver = "mqtt"`) and a minimal central system, all in one process and event loop; the
hardware side is a separate MQTT client publishing `connector/1/plug` {"state": "B"} then {"state": "A"}.
Measured per edge: the publish call → the StatusNotification (Preparing / Available) read by the CSMS.

    .venv/bin/python bench/bench_mqtt_plug_latency.py [--cycles 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.settings import parse_settings
from ocpp_station.shell.runtime import StationRuntime

BASE = "ocpp-station/BENCH-MQTT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Csms:
    """Accepts the station, answers the happy way, and hands every StatusNotification of connector 1 to a queue
    with the time it was read."""

    def __init__(self) -> None:
        self.statuses: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    async def handle(self, ws: ServerConnection) -> None:
        async for text in ws:
            read_at = time.perf_counter()
            message = json.loads(text)
            if message[0] != 2:
                continue
            _, unique_id, action, payload = message
            answer: dict[str, Any] = {}
            if action == "BootNotification":
                answer = {"status": "Accepted", "currentTime": iso_utc(time.time()), "interval": 300}
            elif action == "Heartbeat":
                answer = {"currentTime": iso_utc(time.time())}
            elif action == "StatusNotification" and payload["connectorId"] == 1:
                self.statuses.put_nowait((read_at, payload["status"]))
            await ws.send(json.dumps([3, unique_id, answer]))


async def broker(folder: Path, port: int) -> asyncio.subprocess.Process:
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type none\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = await asyncio.create_subprocess_exec(binary, "-c", str(config), stderr=asyncio.subprocess.DEVNULL)
    async with asyncio.timeout(10):
        while True:  # listening once a connection is accepted
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return process


async def until(csms: Csms, status: str) -> float:
    async with asyncio.timeout(10):
        while True:
            at, seen = await csms.statuses.get()
            if seen == status:
                return at


def figures(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name}: n={len(ms)} p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms"


async def run(cycles: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mqtt_port = free_port()
        mosquitto = await broker(folder, mqtt_port)
        csms = Csms()
        server = await serve(csms.handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")])
        csms_port = next(iter(server.sockets)).getsockname()[1]
        settings = parse_settings(
            {
                "hardware": {
                    "connectors": 1,
                    "bridge": {"driver": "mqtt", "host": "127.0.0.1", "port": mqtt_port, "station_id": "BENCH-MQTT"},
                },
                "configuration": {"MeterValueSampleInterval": 0},
            }
        )
        runtime = StationRuntime(
            csms_url=f"ws://127.0.0.1:{csms_port}", charge_box_id="BENCH-MQTT", data_dir=folder, settings=settings
        )
        await runtime.start()
        try:
            async with aiomqtt.Client("127.0.0.1", mqtt_port, identifier="bench-hardware") as hardware:
                await hardware.publish(f"{BASE}/connector/1/meter", b'{"energy_wh": 0}', qos=1, retain=True)
                await until(csms, "Available")
                plug: list[float] = []
                unplug: list[float] = []
                for _ in range(cycles):
                    for state, status, samples in (("B", "Preparing", plug), ("A", "Available", unplug)):
                        sent = time.perf_counter()
                        await hardware.publish(f"{BASE}/connector/1/plug", json.dumps({"state": state}), qos=0)
                        samples.append(await until(csms, status) - sent)
        finally:
            await runtime.stop()
            server.close()
            await server.wait_closed()
            mosquitto.terminate()
            await mosquitto.wait()
    print("MQTT plug input -> StatusNotification at the CSMS (Mosquitto, station and CSMS on loopback)")
    print(figures("plug (B) -> Preparing  ", plug))
    print(figures("unplug (A) -> Available", unplug))
    print(figures("both edges             ", plug + unplug))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=200)
    asyncio.run(run(parser.parse_args().cycles))


if __name__ == "__main__":
    main()
