"""Limits and what the station does at them (README "Reliability"):

- an inbound frame over `[network] max_frame_bytes` closes the connection with 1009 (RFC 6455 §7.4.1, as
  the websockets library does); the station reconnects and carries on;
- the durable transaction message queue is bounded by `[limits] max_queued_messages` and the disk reserve
  `[limits] min_free_disk_mb`: at the bound periodic / clock MeterValues pause, Start/StopTransaction are
  still queued, nothing queued is dropped, and the station reports the condition (one log line, and a
  StatusNotification on connector 0 with errorCode OtherError) and its end;
- a flood of thousands of calls is answered in order while memory and the in-memory queues stay bounded.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ocpp_station.protocol.rpc import dumps
from ocpp_station.settings import Limits, parse_settings
from ocpp_station.tools.fuzz.runner import FuzzSession
from tests.support.core_driver import CoreDriver
from tests.support.link_bench import bench, station_settings

TAG = "TAG-LIMITS"


async def test_an_oversize_frame_closes_with_1009_and_the_station_reconnects(tmp_path: Path) -> None:
    settings = station_settings(reconnect_min_s=0.2, reconnect_max_s=1.0, max_frame_bytes=4096)
    async with bench(tmp_path, settings=settings) as b:
        await b.until(lambda: b.runtime.core.online, what="registration")
        await b.csms.send_raw(dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 8000}]))
        await b.csms.wait_connected(timeout=5, after=1)
        closes = [f.text for f in b.csms.frames if f.direction == "event" and "closed" in f.text]
        assert closes and "code 1009" in closes[0], closes
        # Back, without a new boot (a reconnection is not a reboot), and answering again.
        reply = await b.csms.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert isinstance(reply, dict)
        assert len(b.calls("BootNotification")) == 1
        # A frame just under the limit is fine.
        reply = await b.csms.call("DataTransfer", {"vendorId": "x", "data": "y" * 3000})
        assert isinstance(reply, dict)


def _driver(tmp_path: Path, **limits: Any) -> CoreDriver:
    settings = replace(parse_settings({}), limits=Limits(**limits))
    cp = CoreDriver({"MeterValueSampleInterval": "10", "ClockAlignedDataInterval": "0"}, settings=settings)
    cp.connect()
    cp.take()
    return cp


def _charge(cp: CoreDriver) -> None:
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present(TAG, 1)
    assert "StartTransaction" in cp.actions()


def _station_errors(sent: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str | None]]:
    return [(p["errorCode"], p.get("info")) for a, p in sent if a == "StatusNotification" and p["connectorId"] == 0]


def test_a_full_queue_pauses_meter_values_keeps_stops_and_reports_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cp = _driver(tmp_path, max_queued_messages=5)
    _charge(cp)
    cp.take()
    cp.disconnect()
    with caplog.at_level(logging.INFO, logger="ocpp_station.queue"):
        cp.advance(200)  # 20 samples due, 5 fit
        assert cp.store.queue_length() == 5
        cp.hardware.connector(1).unplug(cp.clock.now())  # the transaction ends offline
        assert [m.action for m in cp.store.queue_messages()][-1] == "StopTransaction"  # never refused
        assert cp.store.queue_length() == 6
        cp.connect()
        sent = cp.take()
    assert cp.store.queue_length() == 0
    assert [a for a, _ in sent].count("MeterValues") == 5
    assert _station_errors(sent) == [("OtherError", "QueueFull: MeterValues paused"), ("NoError", None)]
    lines = [r.getMessage() for r in caplog.records if r.name == "ocpp_station.queue"]
    assert len(lines) == 2
    assert lines[0].startswith("CP-TEST: QueueFull: 5 messages queued (limit 5); periodic and clock-aligned")
    assert lines[1] == "CP-TEST: QueueFull over: MeterValues resumed"
    cp.close()


def test_low_disk_space_pauses_meter_values_until_space_returns(tmp_path: Path) -> None:
    cp = _driver(tmp_path, min_free_disk_mb=50)
    _charge(cp)
    cp.station.on_free_disk(10 * 1024 * 1024)
    cp.take()
    cp.advance(60)
    sent = cp.take()
    assert "MeterValues" not in [a for a, _ in sent]
    assert _station_errors(sent) == [("OtherError", "StorageLow: MeterValues paused")]
    cp.station.on_free_disk(500 * 1024 * 1024)
    cp.advance(10)
    sent = cp.take()
    assert _station_errors(sent) == [("NoError", None)]
    assert "MeterValues" in [a for a, _ in sent]
    cp.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


FLOOD = [
    ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification"}),
    ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
    ("ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
    ("DataTransfer", {"vendorId": "flood", "data": "z" * 200}),
]


def test_a_flood_of_calls_is_answered_in_order_with_bounded_queues_and_memory() -> None:
    calls = 3000
    with FuzzSession() as session:
        core = session.runtime.core if session.runtime is not None else None
        assert core is not None
        peaks = {"outbox": 0, "status": 0}
        rss_before = _rss_mb()

        async def flood() -> list[Any]:
            ws = session.csms.ws
            assert ws is not None
            start = len(session.csms.answers)
            for n in range(calls):
                action, payload = FLOOD[n % len(FLOOD)]
                await ws.send(dumps([2, f"flood-{n}", action, payload]))
                peaks["outbox"] = max(peaks["outbox"], len(core._outbox))
                peaks["status"] = max(peaks["status"], len(core._status_queue))
            done = await session.csms.wait(lambda: len(session.csms.answers) - start >= calls, 60)
            assert done, "not every call was answered"
            return session.csms.answers[start:]

        answers = session._run(flood())
        rss_after = _rss_mb()
        assert [a.unique_id for a in answers] == [f"flood-{n}" for n in range(calls)]
        assert all(a.kind == 3 for a in answers), [a for a in answers if a.kind != 3][:3]
        # Triggered messages are coalesced while they wait, status changes collapse past 64 entries.
        assert peaks["outbox"] <= 8, peaks
        assert peaks["status"] <= 65, peaks
        assert rss_after - rss_before < 64, f"memory grew {rss_after - rss_before:.0f} MB"
        # And the station drains what the flood made it want to send.
        session._run(asyncio.sleep(0.5))
        assert len(core._outbox) <= 8 and len(core._status_queue) <= 65
