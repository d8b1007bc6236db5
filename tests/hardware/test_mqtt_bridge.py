"""The MQTT bridge against a real Mosquitto broker: inputs reach the station, outputs reach the hardware."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from ocpp_station.hardware.composed import ComposedStation
from ocpp_station.hardware.drivers import load_driver
from ocpp_station.hardware.drivers.mqtt_bridge import MqttBridge
from ocpp_station.tools.modbus_meter_server import free_port
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import Events

NOW = 1_767_225_600.0
BASE = "ocpp-station/CP-1"


@dataclass
class Listener:
    """The station core's side of `HardwareListener`, recording what hardware tells it."""

    events: Events
    seen: list[tuple[Any, ...]] = field(default_factory=list)

    def _add(self, *event: Any) -> None:
        self.seen.append(event)
        self.events.add(event)

    def on_plug_changed(self, connector_id: int, plugged: bool) -> None:
        self._add("plug", connector_id, plugged)

    def on_fault_changed(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        self._add("fault", connector_id, error_code, info)

    def on_ev_ready_changed(self, connector_id: int, ev_ready: bool) -> None:
        self._add("ev_ready", connector_id, ev_ready)

    def on_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self._add("id_tag", id_tag, connector_id)


@dataclass
class Rig:
    broker: Mosquitto
    bridge: MqttBridge
    station: ComposedStation
    listener: Listener
    events: Events


@pytest.fixture
async def rig(tmp_path: Path, events: Events) -> AsyncIterator[Rig]:
    broker = Mosquitto(tmp_path, free_port())
    options = {
        "host": "127.0.0.1",
        "port": broker.port,
        "station_id": "CP-1",
        "fixed_cable": False,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    }
    bridge = load_driver("bridge", "mqtt", options)
    assert isinstance(bridge, MqttBridge)
    station = bridge.station()
    listener = Listener(events)
    station.set_listener(listener)
    yield Rig(broker, bridge, station, listener, events)
    await bridge.stop()
    await broker.stop()


class Hardware:
    """The other process: publishes inputs, collects the station's outputs."""

    def __init__(self, port: int, events: Events) -> None:
        self._client = aiomqtt.Client("127.0.0.1", port)
        self._events = events
        self.outputs: dict[str, Any] = {}

    async def __aenter__(self) -> Hardware:
        await self._client.__aenter__()
        await self._client.subscribe(f"{BASE}/#", qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        async for message in self._client.messages:
            assert isinstance(message.payload, bytes)
            self.outputs[str(message.topic).removeprefix(BASE + "/")] = json.loads(message.payload)
            self._events.add("output")

    async def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self._client.publish(f"{BASE}/{topic}", data, qos=1)


async def test_plug_rfid_and_meter_in_lock_and_offered_current_out(rig: Rig) -> None:
    await rig.broker.start()
    await rig.bridge.start()
    connector = rig.station.connectors[0]
    await rig.events.wait(lambda: rig.bridge.connected)
    async with Hardware(rig.broker.port, rig.events) as hw:
        await hw.send("connector/1/meter", {"energy_wh": 5000.0, "power_w": 0, "voltage_v": [230, 230, 230]})
        await rig.events.wait(lambda: connector.fault is None)
        await hw.send("connector/1/plug", {"state": "B"})
        await rig.events.wait(lambda: ("plug", 1, True) in rig.listener.seen)
        await hw.send("rfid", {"id_tag": "04A2B3C4"})
        await rig.events.wait(lambda: ("id_tag", "04A2B3C4", None) in rig.listener.seen)

        assert connector.lock()
        connector.set_energy_offered(NOW, True, 16.0)
        await rig.events.wait(lambda: "connector/1/offered_current" in hw.outputs and "connector/1/lock" in hw.outputs)
        await rig.events.wait(lambda: hw.outputs.get("connector/1/contactor") == {"allowed": True})
        assert hw.outputs["connector/1/lock"] == {"locked": True}
        assert hw.outputs["connector/1/offered_current"] == {"amps": 16.0, "duty_cycle_percent": 26.67}

        await hw.send("connector/1/plug", {"state": "C"})
        await rig.events.wait(lambda: ("ev_ready", 1, True) in rig.listener.seen)
        await hw.send("connector/1/meter", {"energy_wh": 5005.0, "power_w": 11000, "current_a": [16, 16, 16]})
        await rig.events.wait(lambda: connector.meter.read(NOW).energy_import_wh == 5005.0)
        reading = connector.meter.read(NOW)
        assert reading.current_offered_a == 16.0 and reading.power_import_w == 11000.0


async def test_broker_down_at_start_then_restarted_mid_transaction(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_station.hardware.drivers.mqtt_bridge")
    await rig.bridge.start()
    connector = rig.station.connectors[0]
    assert connector.fault == "OtherError"  # no broker: faulted from the start
    # The first attempt must have failed before the broker comes up, else there is no "down at start" to see.
    await rig.events.wait(lambda: any("unreachable" in r.getMessage() for r in caplog.records), poll_logs=caplog)
    await rig.broker.start()
    await rig.events.wait(lambda: rig.bridge.connected)
    async with Hardware(rig.broker.port, rig.events) as hw:
        await hw.send("connector/1/meter", {"energy_wh": 100.0})
        await hw.send("connector/1/plug", {"state": "C"})
        await rig.events.wait(lambda: connector.fault is None and connector.ev_ready)
    connector.set_energy_offered(NOW, True, 10.0)

    await rig.broker.stop()  # the broker restarts mid-transaction
    await rig.events.wait(lambda: ("fault", 1, "OtherError", "MQTT broker unreachable") in rig.listener.seen)
    assert not connector.lock()  # nobody would hear it
    await rig.broker.start()
    await rig.events.wait(lambda: rig.listener.seen[-1] == ("fault", 1, None, None))
    async with Hardware(rig.broker.port, rig.events) as hw:
        # The broker kept nothing, yet the hardware learns the current limit again: republished on reconnection.
        await rig.events.wait(lambda: hw.outputs.get("connector/1/offered_current", {}).get("amps") == 10.0)
        await hw.send("connector/1/meter", {"energy_wh": 90.0})  # backwards: refused
        await rig.events.wait(lambda: connector.fault == "PowerMeterFailure")
        assert connector.meter.read(NOW).energy_import_wh == 100.0
    links = [r.getMessage() for r in caplog.records if "broker" in r.getMessage()]
    assert len(links) == 4, links  # down at start, up, down, up: one line each


async def test_malformed_payloads_and_unknown_topics_cost_one_log_line_each(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_station.hardware.drivers.mqtt_bridge")
    await rig.broker.start()
    await rig.bridge.start()
    await rig.events.wait(lambda: rig.bridge.connected)
    bad = [
        ("connector/1/plug", b"{not json"),
        ("connector/1/plug", {"state": "X"}),
        ("connector/9/plug", {"state": "B"}),
        ("connector/1/fault", {"error_code": "Broken"}),
        ("rfid", {"id_tag": "x" * 21}),
        ("connector/1/teapot", {"state": "B"}),
    ]
    async with Hardware(rig.broker.port, rig.events) as hw:
        before = len(caplog.records)
        for topic, payload in bad:
            await hw.send(topic, payload)
        await hw.send("connector/1/plug", {"state": "B"})  # still served afterwards
        await rig.events.wait(lambda: ("plug", 1, True) in rig.listener.seen)
    lines = [r.getMessage() for r in caplog.records[before:]]
    assert len(lines) == len(bad), lines
    assert sum("malformed" in line for line in lines) == 5 and "unknown topic" in lines[-1]
    assert [e for e in rig.listener.seen if e[0] != "fault"] == [("plug", 1, True)]
