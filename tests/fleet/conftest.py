"""Fixtures shared by the fleet tests: the test central system and a fast scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fleet_csms import FleetCsms


@pytest.fixture
async def csms() -> AsyncIterator[FleetCsms]:
    server = FleetCsms(heartbeat_interval=1)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def fast_scenario(tmp_path: Path) -> Path:
    """Sessions every fraction of a second, a MeterValues a second, no pings: many messages in a short run."""
    scenario = tmp_path / "fast.toml"
    scenario.write_text(
        "[sessions]\ninter_arrival_s = [0.2, 0.5]\nduration_s = [1, 1.5]\n"
        "[configuration]\nMeterValueSampleInterval = 1\nWebSocketPingInterval = 0\n"
    )
    return scenario
