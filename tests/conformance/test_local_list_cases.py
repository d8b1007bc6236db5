"""The Local Authorization List and Remote Trigger cases beyond the default station that
`test_conformance.py` runs them against: station builds without a profile (TC_043_1 needs one), and
misbehaving stations, which the cases must fail."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ocpp_station.tools.harness.case import CORE, NotApplicable, TestCase
from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.report import CaseResult
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import StationFactory, StationUnderTest, in_process_factory

SETTINGS = HarnessSettings()
WITHOUT_LOCAL_LIST = "Core,FirmwareManagement,Reservation,SmartCharging,RemoteTrigger"
WITHOUT_REMOTE_TRIGGER = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging"
LOCAL_LIST_CASES = ("TC_042_1", "TC_042_2", "TC_043", "TC_043_1", "TC_043_2", "TC_043_3", "TC_008_1", "TC_008_2")


async def _run(tool_id: str, tmp_path: Path, profiles: str | None = None) -> CaseResult:
    overrides = {} if profiles is None else {"SupportedFeatureProfiles": profiles}
    factory = in_process_factory(SETTINGS.charge_box_id, config_overrides=overrides)
    return await run_case(REGISTRY[tool_id], settings=SETTINGS, station_factory=factory, data_root=tmp_path)


def test_the_module_holds_the_eight_cases_of_the_profile() -> None:
    # The OCTT suite's Local Authorization List module has 8 cases (octt16-testcases.md §0.2).
    assert [c.tool_id for c in REGISTRY.values() if c.profile == "Local Auth List Management"] == list(LOCAL_LIST_CASES)
    assert [c.tool_id for c in REGISTRY.values() if c.profile == "Remote Trigger"] == ["TC_054", "TC_055"]


@pytest.mark.parametrize("tool_id", LOCAL_LIST_CASES)
async def test_on_a_station_without_the_local_list(tool_id: str, tmp_path: Path) -> None:
    # TC_043_1 and TC_042_1 apply to such a build (their prerequisite); the others need the profile.
    result = await _run(tool_id, tmp_path, WITHOUT_LOCAL_LIST)
    expected = "pass" if tool_id in ("TC_042_1", "TC_043_1") else "not applicable"
    assert result.outcome == expected, result.describe()


def test_tc_043_1_declares_a_station_without_the_profile() -> None:
    profiles = dict(REGISTRY["TC_043_1"].config_overrides)["SupportedFeatureProfiles"].split(",")
    assert "LocalAuthListManagement" not in profiles and "Core" in profiles


async def test_tc_043_1_runs_on_its_variant_of_the_default_bench(tmp_path: Path) -> None:
    result = await _run("TC_043_1", tmp_path)  # the in-process bench builds the declared variant
    assert result.passed, result.describe()


class _IgnoresVariants:
    """A bench that claims to configure its station but builds the full one."""

    def __init__(self) -> None:
        self.make = in_process_factory(SETTINGS.charge_box_id)

    def __call__(self, csms_url: str, data_dir: Path) -> StationUnderTest:
        return self.make(csms_url, data_dir)

    def with_config(self, overrides: Mapping[str, str]) -> StationFactory:
        return self


async def test_tc_043_1_checks_its_prerequisite_on_the_station_itself(tmp_path: Path) -> None:
    result = await run_case(
        REGISTRY["TC_043_1"], settings=SETTINGS, station_factory=_IgnoresVariants(), data_root=tmp_path
    )
    assert result.outcome == "not applicable", result.describe()
    assert "supports LocalAuthListManagement" in result.reason


@pytest.mark.parametrize("tool_id", ["TC_054", "TC_055"])
async def test_remote_trigger_cases_need_the_profile(tool_id: str, tmp_path: Path) -> None:
    result = await _run(tool_id, tmp_path, WITHOUT_REMOTE_TRIGGER)
    assert result.outcome == "not applicable", result.describe()


async def test_a_case_raising_not_applicable_is_reported_so(tmp_path: Path) -> None:
    async def prerequisite_not_met(_ctx: object) -> None:
        raise NotApplicable("no such hardware")

    case = TestCase("TC_X", "prerequisite", CORE, "tests", "0", prerequisite_not_met)
    factory = in_process_factory(SETTINGS.charge_box_id)
    result = await run_case(case, settings=SETTINGS, station_factory=factory, data_root=tmp_path)
    assert (result.outcome, result.reason) == ("not applicable", "no such hardware")
    assert not result.failed


# --- the cases fail a station that misbehaves ---------------------------------------------------------


async def test_tc_043_3_fails_a_station_that_stores_the_list_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocpp_station.shell.station_control import StationControl

    monkeypatch.setattr(StationControl, "set_local_list_failure", lambda self, failing: None)
    result = await _run("TC_043_3", tmp_path)
    assert result.outcome == "fail" and "expected Failed" in result.reason, result.describe()


@pytest.mark.parametrize("tool_id", ["TC_008_1", "TC_008_2"])
async def test_tc_008_fails_a_station_that_asks_the_central_system(
    tool_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocpp_station.station.authorization import Authorizer

    monkeypatch.setattr(Authorizer, "local_entry", lambda self, id_tag: None)  # ignores its list
    result = await _run(tool_id, tmp_path)
    assert result.outcome == "fail" and "Authorize" in result.reason, result.describe()


async def test_tc_043_2_fails_a_station_that_accepts_an_old_differential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocpp_station.station.profiles.local_auth_list_management import LocalAuthListManagement

    monkeypatch.setattr(LocalAuthListManagement, "version", lambda self: 0)
    result = await _run("TC_043_2", tmp_path)
    assert result.outcome == "fail", result.describe()


async def test_tc_055_fails_a_station_that_sends_for_an_unknown_connector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocpp_station.station.profiles import remote_trigger

    monkeypatch.setattr(remote_trigger, "_PER_CONNECTOR", frozenset())
    result = await _run("TC_055", tmp_path)
    assert result.outcome in ("fail", "error"), result.describe()
