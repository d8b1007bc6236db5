"""A station whose meter is the Modbus driver, chosen by settings, against pymodbus's own server: a car charged
end to end with every energy value from the meter, and the meter's faults as the central system sees them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ocpp_station.assemble import BuiltHardware, build_hardware
from ocpp_station.hardware.drivers.modbus_meter import ModbusMeter
from ocpp_station.hardware.drivers.register_map import load_register_map
from ocpp_station.settings import parse_settings
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.stores.memory import MemoryStore
from ocpp_station.tools.modbus_meter_server import FakeMeter, free_port
from tests.support.core_driver import CoreDriver
from tests.support.fake_csms import FakeCsms, Received
from tests.support.waiting import Events

START_WH = 1_234_000.0


def modbus_settings(port: int, **meter: Any) -> dict[str, Any]:
    return {
        "hardware": {
            "connectors": 1,
            "meter": {
                "driver": "modbus",
                "register_map": "eastron_sdm630",
                "host": "127.0.0.1",
                "port": port,
                "timeout_s": 0.3,
                **meter,
            },
        },
        "configuration": {"MeterValuesSampledData": "Energy.Active.Import.Register"},
    }


def the_meter(hardware: BuiltHardware) -> ModbusMeter:
    meters = [d for d in hardware.drivers if isinstance(d, ModbusMeter)]
    assert len(meters) == 1
    return meters[0]


def energies(sent: list[tuple[str, dict[str, Any]]] | Received) -> list[float]:
    """Every Energy.Active.Import.Register value the station sent, in order."""
    values: list[float] = []
    for action, payload in sent:
        if action == "StartTransaction":
            values.append(float(payload["meterStart"]))
        elif action == "StopTransaction":
            values.append(float(payload["meterStop"]))
        elif action == "MeterValues":
            for mv in payload["meterValue"]:
                sampled = mv["sampledValue"]
                values += [float(s["value"]) for s in sampled if s.get("measurand") == "Energy.Active.Import.Register"]
    return values


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeMeter, int]]:
    meter = FakeMeter(load_register_map("eastron_sdm630"))
    meter.values["energy_import_wh"] = START_WH
    port = free_port()
    await meter.start_tcp(port)
    yield meter, port
    await meter.stop()


async def test_a_car_charged_end_to_end_with_every_energy_value_from_the_modbus_meter(
    tmp_path: Path, server: tuple[FakeMeter, int], events: Events
) -> None:
    fake, port = server
    raw = modbus_settings(port, interval_s=0.05, max_power_w=1e9)
    raw["configuration"]["MeterValueSampleInterval"] = "1"
    csms = FakeCsms()
    await csms.start()
    runtime = StationRuntime(
        csms_url=csms.url, charge_box_id="CP-MODBUS", data_dir=tmp_path, settings=parse_settings(raw)
    )
    try:
        await runtime.start()
        assert runtime.hardware is not None
        meter = the_meter(runtime.hardware)
        meter.set_poll_callback(events.add)
        controls = runtime.simulator_controls()
        assert controls is not None  # the board and the reader are simulated: the car is ours to plug in
        await csms.wait_for_message("StatusNotification", connectorId=1, status="Available")

        async def meter_reads(wh: float) -> None:
            fake.values["energy_import_wh"] = wh
            await events.wait(lambda: meter.read(0.0).energy_import_wh == pytest.approx(wh, abs=0.5))

        controls.plug(runtime.clock.now(), 1)
        controls.present_id_tag("TAG-1", None)
        start = await csms.wait_for_message("StartTransaction")
        assert start["meterStart"] == START_WH
        await meter_reads(START_WH + 750.0)
        await csms.wait_for(lambda r: START_WH + 750.0 in energies(r))
        await meter_reads(START_WH + 1500.0)
        controls.unplug(runtime.clock.now(), 1, "both")
        stop = await csms.wait_for_message("StopTransaction")
        assert stop["meterStop"] == START_WH + 1500.0
        sent = energies(csms.received)
        # Every value is one the meter's register held, and the register never went backwards on the wire.
        assert set(sent) <= {START_WH, START_WH + 750.0, START_WH + 1500.0}
        assert sent == sorted(sent)
    finally:
        await runtime.stop()
        await csms.stop()
    assert meter._task is None  # the runtime's power-off stopped the driver's polling


async def test_meter_faults_reach_the_central_system_and_clear(  # values in Wh an SDM630's float32 kWh holds exactly
    server: tuple[FakeMeter, int], caplog: pytest.LogCaptureFixture
) -> None:
    fake, port = server
    settings = parse_settings(modbus_settings(port))
    hardware = build_hardware(settings.hardware, MemoryStore())
    meter = the_meter(hardware)
    monotonic = [1000.0]
    meter._monotonic = lambda: monotonic[0]  # the plausibility window without waiting real hours
    cp = CoreDriver(hardware=hardware.station, controls=hardware.controls, settings=settings)
    caplog.set_level(logging.INFO, logger="ocpp_station.hardware.drivers.modbus_meter")

    async def poll(*, after_s: float = 3600.0) -> bool:
        monotonic[0] += after_s
        return await meter.poll_once()

    def status() -> tuple[str, str]:
        last = [p for a, p in cp.sent if a == "StatusNotification" and p["connectorId"] == 1][-1]
        return last["status"], last["errorCode"]

    def meter_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.endswith("modbus_meter")]

    try:
        cp.connect()
        # Before its first reading the meter is not to be trusted: no transaction can start on it.
        assert status() == ("Faulted", "PowerMeterFailure")
        assert await poll()
        cp.pump()
        assert status() == ("Available", "NoError")

        cp.controls.plug(cp.clock.now(), 1)
        cp.controls.present_id_tag("TAG-1", None)
        cp.pump()
        assert [p["meterStart"] for a, p in cp.sent if a == "StartTransaction"] == [START_WH]
        fake.values["energy_import_wh"] = START_WH + 250.0
        assert await poll()

        # A Modbus exception response, then no answer at all: one fault, one line, the register kept.
        fake.mode = "exception"
        assert not await poll()
        cp.pump()
        assert status() == ("Faulted", "PowerMeterFailure")
        fake.mode = "stall"
        assert not await poll()
        fake.mode = "answer"
        fake.unstall()
        assert len(meter_lines()) == 2, meter_lines()  # the first reading, then the fault
        cp.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
        assert energies(cp.sent)[-1] == START_WH + 250.0

        # It answers again: cleared, one more line.
        fake.values["energy_import_wh"] = START_WH + 500.0
        assert await poll()
        cp.pump()
        assert status() == ("Charging", "NoError")
        assert len(meter_lines()) == 3, meter_lines()

        # A register that goes backwards, then one that jumps further than any power could move it in 1 s.
        fake.values["energy_import_wh"] = START_WH + 375.0
        assert not await poll(after_s=1.0)
        cp.pump()
        assert status() == ("Faulted", "PowerMeterFailure")
        fake.values["energy_import_wh"] = START_WH + 50_000.0
        assert not await poll(after_s=1.0)
        cp.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
        assert energies(cp.sent)[-1] == START_WH + 500.0
        fake.values["energy_import_wh"] = START_WH + 750.0
        assert await poll()
        cp.pump()
        assert status() == ("Charging", "NoError")

        # The TCP link drops (the meter's server goes away) and comes back on the same port.
        await fake.stop()
        assert not await poll()
        cp.pump()
        assert status() == ("Faulted", "PowerMeterFailure")
        fake.values["energy_import_wh"] = START_WH + 1000.0
        await fake.start_tcp(port)
        assert await poll()
        cp.pump()
        assert status() == ("Charging", "NoError")

        # The stop reports the last good register; the energy on the wire never went backwards.
        fake.mode = "exception"
        assert not await poll()
        cp.unplug(1)
        cp.pump()
        stops = [p["meterStop"] for a, p in cp.sent if a == "StopTransaction"]
        assert stops == [START_WH + 1000.0]
        sent = energies(cp.sent)
        assert sent == sorted(sent)
        # One line per change of state: good at first, three faults each cleared (the jump came while faulted
        # for the backwards register: the same state, no line), then the last fault.
        assert len(meter_lines()) == 8, meter_lines()
    finally:
        await meter.stop()
        cp.close()
