"""What a station's driver and the scenario may ask of their fleet, as Protocols (engine.py implements them).

Kept apart so that the driver, the scenario and the engine do not import one another in a circle.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from ocpp_station.fleet.endpoints import Endpoint
from ocpp_station.fleet.file_jobs import FleetFileJobs
from ocpp_station.fleet.live import LiveWatches
from ocpp_station.fleet.stats import FleetStats
from ocpp_station.fleet.timers import SharedTimers
from ocpp_station.fleet.trace import FrameTrace
from ocpp_station.hardware.interfaces import SimulatorControls
from ocpp_station.station.hub import Station


class SeededStation(Protocol):
    """A station as the seeded draws see it: its number and how many draws it made from each sequence."""

    index: int
    draws: int
    jitter_draws: int


class Lane:
    """One connector's place in the scenario (its EVs arrive on their own): its phase, when its next step is due
    and the card of its session. Kept by the station's driver, moved by the scenario."""

    __slots__ = ("at", "connector_id", "phase", "tag")

    def __init__(self, connector_id: int) -> None:
        self.connector_id = connector_id
        self.phase = 0  # scenario.IDLE
        self.at = math.inf
        self.tag: str | None = None


class ScenarioStation(SeededStation, Protocol):
    """A station as the scenario drives it."""

    core: Station
    controls: SimulatorControls | None
    scenario_at: float  # the earliest of its lanes' steps (one deadline in the fleet's timers)
    scenario_lanes: tuple[Lane, ...]  # one per connector, from the first boot on
    manual: bool

    def set_online(self, online: bool) -> None: ...


class ScenarioSteps(Protocol):
    def begin(self, station: ScenarioStation, now: float) -> None: ...

    def step(self, station: ScenarioStation, now: float) -> None: ...


class ReadyStation(Protocol):
    def flush(self) -> None: ...


class FleetContext(Protocol):
    loop: asyncio.AbstractEventLoop
    stats: FleetStats
    timers: SharedTimers
    file_jobs: FleetFileJobs
    trace: FrameTrace | None
    live: LiveWatches
    running: bool

    @property
    def scenario(self) -> ScenarioSteps: ...

    def now(self) -> float: ...

    def endpoint(self, core: Station) -> Endpoint: ...

    def rand(self, station: SeededStation) -> float: ...

    def jitter(self, station: SeededStation) -> float: ...

    def reconnect_spread(self) -> float: ...

    def mark_ready(self, station: ReadyStation) -> None: ...

    def note_error(self, kind: str, message: str) -> None: ...

    def on_booted(self, station: ScenarioStation) -> None: ...

    def on_reset(self) -> None: ...

    def rebuild(self, charge_box_id: str, store: object, hardware: object) -> Station: ...
