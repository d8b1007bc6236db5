"""Hardware variants of the test bench: a case for the other cable runs on a station built with that cable when
the bench can build it (`for_hardware`), else it is not applicable.

NOTE: reconstructed. The original of this (then untracked) file was overwritten by mistake by the engineer of
the Smart Charging / Reservation / Firmware cases (whose own tests are in test_case_variants.py); these tests
cover the same feature (station_under_test.for_hardware / settings_for_hardware, runner.run_case) and are for
the original author to review or replace.
"""

from __future__ import annotations

from pathlib import Path

from ocpp_station.settings import parse_settings
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import DETACHABLE, FIXED_CABLE, HarnessSettings
from ocpp_station.tools.harness.station_under_test import (
    InProcessFactory,
    StationUnderTest,
    for_hardware,
    in_process_factory,
    settings_for_hardware,
)

SETTINGS = HarnessSettings()


def test_settings_follow_the_cable() -> None:
    fixed = parse_settings({})
    assert fixed.hardware.fixed_cable
    assert settings_for_hardware(fixed, FIXED_CABLE) is fixed
    detachable = settings_for_hardware(fixed, DETACHABLE)
    assert not detachable.hardware.fixed_cable
    assert "UnlockConnectorOnEVSideDisconnect" not in detachable.configuration  # the detachable default
    back = settings_for_hardware(detachable, FIXED_CABLE)
    assert back.hardware.fixed_cable
    assert back.configuration["UnlockConnectorOnEVSideDisconnect"] == "false"  # errata v4.0 3.85


def test_in_process_factory_builds_either_cable() -> None:
    factory = in_process_factory("CP", config_overrides={"HeartbeatInterval": "7"})
    other = for_hardware(factory, DETACHABLE)
    assert isinstance(other, InProcessFactory)
    assert other.settings is not None and not other.settings.hardware.fixed_cable
    assert other.config_overrides == {"HeartbeatInterval": "7"}


async def test_a_case_for_the_other_cable(tmp_path: Path) -> None:
    seen: list[str] = []

    async def run(ctx: CaseContext) -> None:
        seen.append(ctx.settings.hardware_variant)

    case = TestCase("TC_X", "detachable only", CORE, "test", "0", run, hardware=(DETACHABLE,), booted=False)

    def fixed_bench(_url: str, _data_dir: Path) -> StationUnderTest:
        raise AssertionError("a bench without variants is not built for a case it cannot run")

    result = await run_case(case, settings=SETTINGS, station_factory=fixed_bench, data_root=tmp_path)
    assert result.outcome == "not applicable" and "detachable" in result.reason

    result = await run_case(case, settings=SETTINGS, station_factory=in_process_factory("CP"), data_root=tmp_path)
    assert result.outcome == "pass", result.describe()
    assert seen == [DETACHABLE]
