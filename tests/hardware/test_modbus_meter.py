"""The Modbus meter driver against pymodbus's own server (TCP on loopback, RTU over a pty pair)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from ocpp_station.hardware.drivers import load_driver
from ocpp_station.hardware.drivers.modbus_meter import ModbusMeter
from ocpp_station.hardware.drivers.register_map import load_register_map
from ocpp_station.hardware.parts import Fault
from ocpp_station.tools.modbus_meter_server import FakeMeter, PtyLink, free_port
from tests.support.waiting import Events

NOW = 1_767_225_600.0
MAPS = ["eastron_sdm630", "eastron_sdm72", "abb_b23"]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def tcp_meter(register_map: str, port: int, clock: Clock | None = None, **extra: object) -> ModbusMeter:
    options = {"register_map": register_map, "host": "127.0.0.1", "port": port, "timeout_s": 0.3, **extra}
    meter = load_driver("meter", "modbus", options)
    assert isinstance(meter, ModbusMeter)
    if clock is not None:
        meter._monotonic = clock  # the plausibility window without waiting real hours
    return meter


@pytest.fixture
async def server_port() -> AsyncIterator[tuple[FakeMeter, int]]:
    server = FakeMeter(load_register_map("eastron_sdm630"))
    port = free_port()
    await server.start_tcp(port)
    yield server, port
    await server.stop()


@pytest.mark.parametrize("name", MAPS)
async def test_each_register_map_reads_every_measurand_scaled(name: str) -> None:
    server = FakeMeter(load_register_map(name))
    server.values.update(energy_import_wh=1_234_560.0, power_w=-1500.0, current_l2_a=15.5, frequency_hz=49.95)
    port = free_port()
    await server.start_tcp(port)
    meter = tcp_meter(name, port)
    try:
        assert await meter.poll_once()
        r = meter.read(NOW)
    finally:
        await meter.stop()
        await server.stop()
    assert r.timestamp == NOW
    assert r.energy_import_wh == pytest.approx(1_234_560.0, abs=1.0)
    assert r.power_import_w == 0.0
    assert r.power_export_w == pytest.approx(1500.0, abs=0.01)
    assert r.current_import_a == pytest.approx((10.0, 15.5, 12.0), abs=0.01)
    assert r.voltage_v == pytest.approx((230.0, 231.0, 229.0), abs=0.1)
    assert r.frequency_hz == pytest.approx(49.95, abs=0.01)
    assert meter.fault is None


async def test_the_background_task_polls_on_its_interval(server_port: tuple[FakeMeter, int], events: Events) -> None:
    server, port = server_port
    meter = tcp_meter("eastron_sdm630", port, interval_s=0.02)
    meter.set_poll_callback(events.add)
    await meter.start()
    try:
        await events.wait(lambda: meter.polls >= 1)
        server.values["energy_import_wh"] += 5.0
        await events.wait(lambda: meter.read(NOW).energy_import_wh == pytest.approx(1_234_005.0, abs=0.5))
    finally:
        await meter.stop()
    assert meter.fault is None


async def test_exception_response_faults_keeps_the_register_and_recovers(
    server_port: tuple[FakeMeter, int], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = server_port
    meter = tcp_meter("eastron_sdm630", port)
    meter.set_fault_callback(events.fault_callback)
    caplog.set_level(logging.INFO, logger="ocpp_station.hardware.drivers")
    try:
        assert await meter.poll_once()
        server.mode = "exception"
        for _ in range(3):
            assert not await meter.poll_once()
        assert meter.fault == Fault("PowerMeterFailure", "Modbus exception 4 at 0x0000")
        assert meter.read(NOW).energy_import_wh == pytest.approx(1_234_000.0, abs=1.0)
        server.mode = "answer"
        server.values["energy_import_wh"] += 10.0
        assert await meter.poll_once()
    finally:
        await meter.stop()
    assert meter.fault is None
    assert meter.read(NOW).energy_import_wh == pytest.approx(1_234_010.0, abs=1.0)
    assert events.items == [None, Fault("PowerMeterFailure", "Modbus exception 4 at 0x0000"), None]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ocpp_station")]
    assert len(lines) == 3, lines  # first reading, the fault, the recovery: not one per poll
    assert "PowerMeterFailure" in lines[1] and "1234000 Wh" in lines[1]


async def test_a_meter_that_stops_answering_times_out_into_a_fault(server_port: tuple[FakeMeter, int]) -> None:
    server, port = server_port
    meter = tcp_meter("eastron_sdm630", port)
    try:
        assert await meter.poll_once()
        server.mode = "stall"
        assert not await meter.poll_once()
        assert meter.fault is not None and meter.fault.info == "meter not answering"
        server.mode = "answer"
        server.unstall()
        assert await meter.poll_once()
    finally:
        await meter.stop()
    assert meter.fault is None


async def test_a_dropped_link_faults_and_recovers_when_the_meter_is_back(events: Events) -> None:
    server = FakeMeter(load_register_map("abb_b23"))
    port = free_port()
    await server.start_tcp(port)
    meter = tcp_meter("abb_b23", port)
    meter.set_fault_callback(events.fault_callback)
    try:
        assert await meter.poll_once()
        await server.stop()
        assert not await meter.poll_once()
        assert not await meter.poll_once()
        assert meter.fault is not None and meter.fault.code == "PowerMeterFailure"
        await server.start_tcp(port)
        assert await meter.poll_once()
    finally:
        await meter.stop()
        await server.stop()
    assert events.items[-1] is None and len(events.items) == 3


async def test_energy_never_goes_backwards_nor_jumps(server_port: tuple[FakeMeter, int]) -> None:
    server, port = server_port
    clock = Clock()
    meter = tcp_meter("eastron_sdm630", port, clock, max_power_w=22_000.0)
    try:
        assert await meter.poll_once()
        server.values["energy_import_wh"] = 1_000_000.0  # backwards (a swapped or reset meter)
        assert not await meter.poll_once()
        assert meter.fault == Fault("PowerMeterFailure", "energy register went backwards")
        assert meter.read(NOW).energy_import_wh == pytest.approx(1_234_000.0, abs=1.0)
        clock.t += 3600.0  # an hour at 22 kW allows 22 kWh, not 50
        server.values["energy_import_wh"] = 1_284_000.0
        assert not await meter.poll_once()
        assert meter.read(NOW).energy_import_wh == pytest.approx(1_234_000.0, abs=1.0)
        server.values["energy_import_wh"] = 1_250_000.0  # 16 kWh in that hour: plausible
        assert await meter.poll_once()
    finally:
        await meter.stop()
    assert meter.fault is None
    assert meter.read(NOW).energy_import_wh == pytest.approx(1_250_000.0, abs=1.0)


async def test_no_meter_at_start_up_is_a_fault_with_no_register(events: Events) -> None:
    meter = tcp_meter("eastron_sdm72", free_port())
    meter.set_fault_callback(events.fault_callback)
    try:
        assert not await meter.poll_once()
    finally:
        await meter.stop()
    assert meter.fault is not None and meter.fault.code == "PowerMeterFailure"
    assert events.items == []  # it was faulted from the start: no change to report
    assert meter.read(NOW).energy_import_wh == 0.0


async def test_modbus_rtu_over_a_pseudo_terminal_pair(events: Events) -> None:
    link = PtyLink()
    server = FakeMeter(load_register_map("eastron_sdm72"), unit_id=7)
    await server.start_rtu(link.ends[0])
    options = {
        "register_map": "eastron_sdm72",
        "transport": "rtu",
        "device": link.ends[1],
        "baudrate": 115200,
        "unit_id": 7,
        "timeout_s": 0.3,
        "interval_s": 0.02,
    }
    meter = load_driver("meter", "modbus", options)
    assert isinstance(meter, ModbusMeter)
    meter.set_poll_callback(events.add)
    try:
        await meter.start()
        await events.wait(lambda: meter.fault is None)
        assert meter.read(NOW).energy_import_wh == pytest.approx(1_234_000.0, abs=1.0)
        link.connected = False  # the RS-485 cable pulled
        await events.wait(lambda: meter.fault is not None)
        link.connected = True
        await events.wait(lambda: meter.fault is None)
    finally:
        await meter.stop()
        await server.stop()
        link.close()
