"""A vendor meter driver: a fixed register, enough to show the station finds and builds it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ocpp_station.hardware.drivers import DriverError
from ocpp_station.hardware.interfaces import MeterReading
from ocpp_station.hardware.parts import Fault, FaultCallback


class AcmeMeter:
    def __init__(self, energy_wh: float) -> None:
        self.energy_wh = energy_wh
        self.running = False
        self.fault: Fault | None = None

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def set_fault_callback(self, callback: FaultCallback) -> None:
        pass

    def read(self, now: float) -> MeterReading:
        return MeterReading(now, self.energy_wh, 0.0, 0.0, 0.0, (), (), 0.0, 0.0, (), 50.0, None, math.nan)


def create(options: Mapping[str, Any]) -> AcmeMeter:
    energy = options.get("energy_wh")
    if not isinstance(energy, int | float):
        raise DriverError("missing option 'energy_wh'")
    return AcmeMeter(float(energy))
