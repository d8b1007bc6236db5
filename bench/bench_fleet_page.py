"""What the panel costs a fleet process of N stations, per read: the fleet page's summary (`/api/fleet`, and
what `/api/fleet/events` sends every second) serialised to JSON, and a scrape of the API's `/metrics`.

Two ways of making each: the generic one reads every station's full state (`TelemetryView` with every row, what
the page did before it listed only the first matching stations; the per-station `/metrics` of a single station's
API), the fleet's own reads its drivers and counters (`fleet.web.FleetPanelView`, 200 rows; the fleet registry of
`--metrics`). The stations are built but not connected: these costs do not depend on the traffic. Best of five.

Run: .venv/bin/python bench/bench_fleet_page.py [--stations 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from functools import partial

from prometheus_client import CollectorRegistry, generate_latest

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.metrics import fleet_registry
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.fleet.web import FleetDirectory, FleetPanelView
from ocpp_station.settings import parse_settings
from ocpp_station.shell.web.fleet import FleetView, summary
from ocpp_station.shell.web.metrics import registry_for
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
        best, size = _best(partial(_summary_bytes, directory, telemetry, view, limit))
        print(f"{count} stations, fleet page, {label}: {best * 1000:.0f} ms, {size / 1e6:.2f} MB of JSON")
    registries = (
        ("per-station series", registry_for(directory, telemetry)),
        ("the fleet's registry", fleet_registry(fleet)),
    )
    for label, registry in registries:
        best, size = _best(partial(_metrics_bytes, registry))
        print(f"{count} stations, /metrics, {label}: {best * 1000:.0f} ms, {size / 1e6:.2f} MB")


def _summary_bytes(directory: FleetDirectory, telemetry: Telemetry, view: FleetView | None, limit: int) -> int:
    return len(json.dumps(summary(directory, telemetry, view, limit=limit)))


def _metrics_bytes(registry: CollectorRegistry) -> int:
    return len(generate_latest(registry))


def _best(read: Callable[[], int]) -> tuple[float, int]:
    """The shortest of REPEAT timings of `read`, and the size it returned."""
    best, size = float("inf"), 0
    for _ in range(REPEAT):
        started = time.perf_counter()
        size = read()
        best = min(best, time.perf_counter() - started)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(measure(args.stations))


if __name__ == "__main__":
    main()
