"""Smart Charging options of the station ([smart_charging] in the config file) and the GetCompositeSchedule cap;
the harness's expected-composite arithmetic (the document's "x" shift)."""

from __future__ import annotations

from typing import Any

import pytest

from ocpp_station.protocol.rpc import CallResult
from ocpp_station.settings import SettingsError, parse_settings
from ocpp_station.station.profiles.smart_charging import MAX_COMPOSITE_DURATION_S
from ocpp_station.tools.harness.cases.smart_charging import LOCAL, expected_periods
from tests.support.core_driver import CoreDriver


def composite(cp: CoreDriver, duration: int) -> dict[str, Any]:
    reply = cp.call("GetCompositeSchedule", {"connectorId": 1, "duration": duration})
    assert isinstance(reply, CallResult), reply
    return reply.payload


def test_include_start_schedule_is_a_setting() -> None:
    assert parse_settings({}).smart_charging.include_start_schedule is True
    off = parse_settings({"smart_charging": {"include_start_schedule": False}})
    cp = CoreDriver(settings=off)
    answer = composite(cp, 60)
    assert answer["status"] == "Accepted" and "scheduleStart" in answer
    assert "startSchedule" not in answer["chargingSchedule"]


def test_bad_smart_charging_settings_are_one_line_errors() -> None:
    with pytest.raises(SettingsError, match=r"smart_charging\.include_start_schedule must be bool"):
        parse_settings({"smart_charging": {"include_start_schedule": "yes"}})
    with pytest.raises(SettingsError, match=r"unknown setting smart_charging\.x"):
        parse_settings({"smart_charging": {"x": 1}})


def test_composite_duration_is_capped_with_rejected() -> None:
    cp = CoreDriver()
    assert composite(cp, MAX_COMPOSITE_DURATION_S)["status"] == "Accepted"
    # OCPP 1.6 §5.7: a schedule the station cannot report is Rejected (int32 max: 68 years).
    assert composite(cp, MAX_COMPOSITE_DURATION_S + 1) == {"status": "Rejected"}
    assert composite(cp, 2**31 - 1) == {"status": "Rejected"}


def test_expected_periods_shift_by_x() -> None:
    # TC_066: 0: 8, (50 - x): 10, (200 - x): 6, (240 - x): 10
    assert expected_periods([(0, 8), (50, 10), (200, 6), (240, 10)], 4, 400) == [
        (0.0, 8),
        (46, 10),
        (196, 6),
        (236, 10),
    ]
    # A breakpoint already passed sets the first period; one beyond the window is cut; equal neighbours merge.
    assert expected_periods([(0, 6), (60, 10), (120, 8), (300, LOCAL)], 61, 300) == [(0.0, 10), (59, 8), (239, LOCAL)]
    assert expected_periods([(0, 7), (100, 7), (400, 9)], 3, 350) == [(0.0, 7)]
    assert expected_periods([(0, LOCAL)], 3, 350) == [(0.0, LOCAL)]
