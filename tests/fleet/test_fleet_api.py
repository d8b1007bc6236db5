"""The fleet's control API over real HTTP: fleet-wide queries, a reconnect storm on demand, every station reachable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.fleet.web import FleetDirectory, FleetPanelView, fleet_app, serve
from ocpp_station.settings import parse_settings
from ocpp_station.shell.web.fleet import summary as fleet_summary
from ocpp_station.shell.web.telemetry import Telemetry
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import quiet_fleet, until

COUNT = 40
RAMP = 20.0  # stations/s: a restored share comes back spread over COUNT / RAMP = 2 s


@pytest.fixture
async def running() -> AsyncIterator[tuple[Fleet, FleetCsms, str]]:
    csms = FleetCsms(heartbeat_interval=30)
    await csms.start()
    fleet = Fleet(
        FleetOptions(
            csms_url=csms.url,
            ids=station_ids("CP-{n:05d}", COUNT),
            settings=parse_settings({"hardware": {"connectors": 1}}),
            scenario=parse_scenario({"enabled": False}),
            seed=5,
            ramp_per_s=RAMP,
        )
    )
    runner, port = await serve(fleet_app(fleet), "127.0.0.1", 0)
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=20)
        yield fleet, csms, f"http://127.0.0.1:{port}"
    finally:
        fleet.stop()
        await runner.cleanup()
        await csms.stop()


async def _json(http: aiohttp.ClientSession, method: str, url: str, body: object = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        return response.status, await response.json()


async def test_cutting_and_restoring_a_share_is_a_reconnect_storm_spread_over_time(
    running: tuple[Fleet, FleetCsms, str],
) -> None:
    fleet, csms, base = running
    async with aiohttp.ClientSession() as http:
        status, summary = await _json(http, "GET", f"{base}/api/fleet/summary")
        assert status == 200
        assert summary["stations"] == COUNT and summary["booted"] == COUNT and summary["connected"] == COUNT
        assert summary["sent"]["BootNotification"] == COUNT

        first_wave = len(csms.connected_at)
        status, cut = await _json(http, "POST", f"{base}/api/fleet/network", {"share": 0.5, "online": False})
        assert (status, cut) == (200, {"stations": COUNT // 2, "online": False})
        await until(lambda: fleet.counts()["connected"] == COUNT // 2)
        status, summary = await _json(http, "GET", f"{base}/api/fleet/summary")
        assert summary["connected"] == COUNT // 2

        restored_at = asyncio.get_running_loop().time()
        status, back = await _json(http, "POST", f"{base}/api/fleet/network", {"share": 0.5, "online": True})
        assert (status, back) == (200, {"stations": COUNT // 2, "online": True})
        await csms.wait_until(lambda c: len(c.connected_at) >= first_wave + COUNT // 2, timeout=15)
        again = csms.connected_at[first_wave:]
        assert len({i for i, _ in again}) == COUNT // 2  # the cut half, each once
        times = sorted(t for _, t in again)
        # Spread over the ramp's time for the fleet (40 / 20 = 2 s), not all at once.
        assert times[-1] - times[0] > 1.0
        assert sum(1 for t in times if t - times[0] < 0.5) < COUNT // 4
        assert times[0] >= restored_at
        await until(lambda: fleet.counts()["connected"] == COUNT)
        # A reconnection, not a reboot (OCPP 1.6 §4.2.1).
        assert csms.calls["BootNotification"] == COUNT
        assert fleet.stats.reconnects == COUNT // 2


async def test_bad_network_requests_get_a_clear_answer_and_change_nothing(
    running: tuple[Fleet, FleetCsms, str],
) -> None:
    fleet, _, base = running
    async with aiohttp.ClientSession() as http:
        status, body = await _json(http, "POST", f"{base}/api/fleet/network", {"share": 1.5, "online": False})
        assert status == 422 and "share" in body["error"]
        status, body = await _json(http, "POST", f"{base}/api/fleet/network", {"online": False})
        assert status == 400 and "share" in body["error"]
        status, body = await _json(http, "POST", f"{base}/api/fleet/network", {"share": 0.5, "online": "no"})
        assert status == 422
    assert fleet.counts()["connected"] == COUNT


async def test_every_station_is_reachable_by_its_id(running: tuple[Fleet, FleetCsms, str]) -> None:
    _, _, base = running
    async with aiohttp.ClientSession() as http:
        status, state = await _json(http, "GET", f"{base}/api/stations/CP-00031/state")
        assert status == 200
        assert state["chargeBoxId"] == "CP-00031"
        async with http.get(f"{base}/api/stations/CP-99999/state") as response:
            assert response.status == 404


async def test_the_fleet_page_reads_the_fleets_own_counters_and_lists_the_first_matching_stations(
    running: tuple[Fleet, FleetCsms, str],
) -> None:
    fleet, _, base = running
    async with aiohttp.ClientSession() as http:
        status, page = await _json(http, "GET", f"{base}/api/fleet?q=cp-0001")
    assert status == 200
    assert page["total"] == COUNT and page["counts"] == {"registered": COUNT}
    assert page["connectorStatuses"] == {"Available": COUNT}
    assert page["matching"] == 10  # CP-00010 … CP-00019
    assert [row["chargeBoxId"] for row in page["stations"]] == [f"CP-{n:05d}" for n in range(10, 20)]
    # The traffic is the fleet's own, as its report counts it (a fleet station has no per-station watch).
    assert page["responseTimeMs"]["p50"] is not None and page["callErrors"] == 0 and page["timeouts"] == 0
    # Rows are capped, counts are not.
    capped = fleet_summary(FleetDirectory(fleet), Telemetry(), FleetPanelView(fleet), limit=5)
    assert (len(capped["stations"]), capped["matching"], capped["total"]) == (5, COUNT, COUNT)


async def test_the_apis_metrics_are_the_fleets_own_not_a_series_set_per_station(
    running: tuple[Fleet, FleetCsms, str],
) -> None:
    _, _, base = running
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert f'ocpp_fleet_stations{{state="booted"}} {COUNT}.0' in text
    assert "ocpp_station_connected" not in text and "charge_box_id" not in text


async def test_with_a_frame_trace_a_station_lists_its_frames_as_a_single_station_does(csms: FleetCsms) -> None:
    async with quiet_fleet(csms.url, 2, seed=5, trace_bytes=1 << 20) as fleet:
        runner, port = await serve(fleet_app(fleet), "127.0.0.1", 0)
        try:
            change = {"key": "AuthorizationKey", "value": "0123456789abcdef0123456789abcdef"}
            assert await csms.call("CP-002", "ChangeConfiguration", change) == {"status": "Accepted"}
            async with aiohttp.ClientSession() as http:
                status, body = await _json(http, "GET", f"http://127.0.0.1:{port}/api/stations/CP-002/frames")
                _, boots = await _json(
                    http, "GET", f"http://127.0.0.1:{port}/api/stations/CP-002/frames?action=BootNotification"
                )
        finally:
            await runner.cleanup()
    assert status == 200
    frames = body["frames"]
    assert [(f["direction"], f["type"], f["action"]) for f in frames[:2]] == [
        ("sent", "call", "BootNotification"),
        ("received", "result", "BootNotification"),
    ]
    assert frames[1]["responseTimeS"] is not None and frames[1]["payload"]["status"] == "Accepted"
    # The CSMS's call and the station's answer, its AuthorizationKey masked as the single station's panel does.
    change_frames = [f for f in frames if f["action"] == "ChangeConfiguration"]
    assert [(f["direction"], f["type"]) for f in change_frames] == [("received", "call"), ("sent", "result")]
    assert change_frames[0]["payload"]["value"] != change["value"]
    assert [f["type"] for f in boots["frames"]] == ["call", "result"]


async def _next_event(stream: aiohttp.StreamReader) -> tuple[str, Any]:
    """One server-sent event: (its name, its JSON data)."""
    name, data = "", ""
    while line := (await stream.readline()).decode().rstrip("\n"):
        field, _, value = line.partition(": ")
        if field == "event":
            name = value
        elif field == "data":
            data = value
    return name, json.loads(data) if data else None


async def test_a_station_page_follows_a_fleet_stations_frames_live(csms: FleetCsms) -> None:
    """No frame trace: the live feed alone. A watch exists while the feed is open, for that station only."""
    async with quiet_fleet(csms.url, 2, seed=5) as fleet:
        runner, port = await serve(fleet_app(fleet), "127.0.0.1", 0)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/api/stations/CP-002/events") as feed,
            ):
                assert (await feed.content.readline()).startswith(b"retry:")
                await feed.content.readline()
                assert (await _next_event(feed.content))[0] == "state"  # subscribed by now
                assert set(fleet.live.watches) == {"CP-002"}
                change = {"key": "AuthorizationKey", "value": "0123456789abcdef0123456789abcdef"}
                # Another station's frames: not in this feed.
                await csms.call("CP-001", "GetConfiguration", {"key": ["HeartbeatInterval"]})
                await csms.call("CP-002", "ChangeConfiguration", change)
                frames: list[dict[str, Any]] = []
                async with asyncio.timeout(10):
                    while len(frames) < 2:
                        name, data = await _next_event(feed.content)
                        if name == "frame":
                            frames.append(data)
            await until(lambda: not fleet.live.watches)  # the feed closed: the watch is gone
        finally:
            await runner.cleanup()
    assert [(f["direction"], f["type"], f["action"]) for f in frames] == [
        ("received", "call", "ChangeConfiguration"),
        ("sent", "result", "ChangeConfiguration"),
    ]
    assert frames[0]["payload"]["value"] != change["value"]  # the AuthorizationKey masked, as on any panel
    assert frames[1]["payload"] == {"status": "Accepted"}
