"""Network faults between a real station and a scripted central system, injected by a seeded TCP proxy:
a half-open link is found by WebSocket ping/pong within about two WebSocketPingInterval (OCPP-J 1.6 §7,
OCPP-J errata 3.11), a closed or reset link at once; the station reconnects with capped exponential back-off
(OCPP-J errata 3.4), never has two calls of its own unanswered (OCPP-J 1.6 §4.1.1) even when it drains
its queue after an offline period, and its heartbeats and status notifications resume."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.support.link_bench import Bench, bench, overlapping_calls

PING_INTERVAL = 1  # WebSocketPingInterval of the bench, seconds


async def _online(b: Bench) -> None:
    await b.until(lambda: b.runtime.core.online, what="the station to be registered")
    await b.until(lambda: b.calls("StatusNotification"), what="the first StatusNotification")


async def _start_transaction(b: Bench) -> None:
    b.runtime.plug(1)
    b.runtime.present_id_tag(b.csms.settings.valid_id_tag, 1)
    await b.until(lambda: b.calls("StartTransaction"), what="StartTransaction")
    # Its confirmation too: a link cut before it arrives would leave StartTransaction in the queue to retry.
    await b.until(lambda: b.runtime.core.store.queue_length() == 0, what="StartTransaction.conf")


@pytest.mark.parametrize("fault", ["stall", "cut", "reset"])
async def test_a_dead_link_is_detected_and_the_station_comes_back(tmp_path: Path, fault: str) -> None:
    async with bench(tmp_path) as b:
        await _online(b)
        started = time.monotonic()
        if fault == "stall":
            b.proxy.stall()  # half-open: no FIN, no RST, nothing arrives any more
        elif fault == "cut":
            await b.proxy.cut()
        else:
            await b.proxy.reset()
        await b.until(lambda: not b.runtime.core.connected, timeout=10, what="the station to notice")
        detected = time.monotonic() - started
        limit = 2 * PING_INTERVAL + 0.75 if fault == "stall" else 0.75
        assert detected <= limit, f"{fault}: the station noticed after {detected:.2f} s (limit {limit} s)"

        back = time.monotonic()
        b.proxy.heal()
        await b.csms.wait_connected(timeout=5, after=1)
        await b.until(lambda: b.runtime.core.connected, what="the station to reconnect")
        # A reconnection is not a reboot: no new BootNotification (OCPP-J 1.6 §5.4).
        assert len(b.calls("BootNotification")) == 1
        # Heartbeats resume (HeartbeatInterval 2 s from the BootNotification.conf) ...
        await b.until(lambda: b.calls("Heartbeat", after=back), timeout=6, what="a heartbeat after reconnection")
        # ... and so does status reporting.
        b.runtime.plug(2)
        await b.until(
            lambda: [c for c in b.calls("StatusNotification", after=back) if c.payload["connectorId"] == 2],
            what="StatusNotification of connector 2",
        )
        assert overlapping_calls(b.csms.frames) == []
        b.csms.raise_if_violations()


async def test_reconnection_backs_off_exponentially_with_a_cap(tmp_path: Path) -> None:
    # Back-off between 0.2 s and 2 s (settings [network] reconnect_min_s / reconnect_max_s), jitter ×0.5–1.
    async with bench(tmp_path) as b:
        await _online(b)
        b.proxy.refuse(True)
        first = len(b.proxy.accepted_at)
        await b.proxy.reset()
        await b.until(lambda: len(b.proxy.accepted_at) >= first + 6, timeout=15, what="six refused attempts")
        attempts = b.proxy.accepted_at[first : first + 6]
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        for k, gap in enumerate(gaps, start=1):
            floor = 0.5 * min(0.2 * 2**k, 2.0)
            assert gap >= floor - 0.02, f"attempt {k + 1} came {gap:.3f} s after the previous one (< {floor})"
            assert gap <= 2.0 + 0.5, f"the back-off is capped at 2 s, waited {gap:.3f} s"
        assert gaps[-1] > gaps[0]
        b.proxy.heal()
        await b.until(lambda: b.runtime.core.connected, timeout=4, what="reconnection once the CSMS is back")


async def test_the_queue_drains_one_call_at_a_time_after_an_offline_period(tmp_path: Path) -> None:
    async with bench(tmp_path, overrides={"MeterValueSampleInterval": "1"}) as b:
        await _online(b)
        await _start_transaction(b)
        b.proxy.stall()
        await b.until(lambda: not b.runtime.core.connected, timeout=5, what="the station to go offline")
        store = b.runtime.core.store
        await b.until(lambda: store.queue_length() >= 3, timeout=6, what="meter values queued offline")
        b.runtime.unplug(1)  # the transaction ends offline: StopTransaction joins the queue
        queued = store.queue_length()
        b.proxy.set_delay(0.05, jitter=0.04)  # a slow network: responses take a while
        back = time.monotonic()
        b.proxy.heal()
        await b.until(lambda: store.queue_length() == 0, timeout=15, what="the queue to drain")
        drained = [c for c in b.calls(after=back) if c.action in ("MeterValues", "StopTransaction")]
        assert len(drained) >= queued
        stamps = [c.payload["meterValue"][0]["timestamp"] for c in drained if c.action == "MeterValues"]
        assert stamps == sorted(stamps), "queued meter values go out in chronological order (OCPP 1.6 §3.7)"
        assert drained[-1].action == "StopTransaction"
        assert overlapping_calls(b.csms.frames) == [], "never two station calls unanswered (OCPP-J 1.6 §4.1.1)"
        await b.until(lambda: b.calls("Heartbeat", after=back), timeout=6, what="heartbeats after the drain")
        b.csms.raise_if_violations()
