"""Station behaviour behind the OCTT power-failure, offline and meter-value cases (TC_032, TC_036-TC_039,
TC_070, TC_071), driven through the sans-I/O core with a manual clock."""

from __future__ import annotations

from typing import Any

from ocpp_station.clock import ManualClock, iso_utc, parse_iso
from ocpp_station.hardware.simulated import SimulatedStation
from ocpp_station.station.configuration import ConfigStatus
from ocpp_station.station.metering import sampled_values
from tests.support.core_driver import CoreDriver


def _meter_values(sent: list[tuple[str, dict[str, Any]]], connector_id: int) -> list[dict[str, Any]]:
    return [p for a, p in sent if a == "MeterValues" and p["connectorId"] == connector_id]


def _start(cp: CoreDriver, connector_id: int = 1, tag: str = "TAG-1") -> float:
    cp.hardware.connector(connector_id).plug(cp.clock.now())
    cp.hardware.rfid.present(tag, connector_id)
    start = next(p for a, p in cp.take() if a == "StartTransaction")
    return parse_iso(start["timestamp"])


def test_statuses_queued_offline_collapse_to_the_current_one() -> None:
    # OCPP 1.6 §4.9: after the offline period only the current status, in causal order with the queue: the
    # StartTransaction, then the Charging it caused (OCTT TC_037_1 steps 1 and 3).
    cp = CoreDriver({"AllowOfflineTxForUnknownId": "true"})
    cp.connect()
    cp.take()
    cp.disconnect()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1", 1)
    assert cp.take() == []
    cp.connect()
    sent = cp.take()
    assert [a for a, _ in sent] == ["StartTransaction", "StatusNotification"]
    assert cp.statuses(sent) == [(1, "Charging")]
    cp.close()


def test_offline_statuses_back_to_the_reported_one_are_not_sent() -> None:
    # OCTT TC_039: start, stop and unplug offline: the connector is Available again, as last reported.
    cp = CoreDriver({"AllowOfflineTxForUnknownId": "true"})
    cp.connect()
    cp.take()
    cp.disconnect()
    cp.hardware.connector(1).plug(cp.clock.now())
    cp.hardware.rfid.present("TAG-1", 1)
    cp.hardware.rfid.present("TAG-1", 1)
    cp.hardware.connector(1).unplug(cp.clock.now())
    cp.connect()
    sent = cp.take()
    assert [a for a, _ in sent] == ["StartTransaction", "StopTransaction"]
    assert sent[1][1]["transactionId"] == 1001  # the id the central system gave the offline start
    cp.close()


def test_power_loss_recovery_reports_finishing_while_the_cable_is_in() -> None:
    # OCPP 1.6 §4.9 Finishing; OCTT TC_032_2 step 3 / step 7.
    clock = ManualClock()
    hardware = SimulatedStation(2)
    cp = CoreDriver(clock=clock, hardware=hardware)
    cp.connect()
    _start(cp)
    cp.close()  # power cut: the cable stays in
    again = CoreDriver(clock=clock, hardware=hardware, store=cp.store)
    again.connect()
    sent = again.take()
    assert again.statuses(sent) == [(0, "Available"), (1, "Finishing"), (2, "Available")]
    assert [p["reason"] for a, p in sent if a == "StopTransaction"] == ["PowerLoss"]
    again.close()


def test_power_failure_with_backup_stops_every_transaction_with_power_loss() -> None:
    cp = CoreDriver()
    cp.connect()
    _start(cp, 1, "TAG-1")
    _start(cp, 2, "TAG-2")
    cp.station.core.power_failure()
    sent = cp.take()
    assert sorted((p["transactionId"], p["reason"]) for a, p in sent if a == "StopTransaction") == [
        (1001, "PowerLoss"),
        (1002, "PowerLoss"),
    ]
    assert cp.statuses(sent) == [(1, "Finishing"), (2, "Finishing")]
    cp.close()


def test_sampling_stays_on_the_grid_from_the_transaction_start() -> None:
    # OCPP 1.6 §3.16.1: "periodically at this interval from the start of the charging transaction".
    cp = CoreDriver({"MeterValueSampleInterval": "10"})
    cp.connect()
    cp.take()
    started = _start(cp)
    cp.clock.advance(10.7)  # the first sample's timer fires 0.7 s late
    cp.station.tick()
    cp.advance(9.3)
    cp.advance(10)
    times = [parse_iso(p["meterValue"][0]["timestamp"]) - started for p in _meter_values(cp.take(), 1)]
    assert [round(t, 3) for t in times] == [10.7, 20.0, 30.0]  # the timestamps carry milliseconds
    cp.close()


def test_clock_aligned_data_defaults_to_the_energy_register_and_never_repeats_a_boundary() -> None:
    # OCTT TC_071 ("empty ... Energy.Active.Import.Register is assumed"); a wall clock set back a little after
    # the timer was armed must not report the same boundary twice.
    cp = CoreDriver({"ClockAlignedDataInterval": "60", "MeterValuesAlignedData": ""})
    cp.connect()
    cp.take()
    cp.clock.set_now(cp.clock.now() - 0.005)
    cp.advance(60.005)
    cp.advance(30)
    sent = _meter_values(cp.take(), 0)
    assert [mv["meterValue"][0]["timestamp"] for mv in sent] == [iso_utc(1_767_225_660.0)]
    (value,) = sent[0]["meterValue"][0]["sampledValue"]
    assert (value["measurand"], value["context"]) == ("Energy.Active.Import.Register", "Sample.Clock")
    cp.close()


def test_one_sampled_value_per_configured_item_and_phase() -> None:
    # OCPP 1.6 §3.16.3 (every phase of a phased measurand) without duplicates for overlapping items.
    reading = SimulatedStation(1).connector(1).read(0.0)
    values = sampled_values(reading, ["Voltage", "Voltage.L1", "Current.Import.L2"], "Sample.Periodic")
    assert [(v["measurand"], v.get("phase")) for v in values] == [
        ("Voltage", "L1-N"),
        ("Voltage", "L2-N"),
        ("Voltage", "L3-N"),
        ("Current.Import", "L2"),
    ]


def test_items_the_meter_cannot_report_are_rejected() -> None:
    # OCPP 1.6 §3.16.4: a configured item must yield a sampledValue (OCTT TC_070), so these are unsupported.
    cp = CoreDriver()
    for item in ("Energy.Active.Import.Interval", "Energy.Active.Import.Register.L1", "Current.Import.N"):
        assert cp.config.change("MeterValuesSampledData", item) is ConfigStatus.REJECTED
    assert cp.config.change("MeterValuesSampledData", "Current.Import.L1,Voltage.L2") is ConfigStatus.ACCEPTED
    cp.close()


def test_energy_register_reads_in_whole_wh_like_meter_start_and_stop() -> None:
    # A MeterValues reading of 27.6 Wh said "28" and the StopTransaction that followed meterStop 27: the
    # register went backwards (errata v4.0 3.9). Whole Wh are counted, never rounded up.
    hardware = SimulatedStation(1, initial_energy_wh=[27.6])
    (value,) = sampled_values(hardware.connector(1).read(0.0), ["Energy.Active.Import.Register"], "Sample.Periodic")
    assert value["value"] == "27"
