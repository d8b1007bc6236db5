"""A station whose hardware is the MQTT bridge, chosen by settings, against a real Mosquitto broker and a test
central system: a car charged through it, the broker down at start and restarted mid-transaction."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from ocpp_station.settings import parse_settings
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.tools.modbus_meter_server import free_port
from tests.support.fake_csms import FakeCsms, Received
from tests.support.mosquitto import Mosquitto

BASE = "ocpp-station/CP-MQTT"


def bridge_settings(port: int) -> dict[str, Any]:
    return {
        "hardware": {
            "connectors": 1,
            "bridge": {
                "driver": "mqtt",
                "host": "127.0.0.1",
                "port": port,
                "station_id": "CP-MQTT",
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.2,
                "max_power_w": 1e9,  # the test's meter moves kWh in milliseconds
            },
        },
        "configuration": {"MeterValuesSampledData": "Energy.Active.Import.Register", "MeterValueSampleInterval": "0"},
    }


def statuses(received: Received) -> list[tuple[str, str]]:
    return [(p["status"], p["errorCode"]) for a, p in received if a == "StatusNotification" and p["connectorId"] == 1]


def last_status(expected: tuple[str, str]) -> Any:
    return lambda received: statuses(received)[-1:] == [expected]


def meter_energy(received: Received) -> list[float]:
    return [float(p["meterValue"][0]["sampledValue"][0]["value"]) for a, p in received if a == "MeterValues"]


async def station_meter_reads(rig: Rig, wh: float) -> None:
    """Ask for MeterValues (TriggerMessage) until the station reports `wh`: the bridge has taken that reading."""
    async with asyncio.timeout(10):
        while True:
            seen = len(rig.csms.received)
            reply = await rig.csms.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
            assert reply == {"status": "Accepted"}

            def metered(messages: Received, seen: int = seen) -> bool:
                return bool(meter_energy(messages[seen:]))

            received = await rig.csms.wait_for(metered)
            if meter_energy(received[seen:])[-1] == wh:
                return


@dataclass
class Rig:
    broker: Mosquitto
    csms: FakeCsms
    runtime: StationRuntime

    async def publish(self, topic: str, payload: dict[str, Any] | bytes, *, retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier="the-hardware") as client:
            await client.publish(f"{BASE}/{topic}", data, qos=1, retain=retain)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    broker = Mosquitto(tmp_path, free_port())
    csms = FakeCsms()
    await csms.start()
    runtime = StationRuntime(
        csms_url=csms.url,
        charge_box_id="CP-MQTT",
        data_dir=tmp_path,
        settings=parse_settings(bridge_settings(broker.port)),
    )
    yield Rig(broker, csms, runtime)
    await runtime.stop()
    await csms.stop()
    await broker.stop()


async def test_a_car_charged_through_the_mqtt_bridge(rig: Rig) -> None:
    await rig.broker.start()
    await rig.runtime.start()
    assert rig.runtime.simulator_controls() is None  # every part is behind the bridge: nothing to press
    # Faulted until the meter has spoken (OtherError if the board is not connected yet, else PowerMeterFailure):
    # no transaction may start on a register nobody has read.
    await rig.csms.wait_for(lambda r: [s for s, _ in statuses(r)][-1:] == ["Faulted"])
    await rig.publish("connector/1/meter", {"energy_wh": 5000.0, "power_w": 0})
    await rig.csms.wait_for(last_status(("Available", "NoError")))
    async with aiomqtt.Client("127.0.0.1", rig.broker.port, identifier="the-board") as board:
        await board.subscribe(f"{BASE}/connector/1/#", qos=1)
        await rig.publish("connector/1/plug", {"state": "B"})
        await rig.publish("rfid", {"id_tag": "TAG-MQTT"})
        start = await rig.csms.wait_for_message("StartTransaction")
        assert start["meterStart"] == 5000
        # The station closes the contactor and offers current by the pilot's duty cycle; the car draws.
        outputs: dict[str, Any] = {}
        async with asyncio.timeout(10):
            async for message in board.messages:
                assert isinstance(message.payload, bytes)
                outputs[str(message.topic).rsplit("/", 1)[-1]] = json.loads(message.payload)
                if outputs.get("contactor") == {"allowed": True} and outputs.get("offered_current", {}).get("amps"):
                    break
        assert outputs["offered_current"] == {"amps": 32.0, "duty_cycle_percent": 53.33}
    await rig.publish("connector/1/plug", {"state": "C"})
    await rig.csms.wait_for(last_status(("Charging", "NoError")))
    await rig.publish("connector/1/meter", {"energy_wh": 5600.0, "power_w": 7000})
    await station_meter_reads(rig, 5600.0)
    await rig.publish("connector/1/plug", {"state": "A"})
    stop = await rig.csms.wait_for_message("StopTransaction")
    assert stop["meterStop"] == 5600


async def test_broker_down_at_start_and_restarted_mid_transaction(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_station.hardware.drivers.mqtt_bridge")
    await rig.runtime.start()  # no broker yet: the OCPP side comes up regardless, the connector faulted
    await rig.csms.wait_for(last_status(("Faulted", "OtherError")))
    await rig.broker.start()
    # Still faulted (now because the meter has not spoken yet) until its first reading, retained by the broker
    # for the bridge, which may not have reconnected yet.
    await rig.publish("connector/1/meter", {"energy_wh": 100.0}, retain=True)
    await rig.csms.wait_for(last_status(("Available", "NoError")))
    await rig.publish("connector/1/plug", {"state": "C"})
    await rig.publish("rfid", {"id_tag": "TAG-MQTT"})
    await rig.csms.wait_for_message("StartTransaction", meterStart=100)
    await rig.csms.wait_for(last_status(("Charging", "NoError")))
    await rig.publish("connector/1/meter", {"energy_wh": 350.0})

    # Malformed payloads and unknown topics: one line each, nothing else changes.
    before = len(rig.csms.received)
    await rig.publish("connector/1/meter", b"{not json")
    await rig.publish("connector/1/plug", {"state": "Z"})
    await rig.publish("connector/9/plug", {"state": "A"})
    await rig.publish("sideways", {"x": 1})
    await rig.publish("connector/1/meter", {"energy_wh": 360.0})  # in order after the bad ones
    await station_meter_reads(rig, 360.0)
    bad = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage() or "unknown topic" in r.getMessage()]
    assert len(bad) == 4, bad
    assert statuses(rig.csms.received[before:]) == []

    # The broker restarts mid-transaction: faulted while it is away, the transaction carries on after.
    await rig.broker.stop()
    await rig.csms.wait_for(last_status(("Faulted", "OtherError")))
    reply = await rig.csms.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert reply["configurationKey"][0]["key"] == "HeartbeatInterval"
    await rig.broker.start()
    await rig.csms.wait_for(last_status(("Charging", "NoError")))
    await rig.publish("connector/1/meter", {"energy_wh": 900.0})
    await rig.publish("connector/1/plug", {"state": "A"})
    stop = await rig.csms.wait_for_message("StopTransaction")
    assert stop["meterStop"] == 900
    link_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("ocpp_station.hardware") and "broker" in r.getMessage()
    ]
    assert len(link_lines) == 4, link_lines  # unreachable, connected, unreachable, connected
