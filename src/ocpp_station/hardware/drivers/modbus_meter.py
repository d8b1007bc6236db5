"""A Modbus energy meter (TCP or RTU) as the `meter` part, polled by an asyncio task.

Options (the driver's TOML table):

    register_map = "eastron_sdm630"   # built in: eastron_sdm630, eastron_sdm72, abb_b23; or a .toml path
    transport = "tcp"                 # "tcp" (host, port) or "rtu" (device, baudrate, parity, stopbits)
    host = "192.0.2.10"
    port = 502
    device = "/dev/ttyUSB0"
    baudrate = 9600
    parity = "N"                      # N, E or O
    stopbits = 1
    unit_id = 1                       # the Modbus device id (1..247)
    interval_s = 1.0                  # poll interval
    timeout_s = 1.0                   # per request
    max_power_w = 100000.0            # plausibility: the register may not grow faster than this
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from ocpp_station.hardware.drivers.meter_health import HealthCheckedMeter, MeterHealth
from ocpp_station.hardware.drivers.options import DriverError, Options
from ocpp_station.hardware.drivers.register_map import RegisterMap, load_register_map
from ocpp_station.hardware.interfaces import MeterReading
from ocpp_station.hardware.parts import MeterPart

log = logging.getLogger(__name__)

ModbusClient = AsyncModbusTcpClient | AsyncModbusSerialClient


class ModbusMeter(HealthCheckedMeter):
    """The latest good reading of a Modbus meter; `read` never waits for the bus."""

    def __init__(
        self,
        register_map: RegisterMap,
        client_factory: Callable[[], ModbusClient],
        *,
        where: str,
        unit_id: int = 1,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
        max_power_w: float = 100_000.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._map = register_map
        self._client_factory = client_factory
        self._client: ModbusClient | None = None
        self._where = where
        self._unit_id = unit_id
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._health = MeterHealth(f"meter {register_map.name} at {where}", max_power_w, log)
        self._task: asyncio.Task[None] | None = None
        self._blocks = register_map.blocks()
        self.polls = 0  # completed polls, good or not
        self._poll_callback: Callable[[bool], None] | None = None

    # -- Driver -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        pymodbus_log = logging.getLogger("pymodbus")
        if pymodbus_log.level == logging.NOTSET:
            # pymodbus logs every failed request; the meter's own state-change lines say all that matters.
            pymodbus_log.setLevel(logging.CRITICAL)
        self._task = asyncio.create_task(self._run(), name=f"modbus meter {self._where}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close()

    # -- polling ----------------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.poll_once()
            await asyncio.sleep(max(0.0, started + self._interval_s - loop.time()))

    async def poll_once(self) -> bool:
        """Read every register block once; True when the reading was good and kept."""
        try:
            words = await self._read_words()
        except ConnectionException as exc:
            self._close()
            self._health.fail("meter link down", f"link down: {exc}")
            return self._done(False)
        except (ModbusException, TimeoutError, OSError) as exc:
            # A late answer must not be taken for the next request's, so the link starts afresh.
            self._close()
            self._health.fail("meter not answering", f"no answer within {self._timeout_s:g} s ({exc or 'timeout'})")
            return self._done(False)
        if isinstance(words, str):
            self._health.fail(words[:50], words)
            return self._done(False)
        try:
            reading = self._reading(self._map.decode(words))
        except (ValueError, OverflowError) as exc:
            self._health.fail("meter reading undecodable", f"undecodable reading: {exc}")
            return self._done(False)
        return self._done(self._health.offer(reading, self._monotonic()))

    def set_poll_callback(self, callback: Callable[[bool], None]) -> None:
        """Called after every poll with whether it was good (for supervision, tests and benchmarks)."""
        self._poll_callback = callback

    def _done(self, good: bool) -> bool:
        self.polls += 1
        if self._poll_callback is not None:
            self._poll_callback(good)
        return good

    async def _read_words(self) -> dict[int, int] | str:
        client = self._client
        if client is None or not client.connected:
            self._close()
            client = self._client = self._client_factory()
            if not await asyncio.wait_for(client.connect(), self._timeout_s + 1.0):
                raise ConnectionException(f"cannot connect to {self._where}")
        words: dict[int, int] = {}
        read = client.read_input_registers if self._map.function == "input" else client.read_holding_registers
        for start, count in self._blocks:
            # pymodbus times the request out itself; the outer bound only guards against a wedged transport.
            response = await asyncio.wait_for(read(start, count=count, device_id=self._unit_id), self._timeout_s + 1.0)
            if response.isError():
                code = getattr(response, "exception_code", "?")
                return f"Modbus exception {code} at {start:#06x}"
            if len(response.registers) != count:
                return f"short answer at {start:#06x}"
            words.update(zip(range(start, start + count), response.registers, strict=True))
        return words

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _reading(self, v: Mapping[str, float]) -> MeterReading:
        currents = tuple(v[f"current_l{i}_a"] for i in (1, 2, 3) if f"current_l{i}_a" in v)
        voltages = tuple(v[f"voltage_l{i}_v"] for i in (1, 2, 3) if f"voltage_l{i}_v" in v)
        power = v.get("power_w", 0.0)
        return MeterReading(
            timestamp=0.0,
            energy_import_wh=v["energy_import_wh"],
            energy_export_wh=v.get("energy_export_wh", 0.0),
            power_import_w=max(power, 0.0),
            power_export_w=max(-power, 0.0),
            current_import_a=currents,
            current_export_a=(0.0,) * len(currents),
            current_offered_a=0.0,
            power_offered_w=0.0,
            voltage_v=voltages,
            frequency_hz=v.get("frequency_hz", math.nan),
            soc_percent=None,
            temperature_c=math.nan,
        )


def create(options: Mapping[str, Any]) -> ModbusMeter:
    """The `meter.modbus` entry point."""
    opts = Options(options)
    register_map = load_register_map(opts.string("register_map"))
    transport = opts.string("transport", "tcp", choices=("tcp", "rtu"))
    unit_id = opts.integer("unit_id", 1, low=1, high=247)
    interval_s = opts.number("interval_s", 1.0, low=0.01)
    timeout_s = opts.number("timeout_s", 1.0, low=0.01)
    max_power_w = opts.number("max_power_w", 100_000.0, low=1.0)
    factory: Callable[[], ModbusClient]
    if transport == "tcp":
        host = opts.string("host")
        port = opts.integer("port", 502, low=1, high=65535)
        where = f"{host}:{port}"

        def factory() -> ModbusClient:
            return AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)

    else:
        device = opts.string("device")
        baudrate = opts.integer("baudrate", 9600, low=300, high=921_600)
        parity = opts.string("parity", "N", choices=("N", "E", "O"))
        stopbits = opts.integer("stopbits", 1, low=1, high=2)
        where = device

        def factory() -> ModbusClient:
            return AsyncModbusSerialClient(
                device,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                bytesize=8,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
            )

    opts.finish()
    if not math.isfinite(interval_s):
        raise DriverError("option 'interval_s' must be finite")
    return ModbusMeter(
        register_map,
        factory,
        where=where,
        unit_id=unit_id,
        interval_s=interval_s,
        timeout_s=timeout_s,
        max_power_w=max_power_w,
    )


if TYPE_CHECKING:

    def _conforms(meter: ModbusMeter) -> MeterPart:
        return meter
