"""Fleets for the tests: a quiet fleet a test drives by hand, and waiting on what a fleet counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.settings import parse_settings


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition on the fleet (which offers no event for it): checked every loop turn, with a timeout."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def quiet_fleet(
    csms_url: str,
    count: int,
    *,
    seed: int,
    settings: dict[str, Any] | None = None,
    configuration: dict[str, object] | None = None,
    until_booted: bool = True,
    **options: Any,
) -> AsyncIterator[Fleet]:
    """`count` stations CP-001… with no scenario (the test drives them), two connectors unless `settings` says
    otherwise, no pings; yielded once every one is booted (at once with `until_booted=False`), stopped at the
    end."""
    fleet = Fleet(
        FleetOptions(
            csms_url=csms_url,
            ids=station_ids("CP-{n:03d}", count),
            settings=parse_settings(settings if settings is not None else {"hardware": {"connectors": 2}}),
            scenario=parse_scenario(
                {"enabled": False, "configuration": {"WebSocketPingInterval": 0, **(configuration or {})}}
            ),
            seed=seed,
            ramp_per_s=100.0,
            **options,
        )
    )
    fleet.start()
    try:
        if until_booted:
            await asyncio.wait_for(fleet.booted_event.wait(), timeout=20)
        yield fleet
    finally:
        fleet.stop()
