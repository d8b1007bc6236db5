"""Meter poll cost: µs per complete poll of a Modbus meter (every register block of the map, decoded and
checked) against pymodbus's own server on loopback TCP, server and driver in one process and event loop.

    .venv/bin/python bench/bench_meter_poll.py [--map eastron_sdm630] [--polls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' pymodbus meter

from ocpp_station.hardware.drivers import load_driver
from ocpp_station.hardware.drivers.modbus_meter import ModbusMeter
from ocpp_station.hardware.drivers.register_map import load_register_map
from ocpp_station.tools.modbus_meter_server import FakeMeter, free_port


async def run(map_name: str, polls: int) -> None:
    register_map = load_register_map(map_name)
    server = FakeMeter(register_map)
    port = free_port()
    await server.start_tcp(port)
    meter = load_driver("meter", "modbus", {"register_map": map_name, "host": "127.0.0.1", "port": port})
    assert isinstance(meter, ModbusMeter)
    try:
        for _ in range(50):  # connect and warm up
            assert await meter.poll_once()
        costs = []
        for _ in range(polls):
            started = time.perf_counter()
            ok = await meter.poll_once()
            costs.append((time.perf_counter() - started) * 1e6)
            assert ok
    finally:
        await meter.stop()
        await server.stop()
    costs.sort()
    blocks = len(register_map.blocks())
    print(
        f"{register_map.name}: {polls} polls of {blocks} request(s) each over Modbus TCP on loopback: "
        f"median {statistics.median(costs):.0f} µs, p99 {costs[int(len(costs) * 0.99)]:.0f} µs per poll"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--map", default=None, help="one register map (default: every built-in map)")
    parser.add_argument("--polls", type=int, default=2000)
    args = parser.parse_args()
    for name in [args.map] if args.map else ["eastron_sdm630", "eastron_sdm72", "abb_b23"]:
        asyncio.run(run(name, args.polls))


if __name__ == "__main__":
    main()
