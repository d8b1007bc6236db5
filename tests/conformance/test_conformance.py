"""Every registered OCTT case against the real station (in this process, over real WebSocket and HTTP).

The station is imported inside the fixture, so this module imports cleanly even while the station is
incomplete; a case that fails prints its verdict, reason and frame log.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ocpp_station.tools.harness.case import TestCase
from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import StationFactory

SETTINGS = HarnessSettings()


@pytest.fixture
def station_factory() -> StationFactory:
    from ocpp_station.tools.harness.station_under_test import in_process_factory

    return in_process_factory(SETTINGS.charge_box_id)


@pytest.mark.parametrize("case", list(REGISTRY.values()), ids=lambda case: case.tool_id)
async def test_octt_case(case: TestCase, station_factory: StationFactory, tmp_path: Path) -> None:
    from ocpp_station.tools.harness.runner import run_case

    result = await run_case(case, settings=SETTINGS, station_factory=station_factory, data_root=tmp_path)
    assert result.outcome in ("pass", "not applicable"), result.describe()


async def test_tc_083_from_security_profile_1(station_factory: StationFactory, tmp_path: Path) -> None:
    """TC_083's prerequisite is profile 1 or 2; the registry runs it from 2, this from 1: Basic over ws://, then
    TLS on the same port (the harness serves both schemes there)."""
    from ocpp_station.tools.harness.pki import SecuritySetup, Tls
    from ocpp_station.tools.harness.runner import run_case

    case = replace(REGISTRY["TC_083"], security=SecuritySetup(1, Tls.EITHER))
    result = await run_case(case, settings=SETTINGS, station_factory=station_factory, data_root=tmp_path)
    assert result.outcome == "pass", result.describe()
    # The frame log of both connections: the plain one the upgrade was asked on, the TLS one it moved to.
    assert "(wss:// too)" in result.log
    # The station closes the plain connection normally to open the TLS one (not 1011, an internal error).
    assert "connection #1 closed (code 1000)" in result.log
    assert "connection #2 opened" in result.log
