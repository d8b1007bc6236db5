"""OCTT cases against a station inside a running fleet (issue 11: every station answers as the certified one).

A fleet of 20 certified stations runs a charging workload against a test central system; one of them is taken
over by the harness for each case (`FleetStation`): the harness's ScriptedCsms is its central system, its
neighbours go on charging meanwhile, and every frame of the case is schema-validated and checked in sequence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.settings import parse_settings
from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.fleet_station import FleetStationFactory
from ocpp_station.tools.harness.pki import SecuritySetup, Tls
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import HarnessSettings
from tests.support.fleet_csms import FleetCsms

COUNT = 20
UNDER_TEST = "CP-00007"
# The neighbours charge all along; no configuration keys are changed, so the station under test is the
# certified build the cases expect.
WORKLOAD = {"sessions": {"inter_arrival_s": [0.5, 1.0], "duration_s": [1.0, 2.0]}}
# Firmware Management too (TC_044_x, TC_045_x): the fleet runs the station's file jobs (against the harness's FTP
# server), and an installed firmware reboots the station.
CASES = ["TC_001", "TC_003", "TC_010", "TC_019", "TC_026", "TC_044_1", "TC_044_2", "TC_044_3", "TC_045_1", "TC_045_2"]
# And every Security case (OCTT §2.24, TC_073–TC_087): the harness's wss:// central system, the station configured
# and provisioned as the case's bench says (`FleetStation`), security profiles 1–3 over the fleet's own driver.
CASES += [tool_id for tool_id, case in REGISTRY.items() if case.security is not None]
# TC_083 runs from profile 2 in the registry; its prerequisite allows profile 1 as well (ws:// to wss://).
VARIANTS = {"TC_083-from-profile-1": replace(REGISTRY["TC_083"], security=SecuritySetup(1, Tls.EITHER))}


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[Fleet, FleetCsms]]:
    csms = FleetCsms(heartbeat_interval=10)
    await csms.start()
    fleet = Fleet(
        FleetOptions(
            csms_url=csms.url,
            ids=station_ids("CP-{n:05d}", COUNT),
            settings=parse_settings({}),
            scenario=parse_scenario(WORKLOAD),
            seed=3,
            ramp_per_s=200.0,
        )
    )
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=20)
        await csms.wait_until(lambda c: c.calls["StartTransaction"] >= 5, timeout=15)  # the fleet is at work
        yield fleet, csms
    finally:
        fleet.stop()
        await csms.stop()


@pytest.mark.parametrize("tool_id", CASES + list(VARIANTS))
async def test_octt_case_against_a_station_of_a_running_fleet(
    tool_id: str, fleet: tuple[Fleet, FleetCsms], tmp_path: Path
) -> None:
    running, csms = fleet
    settings = replace(HarnessSettings(), charge_box_id=UNDER_TEST)
    sessions_before = csms.calls["StopTransaction"]
    connections_before = csms.connections[UNDER_TEST]
    factory = FleetStationFactory(running, UNDER_TEST)
    case = VARIANTS.get(tool_id) or REGISTRY[tool_id]
    result = await run_case(case, settings=settings, station_factory=factory, data_root=tmp_path)
    assert result.outcome == "pass", result.describe()
    # Its neighbours went on with their sessions, and the harness's station went back to the fleet's central
    # system (at the harness's close, which may be before run_case returns), booting there as a power-cycled
    # station does ...
    assert not running.by_id[UNDER_TEST].manual
    back = connections_before + 1
    await csms.wait_until(
        lambda c: (
            c.calls["StopTransaction"] > sessions_before
            and any(r.connection == back for r in c.of(UNDER_TEST, "BootNotification"))
        ),
        timeout=15,
    )
    # ... on its first connection there since the case began: it never talked to the fleet's central system
    # during the case.
    assert csms.connections[UNDER_TEST] == back
    assert [r.connection for r in csms.of(UNDER_TEST, "BootNotification") if r.connection > connections_before] == [
        back
    ]
