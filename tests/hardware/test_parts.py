"""IEC 61851-1 duty cycle and the connector composed from parts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocpp_station.hardware.composed import ComposedConnector, ComposedStation
from ocpp_station.hardware.drivers.meter_health import empty_reading
from ocpp_station.hardware.interfaces import MeterReading
from ocpp_station.hardware.parts import (
    ControlPilotState,
    CpCallback,
    Fault,
    FaultCallback,
    current_for_duty_cycle,
    duty_cycle_for_current,
)


@pytest.mark.parametrize(("amps", "duty"), [(6, 10.0), (16, 26.67), (32, 53.33), (51, 85.0), (63, 89.2), (80, 96.0)])
def test_duty_cycle_of_table_a7(amps: float, duty: float) -> None:
    assert duty_cycle_for_current(amps) == pytest.approx(duty, abs=0.01)


def test_zero_is_pwm_off_and_the_rest_cannot_be_coded() -> None:
    assert duty_cycle_for_current(0) == 100.0
    for amps in (3.0, 80.5, -1.0, float("nan")):
        with pytest.raises(ValueError):
            duty_cycle_for_current(amps)
    assert current_for_duty_cycle(5.0) is None  # digital communication
    assert current_for_duty_cycle(100.0) is None
    assert current_for_duty_cycle(9.0) == 6.0


@given(st.floats(min_value=6.0, max_value=80.0))
def test_the_ev_reads_back_what_the_evse_offers(amps: float) -> None:
    read = current_for_duty_cycle(duty_cycle_for_current(amps))
    assert read is not None
    if 51.0 < amps < 52.5:
        # Table A.7's two formulas do not meet: 51–52.5 A codes below 85 %, which Table A.8 reads as
        # D × 0.6 — less than offered (the safe side), never more.
        assert amps - 1.6 < read <= amps
    else:
        assert read == pytest.approx(amps)


class Board:
    max_current_a = 32.0
    temperature_c: float | None = 41.0

    def __init__(self) -> None:
        self.cp_state = ControlPilotState.A
        self.fault: Fault | None = None
        self.offered: list[tuple[float, bool]] = []
        self._cp: CpCallback | None = None
        self._fault: FaultCallback | None = None
        self._allowed = False

    def allow_power_on(self, allowed: bool) -> None:
        self._allowed = allowed

    def set_offered_current(self, amps: float) -> None:
        self.offered.append((amps, self._allowed))

    def set_cp_callback(self, callback: CpCallback) -> None:
        self._cp = callback

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._fault = callback

    def cp(self, state: ControlPilotState) -> None:
        self.cp_state = state
        assert self._cp is not None
        self._cp(state)


class Meter:
    fault: Fault | None = None

    def read(self, now: float) -> MeterReading:
        return empty_reading(now)

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self.callback = callback


class Listener:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def on_plug_changed(self, connector_id: int, plugged: bool) -> None:
        self.seen.append(("plug", plugged))

    def on_fault_changed(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        self.seen.append(("fault", error_code, info))

    def on_ev_ready_changed(self, connector_id: int, ev_ready: bool) -> None:
        self.seen.append(("ev_ready", ev_ready))

    def on_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self.seen.append(("id_tag", id_tag))


def test_control_pilot_states_become_plug_ready_and_fault_events() -> None:
    board, meter, listener = Board(), Meter(), Listener()
    station = ComposedStation([ComposedConnector(1, board, meter)])
    station.set_listener(listener)
    connector = station.connectors[0]
    for state in "BCBEBA":
        board.cp(ControlPilotState(state))
    assert listener.seen == [
        ("plug", True),
        ("ev_ready", True),
        ("ev_ready", False),
        ("plug", False),
        ("fault", "EVCommunicationError", "control pilot state E"),
        ("plug", True),
        ("fault", None, None),
        ("plug", False),
    ]
    meter.fault = Fault("PowerMeterFailure", "meter timeout")
    meter.callback(meter.fault)
    assert connector.fault == "PowerMeterFailure" and listener.seen[-1][1] == "PowerMeterFailure"


def test_the_limit_reaches_the_board_as_iec_61851_can_code_it() -> None:
    board = Board()
    connector = ComposedConnector(1, board, Meter())
    connector.set_energy_offered(0.0, True, None)  # the hardware maximum
    connector.set_energy_offered(0.0, True, 100.0)  # capped to the rating
    connector.set_energy_offered(0.0, True, 4.0)  # below 6 A: pause
    connector.set_energy_offered(0.0, False, 16.0)
    assert [amps for amps, _ in board.offered] == [32.0, 32.0, 0.0, 0.0]
    reading = connector.meter.read(5.0)
    assert (reading.current_offered_a, reading.temperature_c) == (0.0, 41.0)
    connector.set_energy_offered(0.0, True, 16.0)
    assert connector.meter.read(5.0).power_offered_w == 16.0 * 230.0
