"""A real station (StationRuntime) talking to a ScriptedCsms through a FaultProxy: the bench of the
network-fault and misbehaving-central-system tests. Waits are on conditions, never bare sleeps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ocpp_station.settings import Network, StationSettings, parse_settings
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.tools.harness.csms import FrameRecord, ScriptedCsms
from ocpp_station.tools.harness.faultproxy import FaultProxy
from ocpp_station.tools.harness.settings import HarnessSettings

CSMS_SETTINGS = HarnessSettings(charge_box_id="CP-NET", heartbeat_interval=2, response_timeout=5.0)
T = TypeVar("T")


@dataclass
class Bench:
    csms: ScriptedCsms
    proxy: FaultProxy
    runtime: StationRuntime

    async def until(self, check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
        """Poll `check` until it returns something truthy (a non-empty list, True, ...)."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.02)

    def calls(self, action: str | None = None, after: float = 0.0) -> list[Any]:
        return [c for c in self.csms.station_calls if (action is None or c.action == action) and c.received_at >= after]


def station_settings(**network: Any) -> StationSettings:
    base = parse_settings({})
    return replace(base, network=replace(Network(), **network))


@asynccontextmanager
async def bench(
    tmp_path: Path,
    *,
    overrides: dict[str, str] | None = None,
    settings: StationSettings | None = None,
    seed: int = 1,
) -> AsyncIterator[Bench]:
    csms = ScriptedCsms(CSMS_SETTINGS)
    await csms.start()
    proxy = FaultProxy("127.0.0.1", csms.port, seed=seed)
    await proxy.start()
    runtime = StationRuntime(
        csms_url=proxy.url,
        charge_box_id=CSMS_SETTINGS.charge_box_id,
        data_dir=tmp_path,
        settings=settings or station_settings(reconnect_min_s=0.2, reconnect_max_s=2.0),
        config_overrides={"WebSocketPingInterval": "1", "MeterValueSampleInterval": "0", **(overrides or {})},
    )
    await runtime.start()
    try:
        yield Bench(csms, proxy, runtime)
    finally:
        await runtime.stop()
        await proxy.stop()
        await csms.stop()


def overlapping_calls(frames: list[FrameRecord], message_timeout: float | None = None) -> list[str]:
    """Station CALLs sent while an earlier station CALL on the same connection was unanswered and had not
    timed out yet (OCPP-J 1.6 §4.1.1); without `message_timeout` no call may ever be left unanswered."""
    outstanding: dict[int, tuple[str, float]] = {}
    problems = []
    for frame in frames:
        if frame.direction == "event" or not frame.text.startswith("["):
            continue
        try:
            message = json.loads(frame.text)
        except ValueError:
            continue  # a deliberately malformed frame of a misbehaving CSMS
        if frame.direction == "CP→CS" and message[0] == 2:
            earlier = outstanding.get(frame.connection)
            if earlier is not None and (message_timeout is None or frame.time - earlier[1] < message_timeout):
                problems.append(f"{message[2]} sent while {earlier[0]} was unanswered")
            outstanding[frame.connection] = (message[1], frame.time)
        elif frame.direction == "CS→CP" and message[0] in (3, 4):
            earlier = outstanding.get(frame.connection)
            if earlier is not None and earlier[0] == message[1]:
                del outstanding[frame.connection]
    return problems
