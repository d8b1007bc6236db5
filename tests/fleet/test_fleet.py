"""A fleet of real stations against a real central system on 127.0.0.1 (tests/support/fleet_csms.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.fleet.web import metrics_app, serve
from ocpp_station.settings import parse_settings
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import until

FAST = {
    "sessions": {"inter_arrival_s": [0.2, 0.5], "duration_s": [1.5, 2.0]},
    "configuration": {
        "MeterValueSampleInterval": 1,
        "AuthorizationCacheEnabled": False,
        "WebSocketPingInterval": 0,
        "ClockAlignedDataInterval": 0,
    },
}


def make_fleet(url: str, count: int, *, ramp: float = 400.0, scenario: dict[str, object] | None = None) -> Fleet:
    return Fleet(
        FleetOptions(
            csms_url=url,
            ids=station_ids("CP-{n:05d}", count),
            settings=parse_settings({"hardware": {"connectors": 1}}),
            scenario=parse_scenario(scenario if scenario is not None else FAST),
            seed=7,
            ramp_per_s=ramp,
        )
    )


async def test_200_stations_complete_the_scenario_and_the_counts_agree(csms: FleetCsms) -> None:
    fleet = make_fleet(csms.url, 200)
    runner, port = await serve(metrics_app(fleet), "127.0.0.1", 0)
    fleet.start()
    try:
        # Every station boots, reports both connectors, and completes at least one session.
        await csms.wait_until(lambda c: c.calls["StopTransaction"] >= 200, timeout=40)
        await until(lambda: fleet.stats.sessions >= 200)  # their responses processed too
        assert fleet.booted == 200
        fleet.stop()
        sent = dict(fleet.stats.sent)
        await csms.wait_until(lambda c: all(c.calls[a] >= n for a, n in sent.items()), timeout=10)
        assert dict(csms.calls) == sent
        assert sent["BootNotification"] == 200
        assert sent["StatusNotification"] >= 400 + 2 * 200  # 0 and 1 after boot, Preparing and Charging before a Stop
        assert sent["Authorize"] >= 200 and sent["StartTransaction"] >= 200 and sent["MeterValues"] >= 200
        assert sent["Heartbeat"] >= 200
        assert 200 <= fleet.stats.sessions <= sent["StopTransaction"]
        assert fleet.stats.energy_wh > 0
        assert not fleet.stats.errors
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        for action, n in sent.items():
            assert f'ocpp_fleet_messages_total{{action="{action}",direction="sent"}} {float(n)}' in text
        assert 'ocpp_fleet_stations{state="booted"} 200.0' in text
    finally:
        fleet.stop()
        await runner.cleanup()


async def test_a_restarted_csms_sees_spread_out_reconnections(csms: FleetCsms) -> None:
    count = 100
    fleet = make_fleet(csms.url, count, ramp=50.0, scenario={"enabled": False})
    fleet.start()
    try:
        await csms.wait_until(lambda c: c.calls["BootNotification"] == count)
        await csms.stop()
        restarted_at = asyncio.get_running_loop().time()
        first_wave = len(csms.connected_at)
        await csms.start()
        await csms.wait_until(lambda c: len(c.connected_at) >= first_wave + count, timeout=30)
        second = sorted(t for _, t in csms.connected_at[first_wave:])
        # Spread over the ramp's time for the fleet (100 / 50 = 2 s), not all in the same second.
        assert second[-1] - second[0] > 1.0
        in_first_half_second = sum(1 for t in second if t - second[0] < 0.5)
        assert in_first_half_second < count / 2
        assert {i for i, _ in csms.connected_at[first_wave:]} == set(station_ids("CP-{n:05d}", count))
        assert second[0] >= restarted_at
        # A reconnection is not a reboot (OCPP 1.6 §4.2.1): no second BootNotification, the link simply comes back.
        await until(lambda: fleet.stats.connects == 2 * count)
        assert fleet.stats.reconnects == count
        assert csms.calls["BootNotification"] == count
    finally:
        fleet.stop()


async def test_two_shards_together_run_every_station_once(csms: FleetCsms) -> None:
    count = 30
    argv = [sys.executable, "-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", str(count)]
    argv += ["--duration", "60", "--quiet", "--ramp", "100"]
    shards = [
        await asyncio.create_subprocess_exec(*argv, "--shard", f"{i}/2", stdout=subprocess.DEVNULL) for i in (0, 1)
    ]
    try:
        await csms.wait_until(lambda c: c.calls["BootNotification"] >= count, timeout=30)
        assert csms.ids == set(station_ids("CP-{n:05d}", count))
        assert len(csms.connected_at) == count  # each id from one shard only
    finally:
        for shard in shards:
            shard.terminate()
            await shard.wait()


def test_shard_ids_are_disjoint_and_complete() -> None:
    a, b = station_ids("CP-{n}", 11, (0, 2)), station_ids("CP-{n}", 11, (1, 2))
    assert not set(a) & set(b)
    assert sorted(a + b, key=lambda i: int(i[3:])) == [f"CP-{n}" for n in range(1, 12)]


async def test_connection_jitter_leaves_the_scenario_draws_alone() -> None:
    fleet = make_fleet("ws://127.0.0.1:9/ocpp", 2)
    calm, failing = fleet.drivers
    calm_draws = [fleet.rand(calm) for _ in range(5)]
    failing.index = calm.index  # the same station, in a run whose connections fail between its scenario draws
    failing_draws = []
    for _ in range(5):
        jitters = [fleet.jitter(failing) for _ in range(3)]
        failing_draws.append(fleet.rand(failing))
    assert failing_draws == calm_draws
    assert not set(jitters) & set(calm_draws)
    assert failing.draws == 5 and failing.jitter_draws == 15
