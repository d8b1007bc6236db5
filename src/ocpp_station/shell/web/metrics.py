"""`/metrics`: a custom collector that reads every served station and its watch at scrape time.

Registered in a `CollectorRegistry` owned by one control API, so two APIs in one process (tests, a
fleet harness) never share or double-count series.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ocpp_station.shell.control import ControlError, StationDirectory
from ocpp_station.shell.web import station_view
from ocpp_station.shell.web.telemetry import Telemetry

ID = "charge_box_id"


class StationCollector(Collector):
    def __init__(self, directory: StationDirectory, telemetry: Telemetry) -> None:
        self._directory = directory
        self._telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ocpp_station_running", "1 while the station runs (0 during a reset)", labels=[ID])
        connected = GaugeMetricFamily(
            "ocpp_station_connected", "1 while the WebSocket to the CSMS is open", labels=[ID]
        )
        registration = GaugeMetricFamily(
            "ocpp_station_registration", "1 for the current BootNotification registration status", labels=[ID, "status"]
        )
        queue = GaugeMetricFamily("ocpp_station_queue_depth", "Transaction messages waiting to be sent", labels=[ID])
        energy = GaugeMetricFamily("ocpp_station_energy_wh", "Energy register per connector", labels=[ID, "connector"])
        power = GaugeMetricFamily("ocpp_station_power_w", "Power drawn per connector", labels=[ID, "connector"])
        for charge_box_id in self._directory.ids():
            station = self._directory.get(charge_box_id)
            if station is None:
                continue
            try:
                state: dict[str, Any] = station.state()
            except ControlError:
                up.add_metric([charge_box_id], 0)
                continue
            up.add_metric([charge_box_id], 1)
            connected.add_metric([charge_box_id], 1 if state.get("connected") else 0)
            registration.add_metric([charge_box_id, str(state.get("registration") or "Pending")], 1)
            depth = station_view.queue_depth(station)
            if depth is not None:
                queue.add_metric([charge_box_id], depth)
            for connector in state.get("connectors", []):
                labels = [charge_box_id, str(connector["connectorId"])]
                energy.add_metric(labels, float(connector["energyWh"]))
                power.add_metric(labels, float(connector["powerW"]))
        yield from (up, connected, registration, queue, energy, power)
        yield from self._link_metrics()

    def _link_metrics(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "ocpp_station_messages",
            "OCPP-J frames by direction, type and action",
            labels=[ID, "direction", "type", "action"],
        )
        response = HistogramMetricFamily(
            "ocpp_station_csms_response_seconds", "Time from sending a CALL to its answer", labels=[ID, "action"]
        )
        errors = CounterMetricFamily(
            "ocpp_station_call_errors", "CALLERROR frames by direction", labels=[ID, "direction"]
        )
        timeouts = CounterMetricFamily(
            "ocpp_station_timeouts", "CALLs the CSMS did not answer in time", labels=[ID, "action"]
        )
        reconnects = CounterMetricFamily(
            "ocpp_station_reconnects", "WebSocket connections after the first", labels=[ID]
        )
        for watch in self._telemetry.watches():
            cid = watch.charge_box_id
            for (direction, kind, action), count in sorted(watch.messages.items()):
                messages.add_metric([cid, direction, kind, action], count)
            for action, histogram in sorted(watch.response_times.items()):
                response.add_metric([cid, action], histogram.cumulative(), histogram.total)
            for direction in ("sent", "received"):
                errors.add_metric([cid, direction], watch.call_errors(direction))
            for action, count in sorted(watch.timeouts.items()):
                timeouts.add_metric([cid, action], count)
            reconnects.add_metric([cid], watch.reconnects)
        yield from (messages, response, errors, timeouts, reconnects)


def registry_for(directory: StationDirectory, telemetry: Telemetry) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(directory, telemetry))
    return registry
