"""What the panel's fleet page costs a fleet process: one summary (`/api/fleet`, and what `/api/fleet/events`
sends every second), serialised to JSON, for a fleet of N stations.

Two ways of making it: the generic one reads every station's full state (`TelemetryView`, and every row: what the
page did before it listed only the first matching stations), the fleet's own reads its drivers and counters
(`fleet.web.FleetPanelView`, 200 rows). The stations are built but not connected: the summary's cost does not
depend on the traffic. Best of five.

Run: .venv/bin/python bench/bench_fleet_page.py [--stations 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.fleet.web import FleetDirectory, FleetPanelView
from ocpp_station.settings import parse_settings
from ocpp_station.shell.web.fleet import FleetView, summary
from ocpp_station.shell.web.telemetry import Telemetry

REPEAT = 5


async def measure(count: int) -> None:
    fleet = Fleet(
        FleetOptions(
            csms_url="ws://127.0.0.1:9/ocpp",
            ids=station_ids("CP-{n:05d}", count),
            settings=parse_settings({"hardware": {"connectors": 1}}),
            scenario=parse_scenario({"enabled": False}),
            seed=1,
            ramp_per_s=1.0,
        )
    )
    directory, telemetry = FleetDirectory(fleet), Telemetry()
    ways: tuple[tuple[str, FleetView | None, int], ...] = (
        ("every station's state, every row", None, count),
        ("the fleet's view, 200 rows", FleetPanelView(fleet), 200),
    )
    for label, view, limit in ways:
        best, size = float("inf"), 0
        for _ in range(REPEAT):
            started = time.perf_counter()
            size = len(json.dumps(summary(directory, telemetry, view, limit=limit)))
            best = min(best, time.perf_counter() - started)
        print(f"{count} stations, {label}: {best * 1000:.0f} ms, {size / 1e6:.2f} MB of JSON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(measure(args.stations))


if __name__ == "__main__":
    main()
