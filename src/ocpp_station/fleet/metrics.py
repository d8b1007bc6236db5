"""Prometheus metrics of a fleet, read at scrape time from its counters (no per-message cost, no per-station series).

One `CollectorRegistry` per fleet, so two fleets in one process (tests) never share series.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ocpp_station.fleet.engine import Fleet
from ocpp_station.fleet.stats import LogHistogram

# Prometheus bucket edges (seconds) for the CSMS response time; the log histogram is summed into them.
EDGES = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _buckets(h: LogHistogram) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for edge in EDGES:
        out.append((str(edge), float(sum(n for k, n in h.buckets.items() if LogHistogram.upper(k) <= edge))))
    out.append(("+Inf", float(h.count)))
    return out


class FleetCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[Metric]:
        fleet = self._fleet
        stats = fleet.stats
        counts = fleet.counts()
        stations = GaugeMetricFamily("ocpp_fleet_stations", "Stations of this fleet process by state", labels=["state"])
        for state in ("stations", "connected", "booted", "charging"):
            stations.add_metric([state], counts[state])
        yield stations
        yield GaugeMetricFamily(
            "ocpp_fleet_queue_depth", "Transaction messages waiting to be sent, all stations", value=counts["queued"]
        )
        messages = CounterMetricFamily(
            "ocpp_fleet_messages", "OCPP calls by action and direction", labels=["action", "direction"]
        )
        for action, n in stats.sent.items():
            messages.add_metric([action, "sent"], n)
        for action, n in stats.received.items():
            messages.add_metric([action, "received"], n)
        yield messages
        response = HistogramMetricFamily(
            "ocpp_fleet_response_seconds", "CSMS response time per action", labels=["action"]
        )
        for action, h in stats.response_time.items():
            response.add_metric([action], _buckets(h), h.total)
        yield response
        call_errors = CounterMetricFamily("ocpp_fleet_call_errors", "CallErrors received by action", labels=["action"])
        for action, n in stats.call_errors.items():
            call_errors.add_metric([action], n)
        yield call_errors
        errors = CounterMetricFamily("ocpp_fleet_errors", "Errors by kind (timeout, connect, ...)", labels=["kind"])
        for kind, n in stats.errors.items():
            errors.add_metric([kind], n)
        yield errors
        yield CounterMetricFamily(
            "ocpp_fleet_timeouts", "Calls without a response in time", value=stats.errors.get("timeout", 0)
        )
        yield CounterMetricFamily(
            "ocpp_fleet_reconnects", "Connections after a station's first", value=stats.reconnects
        )
        yield CounterMetricFamily("ocpp_fleet_sessions", "Transactions stopped and acknowledged", value=stats.sessions)
        yield CounterMetricFamily("ocpp_fleet_energy_wh", "Energy of the acknowledged sessions", value=stats.energy_wh)


def fleet_registry(fleet: Fleet) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(FleetCollector(fleet))
    return registry
