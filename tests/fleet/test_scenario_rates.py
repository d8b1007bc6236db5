"""The scenario's rates, on a virtual clock: a station model stands in for the core, the driver and the network,
so that hundreds of station-hours run in a fraction of a second. What reaches a central system is tested in
test_fleet_scenario.py.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import pytest

from ocpp_station.fleet.context import Lane, ScenarioStation, SeededStation
from ocpp_station.fleet.scenario import ScenarioError, ScenarioRunner, parse_scenario
from ocpp_station.fleet.stats import FleetStats
from ocpp_station.settings import Hardware


@dataclass
class _Tx:
    id_tag: str


@dataclass
class _Connector:
    connector_id: int
    plugged: bool = False
    transaction: _Tx | None = None
    tag: str | None = None  # a card presented before the cable


@dataclass
class _Core:
    connectors: list[_Connector] = field(default_factory=lambda: [_Connector(1)])
    online: bool = True
    clock: float = 0.0

    def now(self) -> float:
        return self.clock


class _Controls:
    """Connectors as the scenario sees them: a card starts a transaction with the cable in, the same card stops it."""

    def __init__(self, station: _Station) -> None:
        self.station = station

    def _connector(self, connector_id: int | None) -> _Connector:
        assert connector_id is not None, "the scenario names the connector"
        return self.station.core.connectors[connector_id - 1]

    def plug(self, now: float, connector_id: int) -> None:
        c = self._connector(connector_id)
        c.plugged = True
        if c.tag is not None:
            c.transaction = _Tx(c.tag)

    def unplug(self, now: float, connector_id: int, side: str) -> None:
        c = self._connector(connector_id)
        c.plugged = False
        c.tag = None

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        c = self._connector(connector_id)
        if c.transaction is not None and c.transaction.id_tag == id_tag:
            c.transaction = None
            self.station.events["session"] += 1
            self.station.events[f"session on {c.connector_id}"] += 1
        elif c.plugged:
            c.transaction = _Tx(id_tag)
        else:
            c.tag = id_tag

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        if error_code is not None:
            self.station.events[error_code] += 1


@dataclass
class _Station:
    index: int
    draws: int = 0
    jitter_draws: int = 0
    core: _Core = field(default_factory=_Core)
    scenario_at: float = math.inf
    scenario_lanes: tuple[Lane, ...] = ()
    manual: bool = False
    events: Counter[str] = field(default_factory=Counter)
    controls: _Controls | None = None

    def set_online(self, online: bool) -> None:
        if not online:
            self.events["drop"] += 1


def _run(scenario: dict[str, object], stations: int, hours: float, seed: int = 1, connectors: int = 1) -> Counter[str]:
    """Every station through the scenario for `hours` of virtual time; the events of them all."""
    streams = [random.Random(seed * 100_000 + i) for i in range(stations)]

    def rand(station: SeededStation) -> float:
        station.draws += 1
        return streams[station.index].random()

    runner = ScenarioRunner(parse_scenario(scenario), Hardware(), rand, FleetStats())
    total: Counter[str] = Counter()
    for i in range(stations):
        station = _Station(i, core=_Core([_Connector(n) for n in range(1, connectors + 1)]))
        station.controls = _Controls(station)
        as_seen = cast(ScenarioStation, station)  # the model has what the scenario uses of a station
        runner.begin(as_seen, 0.0)
        while station.scenario_at < hours * 3600:
            now = station.scenario_at
            station.core.clock = now
            station.scenario_at = math.inf
            runner.step(as_seen, now)
        total.update(station.events)
    return total


BENCH_LIKE: dict[str, object] = {
    "sessions": {"inter_arrival_s": [5, 10], "duration_s": [20, 40]},
    "faults": {"per_hour": 2.0, "duration_s": [30, 120], "error_code": "HighTemperature"},
    "network": {"per_hour": 1.0, "duration_s": [5, 30]},
}


def test_faults_and_drops_come_at_their_rates_per_station_hour() -> None:
    # 400 station-hours: 800 faults and 400 drops are expected, give or take what the seeded draws make of it;
    # a rate counted per hour of idle time only (sessions left out) would give a fifth of that.
    hours = 400.0
    events = _run(BENCH_LIKE, stations=20, hours=hours / 20)
    assert events["HighTemperature"] / hours == pytest.approx(2.0, rel=0.12)
    assert events["drop"] / hours == pytest.approx(1.0, rel=0.15)
    # The sessions fill the rest of the time: cycles of 7.5 + 30 + 2 s with some time lost to faults and drops.
    assert 20_000 < events["session"] < 38_000


def test_evs_arrive_per_connector_and_the_rates_stay_per_station_hour() -> None:
    # Two connectors: each has its own arrivals, so twice the sessions of one; faults and drops are still
    # counted per station-hour (each connector draws half of them).
    hours = 400.0
    one = _run(BENCH_LIKE, stations=20, hours=hours / 20)
    two = _run(BENCH_LIKE, stations=20, hours=hours / 20, connectors=2)
    assert two["session on 1"] == pytest.approx(two["session on 2"], rel=0.05)
    assert two["session"] == pytest.approx(2 * one["session"], rel=0.08)
    assert two["HighTemperature"] / hours == pytest.approx(2.0, rel=0.12)
    assert two["drop"] / hours == pytest.approx(1.0, rel=0.2)


def test_with_energy_capped_sessions_the_rates_still_hold() -> None:
    # 22 kW (32 A, 3 × 230 V): 2–4 kWh take 5–11 min, well within the 60–90 min of duration_s.
    sessions = {"inter_arrival_s": [5, 10], "duration_s": [3600, 5400], "energy_wh": [2000, 4000]}
    scenario = {**BENCH_LIKE, "sessions": sessions}
    hours = 2000.0  # sessions of 8 min: as many cycles as 400 hours of the short ones
    events = _run(scenario, stations=20, hours=hours / 20)
    assert events["HighTemperature"] / hours == pytest.approx(2.0, rel=0.12)
    assert events["drop"] / hours == pytest.approx(1.0, rel=0.15)


def test_rates_beyond_what_the_cycles_allow_make_every_arrival_a_fault_or_a_drop() -> None:
    scenario = {
        "sessions": {"inter_arrival_s": [1, 1]},
        "faults": {"per_hour": 30_000, "duration_s": [1, 1]},
        "network": {"per_hour": 10_000, "duration_s": [1, 1]},
    }
    events = _run(scenario, stations=4, hours=1.0)
    assert events["session"] == 0
    # Cycles of 2 s: 1 800 per station-hour, three faults to a drop.
    assert events["GroundFailure"] + events["drop"] == pytest.approx(4 * 1800, abs=4)
    assert events["GroundFailure"] / events["drop"] == pytest.approx(3.0, rel=0.1)


def test_a_fault_code_that_is_not_an_ocpp_error_code_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"faults.error_code 'Overheating' is not an OCPP 1.6 ChargePointErrorCode"):
        parse_scenario({"faults": {"error_code": "Overheating"}})
    with pytest.raises(ScenarioError, match="NoError"):
        parse_scenario({"faults": {"error_code": "NoError"}})
