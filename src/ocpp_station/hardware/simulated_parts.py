"""Simulated parts (`hardware.parts`): an EVSE board with an EV behind its control pilot, a meter on its output,
a connector lock and an RFID reader. They are the `*.simulated` drivers, so a station can mix them with real
ones: a real Modbus meter beside a simulated board is how the meter is charged end to end on a desk.

The EV obeys the board the way a car obeys a real one: the board codes the offered current into the
control-pilot duty cycle (IEC 61851-1 Table A.7) and the EV decodes it (Table A.8), then draws no more.
Nothing runs on its own: the EV's energy is integrated lazily at calls carrying `now` (the meter's `read`,
`plug`, `unplug`, `suspend`), as in `hardware.simulated`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp_station.hardware.drivers.options import Options
from ocpp_station.hardware.iec61851 import (
    DIGITAL_COMMUNICATION_DUTY_PERCENT,
    MIN_CURRENT_A,
    NOT_AVAILABLE_DUTY_PERCENT,
    current_for_duty_cycle,
    duty_cycle_for_current,
)
from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES, ID_TAG_MAX_LENGTH, MeterReading
from ocpp_station.hardware.parts import (
    AuthTokenProvider,
    ConnectorLock,
    ControlPilotState,
    CpCallback,
    EvseBoard,
    Fault,
    FaultCallback,
    MeterPart,
    TokenCallback,
)

AMBIENT_TEMPERATURE_C = 25.0
# Temperature rise at full rated power: enough for HighTemperature tests to key off, never near a trip.
FULL_POWER_TEMPERATURE_RISE_C = 15.0
FREQUENCY_HZ = 50.0

_JUST_BELOW_FULL = math.nextafter(100.0, 0.0)


@dataclass(frozen=True, slots=True)
class EvModel:
    """The EV behind the cable: it takes what is offered up to its own maximum until its battery is full."""

    max_current_a: float = 32.0
    phases: int = 3
    battery_capacity_wh: float = 60_000.0
    initial_soc_percent: float = 20.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_current_a) and self.max_current_a > 0):
            raise ValueError(f"EV max current must be positive, got {self.max_current_a}")
        if self.phases not in (1, 2, 3):
            raise ValueError(f"EV phases must be 1, 2 or 3, got {self.phases}")
        if not (math.isfinite(self.battery_capacity_wh) and self.battery_capacity_wh > 0):
            raise ValueError(f"battery capacity must be positive, got {self.battery_capacity_wh}")
        if not 0.0 <= self.initial_soc_percent <= 100.0:
            raise ValueError(f"initial SoC must be within 0..100 %, got {self.initial_soc_percent}")

    @property
    def energy_to_full_wh(self) -> float:
        return self.battery_capacity_wh * (100.0 - self.initial_soc_percent) / 100.0


class _NoTasks:
    """Simulated parts have no I/O: their driver lifecycle does nothing."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class SimulatedBoard(_NoTasks):
    """The `EvseBoard` of one connector, with the EV plugged into it."""

    def __init__(
        self,
        *,
        max_current_a: float = 32.0,
        voltage_v: float = 230.0,
        phases: int = 3,
        ev: EvModel | None = None,
        digital_communication: bool = False,
    ) -> None:
        """`digital_communication`: the board and the EV also speak ISO 15118, so a limit below the 6 A a PWM can
        code still reaches the EV (5 % duty cycle, IEC 61851-1 Table A.7); without it such a limit pauses."""
        if not (math.isfinite(max_current_a) and max_current_a > 0):
            raise ValueError(f"max current must be positive, got {max_current_a}")
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {phases}")
        self.voltage_v = float(voltage_v)
        self.phases = phases
        self._max_current_a = float(max_current_a)
        self._digital = digital_communication
        self._default_ev = ev if ev is not None else EvModel()
        self._ev = self._default_ev
        self._plugged = False
        self._suspended = False
        self._allowed = False
        self._offered_a = 0.0
        self._fault: Fault | None = None
        self.ev_delivered_wh = 0.0  # this session's energy (the EV's battery)
        self.delivered_wh = 0.0  # every session's energy since power-on (what a meter on the output counts)
        self._t0 = -math.inf
        self._cp_callback: CpCallback | None = None
        self._fault_callback: FaultCallback | None = None
        # What follows from the offered current, the pilot, the plug and the battery, worked out when one of them
        # changes (`_pilot_changed`, `_draw_changed`) rather than at every reading: a fleet reads meters far more
        # often than a limit or a plug changes.
        self._duty_percent = NOT_AVAILABLE_DUTY_PERCENT
        self._pilot_a = 0.0
        self._ev_full_wh = self._ev.energy_to_full_wh
        self._ev_phases = min(self._ev.phases, phases)
        self._draw_a = 0.0
        self._power_w = 0.0

    # -- EvseBoard --------------------------------------------------------------------------------------

    @property
    def max_current_a(self) -> float:
        return self._max_current_a

    @property
    def min_current_a(self) -> float:
        """The smallest current other than 0 this board can offer."""
        return 0.0 if self._digital else MIN_CURRENT_A

    @property
    def cp_state(self) -> ControlPilotState:
        if not self._plugged:
            return ControlPilotState.A
        return ControlPilotState.B if self._suspended else ControlPilotState.C

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @property
    def temperature_c(self) -> float:
        rated_w = self._max_current_a * self.voltage_v * self.phases
        return AMBIENT_TEMPERATURE_C + FULL_POWER_TEMPERATURE_RISE_C * self._power_w / rated_w

    def allow_power_on(self, allowed: bool) -> None:
        self._allowed = allowed
        self._draw_changed()

    def set_offered_current(self, amps: float) -> None:
        if self._digital and 0.0 < amps < MIN_CURRENT_A:
            duty = DIGITAL_COMMUNICATION_DUTY_PERCENT
        else:
            duty = duty_cycle_for_current(amps)  # refuses what no PWM can code, as a real board would
        self._offered_a = float(amps)
        self._duty_percent = duty
        self._pilot_changed()

    @property
    def duty_cycle_percent(self) -> float:
        """The control pilot's duty cycle the EV sees."""
        return self._duty_percent

    def pilot_current_a(self) -> float:
        """What the EV reads as its limit: the PWM duty cycle decoded (Table A.8), or the ISO 15118 limit."""
        return self._pilot_a

    def _pilot_changed(self) -> None:
        if self._duty_percent == DIGITAL_COMMUNICATION_DUTY_PERCENT:
            self._pilot_a = self._offered_a
        else:
            decoded = current_for_duty_cycle(self._duty_percent)
            self._pilot_a = 0.0 if decoded is None else decoded
        self._draw_changed()

    def set_cp_callback(self, callback: CpCallback) -> None:
        self._cp_callback = callback

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._fault_callback = callback

    # -- the EV, as a driver at the charger sees it -----------------------------------------------------

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def offered_a(self) -> float:
        return self._offered_a

    @property
    def ev(self) -> EvModel:
        """The EV plugged in (or last plugged in)."""
        return self._ev

    def plug(self, now: float, ev: EvModel | None = None) -> None:
        if self._plugged:
            raise ValueError("already plugged in")
        self.advance(now)
        self._plugged = True
        self._suspended = False
        self._ev = ev if ev is not None else self._default_ev
        self._ev_full_wh = self._ev.energy_to_full_wh
        self._ev_phases = min(self._ev.phases, self.phases)
        self.ev_delivered_wh = 0.0
        self._draw_changed()
        self._cp_changed()

    def unplug(self, now: float) -> None:
        if not self._plugged:
            raise ValueError("not plugged in")
        self.advance(now)
        self._plugged = False
        self._suspended = False
        self._draw_changed()
        self._cp_changed()

    def suspend(self, now: float, suspended: bool) -> None:
        if not self._plugged:
            raise ValueError("no EV is plugged in")
        if suspended != self._suspended:
            self.advance(now)
            self._suspended = suspended
            self._draw_changed()
            self._cp_changed()

    def set_fault(self, fault: Fault | None) -> None:
        if fault is not None and fault.code not in CHARGE_POINT_FAULT_CODES:
            raise ValueError(f"unknown error code {fault.code!r}: expected an OCPP ChargePointErrorCode")
        if fault != self._fault:
            self._fault = fault
            if self._fault_callback is not None:
                self._fault_callback(fault)

    def draw_a(self) -> float:
        """What the EV draws per phase: what it reads from the pilot's duty cycle, up to its own maximum."""
        return self._draw_a

    def ev_phases(self) -> int:
        return self._ev_phases

    def power_w(self) -> float:
        return self._power_w

    def _draw_changed(self) -> None:
        """After a change of the contactor, the plug, the pilot or the battery: what the EV draws now."""
        if not (self._allowed and self._plugged) or self._suspended or self.ev_delivered_wh >= self._ev_full_wh:
            self._draw_a = 0.0
        else:
            self._draw_a = min(self._ev.max_current_a, self._pilot_a)
        self._power_w = self.voltage_v * self._draw_a * self._ev_phases

    def soc_percent(self) -> float | None:
        if not self._plugged:
            return None
        if self.ev_delivered_wh >= self._ev_full_wh:
            return 100.0
        soc = self._ev.initial_soc_percent + 100.0 * self.ev_delivered_wh / self._ev.battery_capacity_wh
        return min(soc, _JUST_BELOW_FULL)  # 100 % means the EV has stopped drawing

    def advance(self, now: float) -> None:
        """Bring the EV's energy up to `now` under the power that has held since the last call."""
        if not math.isfinite(now):
            raise ValueError(f"time must be finite, got {now}")
        elapsed, self._t0 = now - self._t0, now
        power_w = self._power_w
        if elapsed <= 0 or power_w == 0.0:
            return
        energy_wh = min(power_w * elapsed / 3600.0, self._ev_full_wh - self.ev_delivered_wh)
        self.ev_delivered_wh += energy_wh
        self.delivered_wh += energy_wh
        if self.ev_delivered_wh >= self._ev_full_wh:
            self._draw_changed()  # the battery is full: the EV stops drawing

    def _cp_changed(self) -> None:
        if self._cp_callback is not None:
            self._cp_callback(self.cp_state)


class SimulatedMeter(_NoTasks):
    """The `MeterPart` on a simulated board's output; its register starts where the store left it."""

    def __init__(self, energy_wh: float = 0.0, export_wh: float = 0.0) -> None:
        for name, value in (("initial_energy_wh", energy_wh), ("initial_export_energy_wh", export_wh)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative register value, got {value}")
        self._initial_wh = float(energy_wh)
        self._export_wh = float(export_wh)
        self._board: SimulatedBoard | None = None
        self._fault: Fault | None = None
        self._callback: FaultCallback | None = None

    def measure(self, board: SimulatedBoard) -> None:
        self._board = board

    @property
    def fault(self) -> Fault | None:
        return self._fault

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._callback = callback

    def read(self, now: float) -> MeterReading:
        return self._read(now, with_board=False)

    def read_with_board(self, now: float) -> MeterReading:
        """`read` with what only the board knows filled in: the current its pilot offers and its temperature (a
        simulated connector's whole reading, in one pass instead of a reading and a copy of it)."""
        return self._read(now, with_board=True)

    def _read(self, now: float, *, with_board: bool) -> MeterReading:
        board = self._board
        if board is None:
            raise RuntimeError("a simulated meter measures a simulated board: measure(board) first")
        board.advance(now)
        draw_a = board.draw_a()
        phases, ev_phases = board.phases, board.ev_phases()
        # What the pilot codes is what is offered (the EV reads the same duty cycle).
        offered_a = board.pilot_current_a() if with_board else 0.0
        return MeterReading(
            timestamp=now,
            energy_import_wh=self._initial_wh + board.delivered_wh,
            energy_export_wh=self._export_wh,
            power_import_w=board.power_w(),
            power_export_w=0.0,
            current_import_a=(draw_a,) * ev_phases + (0.0,) * (phases - ev_phases),
            current_export_a=(0.0,) * phases,
            current_offered_a=offered_a,
            power_offered_w=offered_a * board.voltage_v * phases if with_board else 0.0,
            voltage_v=(board.voltage_v,) * phases,
            frequency_hz=FREQUENCY_HZ,
            soc_percent=board.soc_percent(),
            temperature_c=board.temperature_c if with_board else math.nan,
        )


class SimulatedLock(_NoTasks):
    """The `ConnectorLock`; `fail_lock` / `fail_unlock` play a jammed actuator."""

    def __init__(self) -> None:
        self._locked = False
        self.fail_lock = False
        self.fail_unlock = False

    @property
    def locked(self) -> bool:
        return self._locked

    def lock(self) -> bool:
        if self.fail_lock:
            return False
        self._locked = True
        return True

    def unlock(self) -> bool:
        if self.fail_unlock:
            return False
        self._locked = False
        return True


class SimulatedTokens(_NoTasks):
    """The `AuthTokenProvider`: a card held to the reader."""

    def __init__(self) -> None:
        self._callback: TokenCallback | None = None

    def set_token_callback(self, callback: TokenCallback) -> None:
        self._callback = callback

    def present(self, id_tag: str, connector_id: int | None = None) -> None:
        if not 1 <= len(id_tag) <= ID_TAG_MAX_LENGTH:
            raise ValueError(f"an idTag has 1 to {ID_TAG_MAX_LENGTH} characters, got {len(id_tag)}")
        if self._callback is not None:
            self._callback(id_tag, connector_id)


# -- the `*.simulated` entry points ------------------------------------------------------------------------


def create_board(options: Mapping[str, Any]) -> SimulatedBoard:
    opts = Options(options)
    board = SimulatedBoard(
        max_current_a=opts.number("max_current_a", 32.0, low=6.0, high=80.0),
        voltage_v=opts.number("voltage_v", 230.0, low=1.0),
        phases=opts.integer("phases", 3, low=1, high=3),
        ev=EvModel(
            max_current_a=opts.number("ev_max_current_a", 32.0, low=0.1),
            phases=opts.integer("ev_phases", 3, low=1, high=3),
            battery_capacity_wh=opts.number("ev_battery_wh", 60_000.0, low=1.0),
            initial_soc_percent=opts.number("ev_initial_soc", 20.0, low=0.0, high=100.0),
        ),
    )
    opts.finish()
    return board


def create_meter(options: Mapping[str, Any]) -> SimulatedMeter:
    opts = Options(options)
    meter = SimulatedMeter(opts.number("energy_wh", 0.0, low=0.0))
    opts.finish()
    return meter


def create_lock(options: Mapping[str, Any]) -> SimulatedLock:
    Options(options).finish()
    return SimulatedLock()


def create_rfid(options: Mapping[str, Any]) -> SimulatedTokens:
    Options(options).finish()
    return SimulatedTokens()


if TYPE_CHECKING:

    def _conforms(
        board: SimulatedBoard, meter: SimulatedMeter, lock: SimulatedLock, tokens: SimulatedTokens
    ) -> tuple[EvseBoard, MeterPart, ConnectorLock, AuthTokenProvider]:
        return board, meter, lock, tokens
