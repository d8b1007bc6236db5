"""The fleet's scenario: what the EV drivers, the cables and the network do to each station, seeded.

A scenario file is TOML (see `scenarios/bench.toml`, the shared workload, and docs/fleet.md). Every draw comes
from `Fleet.rand(station, ...)`: a hash of the seed, the station's number and its own draw counter, so a station
makes the same choices in every run with the same seed, whatever the order in which the network delivers events
and however its connections fail (their back-off jitter draws from a sequence of its own, `Fleet.jitter`).

The scenario acts on the stations only through their simulator controls (plug, present a card, unplug, raise a
fault) and the network cable: the station's own logic (Authorize, StartTransaction, MeterValues, statuses) does
the rest, exactly as with a person at a real charger.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ocpp_station.fleet.context import Lane, ScenarioStation, SeededStation
from ocpp_station.fleet.stats import FleetStats
from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES
from ocpp_station.settings import Hardware

# Phases of one connector's life in the scenario (a `Lane`'s phase)
IDLE, ARRIVED, CHARGING, LEAVING, FAULTED, DROPPED = range(6)
# Between an action and the next in one arrival (tag then plug, stop then unplug): a person's pace.
STEP_S = 1.0
# Points per axis of the grid over which the mean length of an energy-capped session is taken.
_MEAN_GRID = 32
# How often a station that is not Accepted yet is looked at again.
NOT_READY_RETRY_S = 1.0


class ScenarioError(Exception):
    """A scenario file the fleet refuses; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float

    def draw(self, u: float) -> float:
        return self.low + (self.high - self.low) * u

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class Sessions:
    inter_arrival_s: Range | None = Range(5.0, 10.0)  # idle time between sessions, uniform in the range
    arrivals_per_hour: float | None = None  # or: Poisson arrivals per connector at this rate while it is free
    duration_s: Range = Range(20.0, 40.0)
    energy_wh: Range | None = None  # the EV leaves once this much is delivered (or at the end of duration_s)
    tag_first: float = 1.0  # shares of the ways a session starts (normalised)
    plug_first: float = 0.0
    # Plug in and wait: the central system must send RemoteStartTransaction (e.g. on the StatusNotification
    # Preparing); the fleet never asks for one. Without it the EV leaves after duration_s, no transaction.
    remote: float = 0.0


@dataclass(frozen=True, slots=True)
class IdTags:
    pool: int = 1000
    prefix: str = "TAG"
    unknown_share: float = 0.0  # tags the CSMS is not expected to know ("UNKNOWN-...")
    blocked_share: float = 0.0  # tags the CSMS is expected to block ("BLOCKED-...")


@dataclass(frozen=True, slots=True)
class Faults:
    per_hour: float = 0.0  # connector faults per station-hour (wall clock), drawn between sessions
    duration_s: Range = Range(30.0, 120.0)
    error_code: str = "GroundFailure"


@dataclass(frozen=True, slots=True)
class Drops:
    per_hour: float = 0.0  # network drops per station-hour (wall clock), drawn between sessions
    duration_s: Range = Range(5.0, 30.0)


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int | None = None
    sessions: Sessions = field(default_factory=Sessions)
    id_tags: IdTags = field(default_factory=IdTags)
    faults: Faults = field(default_factory=Faults)
    network: Drops = field(default_factory=Drops)
    configuration: Mapping[str, str] = field(default_factory=dict)  # OCPP key overrides for every station
    enabled: bool = True  # False: stations only boot, heartbeat and answer (no sessions)

    def mean_idle_s(self) -> float:
        s = self.sessions
        if s.arrivals_per_hour is not None:
            return 3600.0 / s.arrivals_per_hour if s.arrivals_per_hour > 0 else math.inf
        return s.inter_arrival_s.mean if s.inter_arrival_s is not None else math.inf


def _range(value: Any, where: str) -> Range:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ScenarioError(f"{where} must be [low, high] (two numbers)")
    low, high = float(value[0]), float(value[1])
    if low < 0 or high < low:
        raise ScenarioError(f"{where} = [{value[0]}, {value[1]}]: need 0 <= low <= high")
    return Range(low, high)


def _number(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ScenarioError(f"{where} must be a number")
    if value < 0 or not math.isfinite(value):
        raise ScenarioError(f"{where} = {value}: must be a finite number >= 0")
    return float(value)


def _table(cls: type[Any], raw: Any, name: str) -> Any:
    if not isinstance(raw, dict):
        raise ScenarioError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = known.get(key)
        if spec is None:
            raise ScenarioError(f"unknown scenario key {name}.{key} (known: {', '.join(sorted(known))})")
        where = f"{name}.{key}"
        kind = str(spec.type)
        if "Range" in kind:
            values[key] = _range(value, where)
        elif kind == "str":
            if not isinstance(value, str) or not value:
                raise ScenarioError(f"{where} must be a non-empty string")
            values[key] = value
        elif kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ScenarioError(f"{where} must be an integer >= 1")
            values[key] = value
        else:
            values[key] = _number(value, where)
    return cls(**values)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    known = {"seed", "sessions", "id_tags", "faults", "network", "configuration", "enabled"}
    for key in data:
        if key not in known:
            raise ScenarioError(f"unknown scenario key {key} (known: {', '.join(sorted(known))})")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ScenarioError("seed must be an integer")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ScenarioError("enabled must be true or false")
    sessions: Sessions = _table(Sessions, data.get("sessions", {}), "sessions")
    if "arrivals_per_hour" in data.get("sessions", {}) and "inter_arrival_s" not in data.get("sessions", {}):
        sessions = replace(sessions, inter_arrival_s=None)  # a rate given alone replaces the default range
    if sessions.tag_first + sessions.plug_first + sessions.remote <= 0:
        raise ScenarioError("sessions: tag_first + plug_first + remote must be > 0")
    id_tags: IdTags = _table(IdTags, data.get("id_tags", {}), "id_tags")
    if id_tags.unknown_share + id_tags.blocked_share > 1:
        raise ScenarioError("id_tags: unknown_share + blocked_share must be <= 1")
    faults: Faults = _table(Faults, data.get("faults", {}), "faults")
    if faults.error_code not in CHARGE_POINT_FAULT_CODES:
        # Else every fault of the run would be refused by the hardware, one by one (OCPP 1.6 §7.6).
        raise ScenarioError(
            f"faults.error_code {faults.error_code!r} is not an OCPP 1.6 ChargePointErrorCode"
            f" (one of {', '.join(sorted(CHARGE_POINT_FAULT_CODES))})"
        )
    configuration = data.get("configuration", {})
    if not isinstance(configuration, dict):
        raise ScenarioError("[configuration] must be a table")
    return Scenario(
        seed=seed,
        sessions=sessions,
        id_tags=id_tags,
        faults=faults,
        network=_table(Drops, data.get("network", {}), "network"),
        configuration={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in configuration.items()},
        enabled=enabled,
    )


def load_scenario(path: Path | None) -> Scenario:
    if path is None:
        return Scenario()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {path}: not valid TOML: {exc}") from None
    return parse_scenario(data)


class ScenarioRunner:
    """Moves every station of a fleet through the scenario: each connector of a station is a lane of its own (EVs
    arrive per connector), kept in the driver's `scenario_lanes`; the station's `scenario_at` is their earliest
    step."""

    __slots__ = ("_power_w", "_rand", "_shares", "_stats", "scenario")

    def __init__(
        self, scenario: Scenario, hardware: Hardware, rand: Callable[[SeededStation], float], stats: FleetStats
    ) -> None:
        self.scenario = scenario
        self._rand = rand
        self._stats = stats
        self._power_w = hardware.voltage_v * hardware.phases * min(hardware.max_current_a, hardware.ev_max_current_a)
        self._shares: dict[int, tuple[float, float]] = {}  # by lanes per station

    def _event_shares(self, lanes: int) -> tuple[float, float]:
        """The chances, per arrival on one of a station's `lanes`, of a fault and of a network drop that make
        `per_hour` a rate per hour of the station's time, sessions included (not per hour of idle time): each
        lane carries 1/lanes of the rates.

        Each arrival is one cycle: an idle period I, then a fault (F), a drop (D) or a session with its two steps
        (B), with shares p_f, p_d and the rest. The mean cycle is C = I + p_f·F + p_d·D + (1 − p_f − p_d)·B and
        the rates are r_f = p_f / C and r_d = p_d / C, hence C = (I + B) / (1 − r_f·(F − B) − r_d·(D − B)).
        Rates beyond what the cycles allow make every arrival a fault or a drop, in the ratio of the rates."""
        shares = self._shares.get(lanes)
        if shares is not None:
            return shares
        sc = self.scenario
        r_f, r_d = sc.faults.per_hour / 3600.0 / lanes, sc.network.per_hour / 3600.0 / lanes
        idle = sc.mean_idle_s()
        if r_f + r_d == 0 or not math.isfinite(idle):
            shares = (0.0, 0.0)
        else:
            b = self._mean_session_s() + 2 * STEP_S
            denominator = 1 - r_f * (sc.faults.duration_s.mean - b) - r_d * (sc.network.duration_s.mean - b)
            cycle = (idle + b) / denominator if denominator > 0 else math.inf
            p_fault, p_drop = r_f * cycle, r_d * cycle
            shares = (p_fault, p_drop) if p_fault + p_drop <= 1 else (r_f / (r_f + r_d), r_d / (r_f + r_d))
        self._shares[lanes] = shares
        return shares

    def _mean_session_s(self) -> float:
        """The mean of `_session_s`: the EV leaves at the end of duration_s or once energy_wh is in, if sooner."""
        s = self.scenario.sessions
        if s.energy_wh is None or self._power_w <= 0:
            return s.duration_s.mean
        points = [(k + 0.5) / _MEAN_GRID for k in range(_MEAN_GRID)]
        total = sum(
            min(s.duration_s.draw(u), s.energy_wh.draw(v) / self._power_w * 3600.0) for u in points for v in points
        )
        return total / _MEAN_GRID**2

    def begin(self, d: ScenarioStation, now: float) -> None:
        """Called once a station is Accepted: the first arrival of each idle connector is one idle period away."""
        if not self.scenario.enabled:
            return
        if not d.scenario_lanes:
            d.scenario_lanes = tuple(Lane(c.connector_id) for c in d.core.connectors)
        for lane in d.scenario_lanes:
            if lane.phase == IDLE and lane.at == math.inf:
                lane.at = now + self._idle(d)
        d.scenario_at = _earliest(d.scenario_lanes)

    def _idle(self, d: ScenarioStation) -> float:
        s = self.scenario.sessions
        u = self._rand(d)
        if s.arrivals_per_hour is not None:
            return math.inf if s.arrivals_per_hour <= 0 else -math.log(1.0 - u) * 3600.0 / s.arrivals_per_hour
        assert s.inter_arrival_s is not None
        return s.inter_arrival_s.draw(u)

    def _tag(self, d: ScenarioStation) -> str:
        t = self.scenario.id_tags
        u = self._rand(d)
        n = int(self._rand(d) * t.pool) + 1
        if u < t.unknown_share:
            return f"UNKNOWN-{n:05d}"
        if u < t.unknown_share + t.blocked_share:
            return f"BLOCKED-{n:05d}"
        return f"{t.prefix}-{n:05d}"

    def step(self, d: ScenarioStation, now: float) -> None:
        """The steps due on the station's lanes, in connector order (so a station's draws keep one order)."""
        if d.controls is None or not self.scenario.enabled:
            return
        for lane in d.scenario_lanes:
            if lane.at <= now:
                lane.at = math.inf
                self._step(d, lane, now)
        d.scenario_at = _earliest(d.scenario_lanes)

    def _step(self, d: ScenarioStation, lane: Lane, now: float) -> None:
        controls = d.controls
        assert controls is not None
        connector_id = lane.connector_id
        connector = d.core.connectors[connector_id - 1]
        phase = lane.phase
        try:
            if phase == IDLE:
                self._arrive(d, lane, now)
            elif phase == ARRIVED:
                # The second half of the arrival: the cable after the card, or the card after the cable.
                if lane.tag is not None:
                    if connector.plugged:
                        controls.present_id_tag(lane.tag, connector_id)
                    else:
                        controls.plug(d.core.now(), connector_id)
                lane.phase = CHARGING
                lane.at = now + self._session_s(d)
            elif phase == CHARGING:
                tx = connector.transaction
                if tx is not None:
                    controls.present_id_tag(tx.id_tag, connector_id)  # stop with the same card (reason Local)
                lane.phase = LEAVING
                lane.at = now + STEP_S
            elif phase == LEAVING:
                if connector.plugged:
                    controls.unplug(d.core.now(), connector_id, "both")
                self._rest(d, lane, now)
            elif phase == FAULTED:
                controls.set_fault(connector_id, None, None)
                self._rest(d, lane, now)
            elif phase == DROPPED:
                d.set_online(True)
                self._rest(d, lane, now)
        except ValueError:
            # The hardware refused (e.g. the cable is locked while the CSMS holds the transaction): try later.
            self._stats.errors["scenario-refused"] += 1
            self._rest(d, lane, now)

    def _rest(self, d: ScenarioStation, lane: Lane, now: float) -> None:
        lane.phase = IDLE
        lane.tag = None
        lane.at = now + self._idle(d)

    def _session_s(self, d: ScenarioStation) -> float:
        s = self.scenario.sessions
        duration = s.duration_s.draw(self._rand(d))
        if s.energy_wh is not None and self._power_w > 0:
            duration = min(duration, s.energy_wh.draw(self._rand(d)) / self._power_w * 3600.0)
        return duration

    def _arrive(self, d: ScenarioStation, lane: Lane, now: float) -> None:
        core = d.core
        if not core.online:
            lane.at = now + NOT_READY_RETRY_S
            return
        sc = self.scenario
        controls = d.controls
        assert controls is not None
        connector_id = lane.connector_id
        # Drawn once per idle period, with the chances that give the per station-hour rates (_event_shares).
        u = self._rand(d)
        p_fault, p_drop = self._event_shares(len(d.scenario_lanes))
        if u < p_fault:
            controls.set_fault(connector_id, sc.faults.error_code, None)
            lane.phase = FAULTED
            lane.at = now + sc.faults.duration_s.draw(self._rand(d))
            return
        if u < p_fault + p_drop:
            # The station's network, whichever connector drew it: its other sessions go on offline.
            d.set_online(False)
            lane.phase = DROPPED
            lane.at = now + sc.network.duration_s.draw(self._rand(d))
            return
        s = sc.sessions
        pick = self._rand(d) * (s.tag_first + s.plug_first + s.remote)
        connector = core.connectors[connector_id - 1]
        if pick < s.tag_first:
            lane.tag = self._tag(d)
            controls.present_id_tag(lane.tag, connector_id)
        elif pick < s.tag_first + s.plug_first:
            lane.tag = self._tag(d)
            if not connector.plugged:
                controls.plug(core.now(), connector_id)
        else:
            # Remote start: the EV is plugged in; the CSMS decides (RemoteStartTransaction) or nothing happens.
            lane.tag = None
            if not connector.plugged:
                controls.plug(core.now(), connector_id)
        lane.phase = ARRIVED
        lane.at = now + STEP_S


def _earliest(lanes: tuple[Lane, ...]) -> float:
    earliest = math.inf
    for lane in lanes:
        if lane.at < earliest:
            earliest = lane.at
    return earliest
