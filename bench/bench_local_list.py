"""Installing a 100 000-entry Local Authorization List in SendLocalListMaxLength (400-entry) chunks.

The real station (in this process, over WebSocket and the control API) and the harness's ScriptedCsms,
which sends one Full and then Differential SendLocalList updates while probing the station with
GetConfiguration (same OCPP link) and GET /api/state (control API), and counts the Heartbeat gaps.
Prints entries/s, the station's worst answer latency during the load and the longest synchronous step
the station spent on one chunk (Station.handle_call: schema validation + checks + one store transaction).
The central system runs in the same process and event loop, so every latency includes its own work too.

Run: .venv/bin/python bench/bench_local_list.py [--entries 100000] [--chunk 400]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scenario lives in tests/

from ocpp_station.protocol.rpc import Call
from ocpp_station.station.hub import Station
from ocpp_station.tools.harness.case import LOCAL_AUTH_LIST_MANAGEMENT, CaseContext, TestCase
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import in_process_factory
from ocpp_station.tools.local_list_load import LoadFigures, install_list, load_tag, start_without_authorize


async def main(entries: int, chunk: int) -> int:
    settings = HarnessSettings(case_timeout=3600.0)
    figures: list[LoadFigures] = []
    handle_s: list[float] = []
    original = Station.handle_call

    def timed(self: Station, call: Call) -> Any:
        started = time.perf_counter()
        try:
            return original(self, call)
        finally:
            if call.action == "SendLocalList":
                handle_s.append(time.perf_counter() - started)

    async def scenario(ctx: CaseContext) -> None:
        figures.append(await install_list(ctx, entries, chunk))
        await start_without_authorize(ctx, load_tag(entries * 3 // 4 + 1))  # an Accepted one (not a multiple of 10)

    Station.handle_call = timed  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-local-list-") as data:
            case = TestCase("BENCH", "local list load", LOCAL_AUTH_LIST_MANAGEMENT, "bench", "-", scenario)
            result = await run_case(
                case,
                settings=settings,
                station_factory=in_process_factory(settings.charge_box_id),
                data_root=Path(data),
            )
    finally:
        Station.handle_call = original  # type: ignore[method-assign]
    if not result.passed:
        print(result.describe()[:5000])
        return 1
    (loaded,) = figures
    print(loaded.summary())
    ordered = sorted(handle_s)
    print(
        f"station per chunk       median {ordered[len(ordered) // 2] * 1000:.1f} ms, worst {ordered[-1] * 1000:.1f} ms"
        " (synchronous: validation + checks + one store transaction)"
    )
    print("listed idTag started    without Authorize.req")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=400)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.entries, args.chunk)))
