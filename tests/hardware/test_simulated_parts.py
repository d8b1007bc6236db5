"""The simulated hardware as parts: the limit reaches the simulated EV through the control pilot, as on a real
board, and the pilot reports the EV's state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ocpp_station.hardware.composed import ComposedConnector
from ocpp_station.hardware.iec61851 import current_for_duty_cycle
from ocpp_station.hardware.parts import ControlPilotState
from ocpp_station.hardware.simulated import SimulatedStation
from ocpp_station.hardware.simulated_parts import EvModel, SimulatedBoard, SimulatedMeter
from tests.support.core_driver import CoreDriver

T0 = 1_767_225_600.0


def test_a_smart_charging_limit_reaches_the_ev_as_a_duty_cycle() -> None:
    cp = CoreDriver(hardware=SimulatedStation(1))
    cp.connect()
    connector = cp.hardware.connectors[0]

    def pilot() -> ControlPilotState:  # read afresh: mypy would keep `connector.cp_state` narrowed to A
        return connector.cp_state

    assert pilot() == ControlPilotState.A
    cp.controls.plug(cp.clock.now(), 1)
    cp.controls.present_id_tag("TAG-1", None)
    cp.pump()
    assert pilot() == ControlPilotState.C
    assert connector.board.duty_cycle_percent == pytest.approx(32 / 0.6)  # the hardware maximum, 53.3 %
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2020-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": Decimal("10")}],
        },
    }
    cp.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
    # 10 A is a 16.7 % duty cycle; the EV draws what it reads from it (IEC 61851-1 Table A.8).
    assert connector.board.duty_cycle_percent == pytest.approx(10 / 0.6)
    reading = connector.meter.read(cp.clock.now())
    assert current_for_duty_cycle(connector.board.duty_cycle_percent) == pytest.approx(10.0)
    assert reading.current_import_a == pytest.approx((10.0, 10.0, 10.0))
    # The EV suspends: the pilot goes to B, and the core hears SuspendedEV.
    cp.controls.set_ev_suspended(cp.clock.now(), 1, True)
    assert pilot() == ControlPilotState.B
    assert cp.statuses(cp.take())[-1] == (1, "SuspendedEV")


def test_a_pwm_only_board_pauses_below_six_amperes() -> None:
    board = SimulatedBoard(ev=EvModel(max_current_a=32.0))
    meter = SimulatedMeter()
    meter.measure(board)
    connector = ComposedConnector(1, board, meter)
    board.plug(T0)
    connector.set_energy_offered(T0, True, 5.0)
    assert board.duty_cycle_percent == 100.0  # no PWM: 5 A cannot be coded (Table A.7)
    assert meter.read(T0 + 10).power_import_w == 0.0
    connector.set_energy_offered(T0 + 10, True, 6.0)
    assert board.duty_cycle_percent == pytest.approx(10.0)
    assert meter.read(T0 + 3610).energy_import_wh == pytest.approx(6 * 230 * 3, rel=1e-9)
