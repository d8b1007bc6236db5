"""Every registered OCTT case against the real station (in this process, over real WebSocket and HTTP).

The station is imported inside the fixture, so this module imports cleanly even while the station is
incomplete; a case that fails prints its verdict, reason and frame log.
"""

from __future__ import annotations

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
