"""`/metrics` scraped and parsed with Prometheus' own text parser, checked against what the test CSMS counted."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ocpp_station.shell.api import ControlApi, DictStationDirectory
from tests.support.fake_csms import Received
from tests.web.conftest import Panel, start_panel, stop_panel

pytestmark = pytest.mark.asyncio(loop_scope="module")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def by_action(samples: Samples, name: str, **labels: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (sample_name, sample_labels), value in samples.items():
        found = dict(sample_labels)
        if sample_name == name and all(found.get(k) == v for k, v in labels.items()):
            counts[found["action"]] += int(value)
    return counts


def calls_received(received: Received) -> Counter[str]:
    return Counter(action for action, _ in received)


async def api_post(panel: Panel, path: str, body: object = None) -> None:
    async with aiohttp.ClientSession() as session, session.post(panel.url + path, json=body) as response:
        assert response.status == 200, await response.text()


async def test_message_counters_match_what_the_csms_counted(panel: Panel) -> None:
    await api_post(panel, "/api/connectors/1/plug")
    await api_post(panel, "/api/rfid", {"idTag": "METRICS", "connectorId": 1})
    await panel.csms.wait_for_message("StartTransaction", idTag="METRICS")
    charging = await scrape(panel.url)
    power = {dict(labels)["connector"]: v for (name, labels), v in charging.items() if name == "ocpp_station_power_w"}
    assert power["1"] > 0 and power["2"] == 0
    await api_post(panel, "/api/rfid", {"idTag": "METRICS", "connectorId": 1})
    await panel.csms.wait_for_message("StopTransaction")
    watch = panel.api.telemetry.get("PANEL-CP-1")
    assert watch is not None

    def caught_up(received: Received) -> bool:
        sent = Counter({action: n for (d, t, action), n in watch.messages.items() if d == "sent" and t == "call"})
        return calls_received(received) == sent

    # The CSMS records a call once it has answered it; wait until it has seen every call the station sent.
    received = await panel.csms.wait_for(caught_up)
    samples = await scrape(panel.url)
    station = {"charge_box_id": "PANEL-CP-1"}
    sent_calls = by_action(samples, "ocpp_station_messages_total", direction="sent", type="call", **station)
    assert sent_calls == calls_received(received)
    assert {"BootNotification", "StatusNotification", "Authorize", "StartTransaction", "StopTransaction"} <= set(
        sent_calls
    )
    # Every call was answered and timed: one histogram observation per answered call.
    answered = by_action(samples, "ocpp_station_messages_total", direction="received", type="result", **station)
    timed = by_action(samples, "ocpp_station_csms_response_seconds_count", **station)
    assert timed == answered
    assert all(0 <= sent_calls[action] - answered[action] <= 1 for action in sent_calls)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset({**station, **labels}.items()))]

    assert value("ocpp_station_connected") == 1
    assert value("ocpp_station_registration", status="Accepted") == 1
    assert value("ocpp_station_call_errors_total", direction="received") == 0
    assert value("ocpp_station_reconnects_total") == 0
    assert value("ocpp_station_queue_depth") >= 0
    stopped = await panel.csms.wait_for_message("StopTransaction")
    # The register reads at least what StopTransaction reported (whole Wh, so allow its rounding).
    assert value("ocpp_station_energy_wh", connector="1") >= stopped["meterStop"] - 1
    assert value("ocpp_station_power_w", connector="1") == 0  # the transaction is over


async def test_reconnects_and_connection_state(panel: Panel) -> None:
    await api_post(panel, "/api/network", {"online": False})
    samples = await scrape(panel.url)
    labels = frozenset({"charge_box_id": "PANEL-CP-1"}.items())
    assert samples[("ocpp_station_connected", labels)] == 0
    reconnected = asyncio.Event()
    panel.runtime.frame_observers.append(lambda event: reconnected.set() if event.kind == "connected" else None)
    await api_post(panel, "/api/network", {"online": True})
    await asyncio.wait_for(reconnected.wait(), 10)
    samples = await scrape(panel.url)
    assert samples[("ocpp_station_connected", labels)] == 1
    assert samples[("ocpp_station_reconnects_total", labels)] == 1


async def test_each_api_has_its_own_registry(tmp_path: Path) -> None:
    one = await start_panel(tmp_path / "one", "CP-ONE")
    other = await start_panel(tmp_path / "other", "CP-OTHER")
    empty = ControlApi(DictStationDirectory())
    await empty.start("127.0.0.1", 0)
    try:
        for started, name in ((one, "CP-ONE"), (other, "CP-OTHER")):
            ids = {dict(labels).get("charge_box_id") for _, labels in await scrape(started.url)}
            assert ids == {name}
        assert await scrape(empty.base_url) == {}
    finally:
        await empty.stop()
        await stop_panel(one)
        await stop_panel(other)
