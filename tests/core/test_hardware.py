from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_station.hardware import (
    ConnectorHardware,
    EvModel,
    MeterReading,
    PowerMeter,
    RfidReader,
    SimulatedConnector,
    SimulatedRfidReader,
    SimulatedStation,
    StationHardware,
)
from tests.support.recording_listener import RecordingListener

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, as the ManualClock starts
HOUR = 3600.0

Event = tuple[object, ...]


def charging(
    limit_a: float | None = 16.0,
    *,
    ev: EvModel | None = None,
    initial_energy_wh: float = 0.0,
    initial_export_energy_wh: float = 0.0,
) -> SimulatedConnector:
    connector = SimulatedConnector(
        1, ev=ev, initial_energy_wh=initial_energy_wh, initial_export_energy_wh=initial_export_energy_wh
    )
    connector.plug(T0)
    connector.set_energy_offered(T0, True, limit_a)
    return connector


def assert_power_is_v_times_i(reading: MeterReading) -> None:
    assert reading.power_import_w == sum(
        v * i for v, i in zip(reading.voltage_v, reading.current_import_a, strict=True)
    )


# -- conformance ---------------------------------------------------------------------------------------


def test_simulated_hardware_satisfies_the_interfaces() -> None:
    station: StationHardware = SimulatedStation()
    connector: ConnectorHardware = station.connectors[0]
    meter: PowerMeter = connector.meter
    main: PowerMeter = station.main_meter
    rfid: RfidReader = station.rfid
    assert connector.connector_id == 1
    assert isinstance(meter.read(T0), MeterReading)
    assert isinstance(main.read(T0), MeterReading)
    assert rfid is station.rfid


def test_objects_are_slotted_so_a_fleet_stays_small() -> None:
    station = SimulatedStation()
    for obj in (station, station.connector(1), station.rfid, EvModel()):
        assert not hasattr(obj, "__dict__")


# -- energy integration --------------------------------------------------------------------------------


def test_sixteen_amps_on_three_phases_for_an_hour_is_11040_wh() -> None:
    connector = charging(16.0)
    reading = connector.meter.read(T0 + HOUR)
    assert reading.energy_import_wh == 11_040.0
    assert reading.power_import_w == 11_040.0
    assert reading.current_import_a == (16.0, 16.0, 16.0)


def test_integration_is_exact_across_limit_changes_and_reads() -> None:
    connector = charging(16.0)
    connector.meter.read(T0 + 600)  # a read in the middle must not disturb the integral
    connector.set_energy_offered(T0 + HOUR / 2, True, 32.0)
    connector.meter.read(T0 + HOUR / 2 + 1)
    connector.set_energy_offered(T0 + HOUR, True, 0.0)
    assert connector.meter.read(T0 + 2 * HOUR).energy_import_wh == 5_520.0 + 11_040.0


def test_register_continues_from_its_initial_value() -> None:
    connector = charging(16.0, initial_energy_wh=1_000_000.0)
    assert connector.meter.read(T0).energy_import_wh == 1_000_000.0
    assert connector.meter.read(T0 + HOUR).energy_import_wh == 1_011_040.0


def test_export_register_never_moves() -> None:
    connector = charging(16.0, initial_export_energy_wh=42.0)
    reading = connector.meter.read(T0 + HOUR)
    assert reading.energy_export_wh == 42.0
    assert reading.power_export_w == 0.0
    assert reading.current_export_a == (0.0, 0.0, 0.0)


def test_clock_set_back_neither_lowers_nor_double_counts_the_register() -> None:
    connector = charging(16.0)
    before = connector.meter.read(T0 + HOUR).energy_import_wh
    assert connector.meter.read(T0).energy_import_wh == before  # the CSMS set the clock back an hour
    assert connector.meter.read(T0 + HOUR).energy_import_wh == before + 11_040.0


def test_non_finite_time_is_refused() -> None:
    connector = charging(16.0)
    with pytest.raises(ValueError, match="finite"):
        connector.meter.read(math.nan)
    assert connector.meter.read(T0 + HOUR).energy_import_wh == 11_040.0


# -- what the EV draws ---------------------------------------------------------------------------------


def test_ev_draws_the_offered_limit() -> None:
    reading = charging(10.0).meter.read(T0 + 1)
    assert reading.current_import_a == (10.0, 10.0, 10.0)
    assert reading.current_offered_a == 10.0
    assert reading.power_offered_w == 10.0 * 230.0 * 3
    assert_power_is_v_times_i(reading)


def test_ev_draws_no_more_than_its_own_maximum() -> None:
    reading = charging(32.0, ev=EvModel(max_current_a=16.0)).meter.read(T0 + 1)
    assert reading.current_import_a == (16.0, 16.0, 16.0)
    assert reading.current_offered_a == 32.0


def test_limit_above_the_rating_is_capped_and_none_offers_the_rating() -> None:
    connector = charging(63.0, ev=EvModel(max_current_a=80.0))
    assert connector.meter.read(T0).current_offered_a == 32.0
    connector.set_energy_offered(T0, True, None)
    reading = connector.meter.read(T0)
    assert reading.current_offered_a == 32.0
    assert reading.current_import_a == (32.0, 32.0, 32.0)


def test_invalid_limits_are_refused() -> None:
    connector = charging(16.0)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            connector.set_energy_offered(T0, True, bad)


def test_single_phase_ev_draws_on_l1_only() -> None:
    reading = charging(16.0, ev=EvModel(phases=1)).meter.read(T0 + HOUR)
    assert reading.current_import_a == (16.0, 0.0, 0.0)
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.energy_import_wh == 16.0 * 230.0
    assert_power_is_v_times_i(reading)


def test_open_contactor_means_no_power_and_nothing_offered() -> None:
    connector = charging(16.0)
    connector.set_energy_offered(T0 + HOUR, False, 16.0)
    reading = connector.meter.read(T0 + 2 * HOUR)
    assert reading.energy_import_wh == 11_040.0
    assert reading.power_import_w == 0.0
    assert reading.current_offered_a == 0.0
    assert reading.power_offered_w == 0.0


def test_nothing_flows_before_an_ev_is_plugged_in() -> None:
    connector = SimulatedConnector(1)
    connector.set_energy_offered(T0, True, None)
    reading = connector.meter.read(T0 + HOUR)
    assert reading.energy_import_wh == 0.0
    assert reading.soc_percent is None
    assert reading.current_offered_a == 32.0


def test_unplugging_stops_the_flow() -> None:
    connector = charging(16.0)
    connector.unplug(T0 + HOUR)
    reading = connector.meter.read(T0 + 2 * HOUR)
    assert reading.energy_import_wh == 11_040.0
    assert reading.power_import_w == 0.0
    assert reading.soc_percent is None


def test_suspended_ev_draws_nothing_and_resumes() -> None:
    connector = charging(16.0)
    connector.suspend_ev(T0 + HOUR, True)
    assert not connector.ev_ready
    reading = connector.meter.read(T0 + 2 * HOUR)
    assert reading.power_import_w == 0.0
    assert reading.current_import_a == (0.0, 0.0, 0.0)
    assert reading.current_offered_a == 16.0  # the EVSE still offers: this is SuspendedEV, not SuspendedEVSE
    connector.suspend_ev(T0 + 2 * HOUR, False)
    assert connector.ev_ready
    assert connector.meter.read(T0 + 3 * HOUR).energy_import_wh == 2 * 11_040.0


def test_soc_grows_with_energy_and_charging_stops_at_full() -> None:
    ev = EvModel(battery_capacity_wh=11_040.0, initial_soc_percent=50.0)
    connector = charging(16.0, ev=ev)
    assert connector.meter.read(T0).soc_percent == 50.0
    assert connector.meter.read(T0 + HOUR / 4).soc_percent == pytest.approx(75.0)
    reading = connector.meter.read(T0 + HOUR)  # full after 30 minutes, between two reads
    assert reading.soc_percent == 100.0
    assert reading.energy_import_wh == 5_520.0
    assert reading.power_import_w == 0.0
    assert reading.current_import_a == (0.0, 0.0, 0.0)
    assert reading.temperature_c == 25.0
    assert connector.meter.read(T0 + 5 * HOUR).energy_import_wh == 5_520.0


def test_a_new_ev_starts_from_its_initial_soc() -> None:
    ev = EvModel(battery_capacity_wh=11_040.0, initial_soc_percent=50.0)
    connector = charging(16.0, ev=ev)
    connector.unplug(T0 + HOUR)
    connector.plug(T0 + HOUR)
    assert connector.meter.read(T0 + HOUR).soc_percent == 50.0
    assert connector.meter.read(T0 + 2 * HOUR).energy_import_wh == 2 * 5_520.0
    connector.unplug(T0 + 2 * HOUR)
    connector.plug(T0 + 2 * HOUR, ev=EvModel(initial_soc_percent=90.0))
    assert connector.meter.read(T0 + 2 * HOUR).soc_percent == 90.0


def test_full_ev_draws_nothing() -> None:
    reading = charging(16.0, ev=EvModel(initial_soc_percent=100.0)).meter.read(T0 + HOUR)
    assert reading.energy_import_wh == 0.0
    assert reading.soc_percent == 100.0


def test_temperature_rises_with_power_and_meter_reports_grid_values() -> None:
    connector = charging(None)
    full = connector.meter.read(T0 + 1)
    assert full.temperature_c == 40.0
    assert full.frequency_hz == 50.0
    assert full.timestamp == T0 + 1
    connector.set_energy_offered(T0 + 1, True, 16.0)
    assert connector.meter.read(T0 + 2).temperature_c == 32.5
    connector.set_energy_offered(T0 + 2, False, None)
    assert connector.meter.read(T0 + 3).temperature_c == 25.0


def test_ev_model_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        EvModel(initial_soc_percent=101.0)
    with pytest.raises(ValueError):
        EvModel(phases=4)
    with pytest.raises(ValueError):
        EvModel(battery_capacity_wh=0.0)
    with pytest.raises(ValueError):
        EvModel(max_current_a=-1.0)


def test_connector_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SimulatedConnector(0)
    with pytest.raises(ValueError):
        SimulatedConnector(1, phases=0)
    with pytest.raises(ValueError):
        SimulatedConnector(1, initial_energy_wh=-1.0)


# -- board support: plug, faults, EV state, listener ---------------------------------------------------


def test_plug_and_unplug_notify_synchronously_with_the_new_state_visible() -> None:
    connector = SimulatedConnector(1)
    seen: list[bool] = []

    class Listener(RecordingListener):
        def on_plug_changed(self, connector_id: int, plugged: bool) -> None:
            seen.append(connector.plugged)
            super().on_plug_changed(connector_id, plugged)

    listener = Listener()
    connector.set_listener(listener)
    assert not connector.plugged
    assert not connector.ev_ready
    connector.plug(T0)
    assert connector.plugged
    assert connector.ev_ready
    connector.unplug(T0 + 1)
    assert listener.events == [("plug", 1, True), ("plug", 1, False)]
    assert seen == [True, False]


def test_plugging_twice_or_unplugging_an_empty_connector_is_refused() -> None:
    connector = SimulatedConnector(2)
    connector.set_listener(listener := RecordingListener())
    connector.plug(T0)
    with pytest.raises(ValueError, match="already plugged"):
        connector.plug(T0)
    connector.unplug(T0)
    with pytest.raises(ValueError, match="not plugged"):
        connector.unplug(T0)
    assert listener.events == [("plug", 2, True), ("plug", 2, False)]


def test_fault_notifications_only_on_change() -> None:
    connector = SimulatedConnector(1)
    connector.set_listener(listener := RecordingListener())
    connector.set_fault("GroundFailure", "RCD tripped")
    connector.set_fault("GroundFailure", "RCD tripped")
    assert connector.fault == "GroundFailure"
    connector.set_fault(None, "ignored")
    connector.set_fault(None)
    assert connector.fault is None
    assert listener.events == [("fault", 1, "GroundFailure", "RCD tripped"), ("fault", 1, None, None)]


def test_only_ocpp_error_codes_are_accepted() -> None:
    connector = SimulatedConnector(1)
    for bad in ("NoError", "Broken", ""):
        with pytest.raises(ValueError, match="ChargePointErrorCode"):
            connector.set_fault(bad)
    with pytest.raises(ValueError):
        SimulatedStation().set_fault("NoError")


def test_ev_suspend_resume_notifications() -> None:
    connector = SimulatedConnector(1)
    connector.set_listener(listener := RecordingListener())
    with pytest.raises(ValueError, match="no EV"):
        connector.suspend_ev(T0, True)
    connector.plug(T0)
    connector.suspend_ev(T0, True)
    connector.suspend_ev(T0, True)
    connector.suspend_ev(T0, False)
    assert listener.events == [("plug", 1, True), ("ev_ready", 1, False), ("ev_ready", 1, True)]


def test_a_new_ev_is_ready_even_if_the_last_one_had_suspended() -> None:
    connector = SimulatedConnector(1)
    connector.plug(T0)
    connector.suspend_ev(T0, True)
    connector.unplug(T0)
    connector.plug(T0)
    assert connector.ev_ready


def test_no_listener_no_problem() -> None:
    connector = SimulatedConnector(1)
    connector.plug(T0)
    connector.set_fault("HighTemperature")
    connector.suspend_ev(T0, True)
    SimulatedRfidReader().present("TAG")


# -- connector lock ------------------------------------------------------------------------------------


def test_socket_lock_and_unlock() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    assert not connector.fixed_cable
    assert connector.lock()
    assert connector.locked
    assert connector.unlock()
    assert not connector.locked


def test_lock_failure() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.fail_lock(True)
    assert not connector.lock()
    assert not connector.locked
    connector.fail_lock(False)
    assert connector.lock()


def test_unlock_failure_keeps_the_connector_locked() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.fail_unlock(True)
    assert connector.lock()
    assert not connector.unlock()
    assert connector.locked
    connector.fail_unlock(False)
    assert connector.unlock()
    assert not connector.locked


def test_fixed_cable_has_no_lock_to_operate() -> None:
    connector = SimulatedConnector(1)
    assert connector.fixed_cable
    assert connector.lock()
    assert connector.unlock()
    assert not connector.locked
    with pytest.raises(ValueError, match="fixed cable"):
        connector.fail_lock(True)
    with pytest.raises(ValueError, match="fixed cable"):
        connector.fail_unlock(True)
    connector.fail_lock(False)
    connector.fail_unlock(False)


def test_ev_side_unplug_is_possible_while_the_socket_is_locked() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.plug(T0)
    assert connector.lock()
    connector.unplug(T0)
    assert connector.locked  # unlocking on EV-side disconnect is the core's decision


# -- RFID and station ----------------------------------------------------------------------------------


def test_rfid_presentation_reaches_the_listener() -> None:
    station = SimulatedStation()
    station.set_listener(listener := RecordingListener())
    station.rfid.present("ABCDEF01")
    station.rfid.present("ABCDEF01", 2)
    assert listener.events == [("id_tag", "ABCDEF01", None), ("id_tag", "ABCDEF01", 2)]


def test_rfid_refuses_impossible_tags_and_connectors() -> None:
    reader = SimulatedStation(2).rfid
    for tag in ("", "X" * 21):
        with pytest.raises(ValueError):
            reader.present(tag)
    for connector_id in (0, 3):
        with pytest.raises(ValueError, match="no connector"):
            reader.present("TAG", connector_id)
    reader.present("X" * 20, 1)


def test_station_listener_reaches_every_connector_and_station_faults_use_connector_zero() -> None:
    station = SimulatedStation(3)
    station.set_listener(listener := RecordingListener())
    station.connector(3).plug(T0)
    station.connector(2).set_fault("PowerMeterFailure")
    station.set_fault("InternalError", "relay board")
    station.set_fault("InternalError", "relay board")
    assert station.fault == "InternalError"
    station.set_fault(None)
    assert listener.events == [
        ("plug", 3, True),
        ("fault", 2, "PowerMeterFailure", None),
        ("fault", 0, "InternalError", "relay board"),
        ("fault", 0, None, None),
    ]


def test_station_connector_lookup() -> None:
    station = SimulatedStation(2, fixed_cable=False)
    assert [c.connector_id for c in station.connectors] == [1, 2]
    assert station.connector(2) is station.connectors[1]
    assert not station.connector(1).fixed_cable
    for bad in (0, 3, -1):
        with pytest.raises(ValueError, match="no connector"):
            station.connector(bad)


def test_station_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SimulatedStation(0)
    with pytest.raises(ValueError, match="initial registers"):
        SimulatedStation(2, initial_energy_wh=[1.0])


def test_main_meter_is_the_sum_of_the_connectors() -> None:
    station = SimulatedStation(2, initial_energy_wh=[100.0, 200.0])
    one, two = station.connector(1), station.connector(2)
    one.plug(T0)
    one.set_energy_offered(T0, True, 16.0)
    two.plug(T0, ev=EvModel(phases=1))
    two.set_energy_offered(T0, True, 10.0)
    main = station.main_meter.read(T0 + HOUR)
    parts = [one.meter.read(T0 + HOUR), two.meter.read(T0 + HOUR)]
    assert main.energy_import_wh == 100.0 + 200.0 + 11_040.0 + 2_300.0
    assert main.energy_import_wh == sum(p.energy_import_wh for p in parts)
    assert main.power_import_w == sum(p.power_import_w for p in parts)
    assert main.current_import_a == (26.0, 16.0, 16.0)
    assert main.current_offered_a == 26.0
    assert main.power_offered_w == sum(p.power_offered_w for p in parts)
    assert main.voltage_v == (230.0, 230.0, 230.0)
    assert main.frequency_hz == 50.0
    assert main.soc_percent is None
    assert main.temperature_c == max(p.temperature_c for p in parts)
    assert main.timestamp == T0 + HOUR


def test_station_passes_hardware_settings_to_its_connectors() -> None:
    station = SimulatedStation(1, voltage_v=120.0, phases=1, max_current_a=40.0, ev=EvModel(max_current_a=48))
    station.connector(1).plug(T0)
    station.connector(1).set_energy_offered(T0, True, None)
    reading = station.main_meter.read(T0 + HOUR)
    assert reading.voltage_v == (120.0,)
    assert reading.current_import_a == (40.0,)
    assert reading.energy_import_wh == 4_800.0


# -- the property: monotonic register, energy = integral of power -------------------------------------


@dataclass
class ReferenceModel:
    """The piecewise-constant power the brief describes, integrated segment by segment."""

    ev: EvModel
    energy_wh: float
    now: float = T0
    plugged: bool = False
    suspended: bool = False
    enabled: bool = False
    limit_a: float | None = None
    delivered_wh: float = 0.0

    def power_w(self) -> float:
        if not (self.enabled and self.plugged) or self.suspended:
            return 0.0
        if self.delivered_wh >= self.ev.energy_to_full_wh:
            return 0.0
        offered_a = 32.0 if self.limit_a is None else min(self.limit_a, 32.0)
        return min(self.ev.max_current_a, offered_a) * 230.0 * self.ev.phases

    def advance(self, seconds: float) -> None:
        then, self.now = self.now, self.now + seconds
        # The meter sees only timestamps, which round at this magnitude: integrate over what it sees.
        elapsed = self.now - then
        energy_wh = min(self.power_w() * elapsed / HOUR, self.ev.energy_to_full_wh - self.delivered_wh)
        self.energy_wh += max(energy_wh, 0.0)
        self.delivered_wh += max(energy_wh, 0.0)


# Short waits and long ones: only the long ones get an EV from any SoC to full.
wait = st.tuples(st.just("wait"), st.one_of(st.floats(0.0, 60.0), st.floats(60.0, 4 * HOUR)))
read = st.tuples(st.just("read"))
limit = st.tuples(st.just("limit"), st.booleans(), st.one_of(st.none(), st.floats(0.0, 70.0)))
suspend = st.tuples(st.just("suspend"), st.booleans())
plug = st.tuples(st.just("plug"))
operations = st.lists(st.one_of(wait, read, wait, limit, wait, suspend, plug), max_size=50)


@settings(max_examples=300, deadline=None)
@given(
    operations=operations,
    ev=st.builds(
        EvModel,
        max_current_a=st.floats(6.0, 80.0),
        phases=st.sampled_from([1, 2, 3]),
        battery_capacity_wh=st.floats(1_000.0, 60_000.0),
        initial_soc_percent=st.floats(0.0, 100.0),
    ),
    initial_energy_wh=st.floats(0.0, 1e7),
    start_charging=st.booleans(),
    final_wait=st.floats(0.0, 8 * HOUR),
)
def test_register_is_monotonic_and_equals_the_integral_of_power(
    operations: list[tuple[object, ...]],
    ev: EvModel,
    initial_energy_wh: float,
    start_charging: bool,
    final_wait: float,
) -> None:
    connector = SimulatedConnector(1, fixed_cable=False, initial_energy_wh=initial_energy_wh, ev=ev)
    model = ReferenceModel(ev, initial_energy_wh)
    if start_charging:  # otherwise few random sequences get as far as a full battery
        operations = [("plug",), ("limit", True, None), *operations]
    last_wh = initial_energy_wh
    for operation in [*operations, ("read",), ("wait", final_wait), ("read",)]:
        kind = operation[0]
        if kind == "wait":
            assert isinstance(operation[1], float)
            model.advance(operation[1])
        elif kind == "read":
            reading = connector.meter.read(model.now)
            assert reading.energy_import_wh >= last_wh
            assert math.isclose(reading.energy_import_wh, model.energy_wh, rel_tol=1e-9, abs_tol=1e-6)
            assert_power_is_v_times_i(reading)
            full = reading.soc_percent == 100.0
            drawing = connector.ev_ready and not full
            expected_a = min(ev.max_current_a, reading.current_offered_a) if drawing else 0.0
            assert reading.current_import_a[0] == expected_a
            assert reading.current_offered_a <= 32.0
            assert reading.soc_percent is None or 0.0 <= reading.soc_percent <= 100.0
            last_wh = reading.energy_import_wh
        elif kind == "limit":
            enabled, limit_a = operation[1], operation[2]
            assert isinstance(enabled, bool)
            assert limit_a is None or isinstance(limit_a, float)
            connector.set_energy_offered(model.now, enabled, limit_a)
            model.enabled, model.limit_a = enabled, limit_a
        elif kind == "suspend":
            assert isinstance(operation[1], bool)
            if connector.plugged:
                connector.suspend_ev(model.now, operation[1])
                model.suspended = operation[1]
        elif connector.plugged:
            connector.unplug(model.now)
            model.plugged = model.suspended = False
        else:
            connector.plug(model.now)
            model.plugged, model.delivered_wh = True, 0.0
