"""What every meter driver must guarantee about the register it hands the station, whatever the transport.

- Energy.Active.Import.Register never goes backwards (OCPP 1.6 errata v4.0 §3.9: the register is monotonic;
  a Stop/MeterValues below its Start would bill a negative amount), nor jumps further than the largest
  power the meter can see could have moved it since the last good reading.
- While the meter cannot be read or reads implausibly, the part reports PowerMeterFailure (OCPP 1.6 §7.6)
  and keeps serving the last good reading; it clears the fault on the next good one.
- One log line per change of state, never one per poll.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from ocpp_station.hardware.interfaces import MeterReading
from ocpp_station.hardware.parts import Fault, FaultCallback

POWER_METER_FAILURE = "PowerMeterFailure"
# Counting resolution and float32 rounding of a kWh register near 10⁴ kWh (≈ 1 Wh): never a fault on its own.
ENERGY_SLACK_WH = 10.0


def empty_reading(now: float) -> MeterReading:
    """What a meter serves before its first good reading (it is faulted then, so no transaction starts)."""
    return MeterReading(
        timestamp=now,
        energy_import_wh=0.0,
        energy_export_wh=0.0,
        power_import_w=0.0,
        power_export_w=0.0,
        current_import_a=(),
        current_export_a=(),
        current_offered_a=0.0,
        power_offered_w=0.0,
        voltage_v=(),
        frequency_hz=0.0,
        soc_percent=None,
        temperature_c=math.nan,
    )


class MeterHealth:
    """The last good reading and the fault state of one meter part."""

    def __init__(self, label: str, max_power_w: float, log: logging.Logger) -> None:
        self._label = label
        self._max_power_w = max_power_w
        self._log = log
        self._last: MeterReading | None = None
        self._last_at = 0.0  # monotonic seconds of the last good reading
        self._fault: Fault | None = Fault(POWER_METER_FAILURE, "no reading yet")
        self._callback: FaultCallback | None = None
        self._announced = False  # the state at start-up is logged once too, when it is first known

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @property
    def last_good(self) -> MeterReading | None:
        return self._last

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._callback = callback

    def read(self, now: float) -> MeterReading:
        return replace(self._last if self._last is not None else empty_reading(now), timestamp=now)

    def offer(self, reading: MeterReading, at: float) -> bool:
        """A fresh reading taken at monotonic time `at`: kept when plausible, else a fault. True if kept."""
        energy = reading.energy_import_wh
        if not math.isfinite(energy) or energy < 0:
            self.fail("energy register unreadable", f"energy register reads {energy}")
            return False
        last = self._last
        if last is not None:
            if energy < last.energy_import_wh:
                self.fail(
                    "energy register went backwards",
                    f"energy register went backwards from {last.energy_import_wh:.0f} to {energy:.0f} Wh",
                )
                return False
            limit = self._max_power_w * max(0.0, at - self._last_at) / 3600.0 + ENERGY_SLACK_WH
            if energy - last.energy_import_wh > limit:
                self.fail(
                    "energy register jumped",
                    f"energy register jumped by {energy - last.energy_import_wh:.0f} Wh, more than"
                    f" {limit:.0f} Wh at {self._max_power_w:.0f} W",
                )
                return False
        self._last = reading
        self._last_at = at
        self._set(None, "")
        return True

    def fail(self, info: str, detail: str | None = None) -> None:
        """The meter did not answer, or answered something unusable; `info` ≤ 50 chars (CiString50)."""
        self._set(Fault(POWER_METER_FAILURE, info[:50]), detail or info)

    def _set(self, fault: Fault | None, detail: str) -> None:
        changed = (fault is None) != (self._fault is None)
        if not changed and self._announced:
            return  # same state: the first cause stays reported, nothing is logged per poll
        self._announced = True
        self._fault = fault
        if fault is None:
            self._log.info("%s: reading again (%.0f Wh); PowerMeterFailure cleared", self._label, self._energy())
        else:
            self._log.warning(
                "%s: PowerMeterFailure: %s; keeping the last good register (%s)",
                self._label,
                detail,
                "none yet" if self._last is None else f"{self._energy():.0f} Wh",
            )
        if changed and self._callback is not None:
            self._callback(fault)

    def _energy(self) -> float:
        return 0.0 if self._last is None else self._last.energy_import_wh


class HealthCheckedMeter:
    """The `MeterPart` face of a meter whose readings pass through a `MeterHealth` (Modbus, MQTT, ...)."""

    _health: MeterHealth

    @property
    def fault(self) -> Fault | None:
        return self._health.fault

    def read(self, now: float) -> MeterReading:
        return self._health.read(now)

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._health.set_fault_callback(callback)
