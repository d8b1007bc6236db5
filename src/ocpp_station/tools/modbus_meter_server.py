"""A meter played by pymodbus's own server: serves a register map's fields, or misbehaves on demand."""

from __future__ import annotations

import asyncio
import os
import socket
import tty
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ocpp_station.hardware.drivers.register_map import RegisterMap

DEFAULT_VALUES: dict[str, float] = {
    "energy_import_wh": 1_234_000.0,
    "energy_export_wh": 0.0,
    "power_w": 7_360.0,
    "current_l1_a": 10.0,
    "current_l2_a": 11.0,
    "current_l3_a": 12.0,
    "voltage_l1_v": 230.0,
    "voltage_l2_v": 231.0,
    "voltage_l3_v": 229.0,
    "frequency_hz": 50.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FakeMeter:
    """`mode`: "answer", "exception" (Modbus exception 4, device failure) or "stall" (no answer)."""

    def __init__(self, register_map: RegisterMap, unit_id: int = 1) -> None:
        self.map = register_map
        self.unit_id = unit_id
        self.values = dict(DEFAULT_VALUES)
        self.mode = "answer"
        self.requests = 0
        self._unstall = asyncio.Event()
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        lo = min(r.address for r in register_map.registers.values())
        hi = max(r.address + r.count for r in register_map.registers.values())
        self._span = (lo, hi)

    def unstall(self) -> None:
        self._unstall.set()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        if self.mode == "exception":
            return ExcCodes.DEVICE_FAILURE
        if self.mode == "stall":
            await self._unstall.wait()
        for name, register in self.map.registers.items():
            if name in self.values:
                offset = register.address - start_address
                current[offset : offset + register.count] = register.encode(self.values[name])
        return None

    def _device(self) -> SimDevice:
        lo, hi = self._span
        return SimDevice(
            id=self.unit_id,
            simdata=[SimData(address=lo, count=hi - lo, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )

    async def start_tcp(self, port: int) -> None:
        self._server = ModbusTcpServer(self._device(), address=("127.0.0.1", port))
        await self._server.serve_forever(background=True)  # returns once listening

    async def start_rtu(self, device: str) -> None:
        self._server = ModbusSerialServer(self._device(), port=device, baudrate=115200)
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        self._unstall.set()
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it untyped


class PtyLink:
    """Two pseudo-terminals joined back to back, like an RS-485 cable between two USB adapters:
    whatever is written to one end's tty comes out at the other's. `cut()` unplugs it."""

    def __init__(self) -> None:
        self._m1, self._s1 = os.openpty()
        self._m2, self._s2 = os.openpty()
        for fd in (self._m1, self._s1, self._m2, self._s2):
            tty.setraw(fd)
        self.ends = (os.ttyname(self._s1), os.ttyname(self._s2))
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._m1, self._forward(self._m1, self._m2))
        self._loop.add_reader(self._m2, self._forward(self._m2, self._m1))
        self.connected = True

    def _forward(self, src: int, dst: int) -> Callable[[], None]:
        def forward() -> None:
            data = os.read(src, 4096)
            if self.connected:
                os.write(dst, data)

        return forward

    def close(self) -> None:
        for fd in (self._m1, self._m2):
            self._loop.remove_reader(fd)
        for fd in (self._m1, self._s1, self._m2, self._s2):
            os.close(fd)
