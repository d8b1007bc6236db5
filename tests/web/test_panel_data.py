"""The panel's JSON routes against a real station: details (masked secrets), the frame log, the fleet summary."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES
from tests.web.conftest import AUTHORIZATION_KEY, Panel

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def get(panel: Panel, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(panel.url + path) as response:
        return response.status, await response.json()


async def test_details_mask_the_authorization_key(panel: Panel) -> None:
    for path in ("/api/details", "/api/stations/PANEL-CP-1/details"):
        status, details = await get(panel, path)
        assert status == 200
        keys = {row["key"]: row for row in details["configuration"]}
        assert keys["AuthorizationKey"]["value"] == "***"
        assert AUTHORIZATION_KEY not in str(details)
        assert keys["HeartbeatInterval"]["value"] == panel.runtime.core.config.get("HeartbeatInterval")
        assert keys["NumberOfConnectors"]["readonly"] is True
        assert set(details["faultCodes"]) == CHARGE_POINT_FAULT_CODES
        assert details["firmwareVersion"] == panel.runtime.core.firmware_version()


async def test_unknown_station_is_404(panel: Panel) -> None:
    for path in ("/api/stations/NOPE/details", "/api/stations/NOPE/frames", "/stations/NOPE"):
        status, body = await get(panel, path)
        assert status == 404 and "'NOPE'" in body["error"], path


async def test_frame_log_pairs_responses_with_their_calls(panel: Panel) -> None:
    status, log = await get(panel, "/api/frames?action=BootNotification")
    assert status == 200
    call, result = log["frames"]
    assert (call["direction"], call["type"], call["action"]) == ("sent", "call", "BootNotification")
    assert (result["direction"], result["type"], result["action"]) == ("received", "result", "BootNotification")
    assert result["uniqueId"] == call["uniqueId"] and result["payload"]["status"] == "Accepted"
    assert result["responseTimeS"] >= 0 and call["seq"] < result["seq"]
    _, everything = await get(panel, "/api/frames")
    assert len(everything["frames"]) > 2


async def test_fleet_summary_counts_the_station(panel: Panel) -> None:
    status, fleet = await get(panel, "/api/fleet")
    assert status == 200
    assert fleet["counts"] == {"registered": 1}
    (row,) = fleet["stations"]
    assert row["chargeBoxId"] == "PANEL-CP-1" and row["msgsPerS"] > 0
    assert fleet["connectorStatuses"] == {"Available": 2}
    assert fleet["responseTimeMs"]["p50"] is not None
    assert fleet["responseTimeMs"]["p50"] <= fleet["responseTimeMs"]["p99"]
    assert (fleet["total"], fleet["matching"]) == (1, 1)


async def test_fleet_summary_lists_the_stations_that_match_and_counts_them_all(panel: Panel) -> None:
    for query, matching in (("panel-cp", 1), ("REGISTERED", 1), ("nothing", 0)):
        _, fleet = await get(panel, "/api/fleet?q=" + query)
        assert (fleet["total"], fleet["matching"], len(fleet["stations"])) == (1, matching, matching), query
        assert fleet["counts"] == {"registered": 1}, "the counts cover every station, whatever the search"


async def test_static_assets_are_served_and_confined(panel: Panel) -> None:
    async with aiohttp.ClientSession() as session:
        for name, kind in (("uPlot.iife.min.js", "text/javascript"), ("uPlot.LICENSE.txt", "text/plain")):
            async with session.get(f"{panel.url}/static/{name}") as response:
                assert (response.status, response.content_type) == (200, kind)
        for name in ("..%2F__init__.py", "station.html", ".hidden", "nothing.js"):
            async with session.get(f"{panel.url}/static/{name}") as response:
                assert response.status == 404, name
