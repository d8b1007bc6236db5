"""A station's hardware from the drivers its settings name, part by part.

`[hardware.<part>]` tables name a driver and carry its options:

    [hardware.bridge]            # one link serving parts of every connector (e.g. "mqtt")
    [hardware.board]             # the EVSE board; [[hardware.board]] once per connector on a multi-connector station
    [hardware.meter]             # likewise
    [hardware.lock]              # likewise (only a detachable cable has a lock)
    [hardware.rfid]              # one reader for the station

A connector's part comes from its own table, else from a bridge, else from the simulated driver, which the
caller configures (`simulated`: the options of each `*.simulated` driver). Every driver, the simulated ones
included, is found through the `ocpp_station.drivers` entry points: adding one needs no edit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ocpp_station.hardware.composed import ComposedConnector, ComposedStation
from ocpp_station.hardware.drivers import Bridge, ConnectorParts, Driver, load_driver
from ocpp_station.hardware.drivers.options import DriverError
from ocpp_station.hardware.interfaces import UNPLUG_SIDES, SimulatorControls
from ocpp_station.hardware.parts import AuthTokenProvider, ConnectorLock, EvseBoard, Fault, MeterPart
from ocpp_station.hardware.simulated_parts import SimulatedBoard, SimulatedLock, SimulatedMeter, SimulatedTokens

__all__ = ["PartsControls", "PartsHardware", "build_from_parts"]

PER_CONNECTOR = ("board", "meter", "lock")
# What each part's driver must offer beyond start()/stop() (the methods of its `hardware.parts` protocol).
_PART_METHODS = {
    "board": ("allow_power_on", "set_offered_current", "set_cp_callback", "set_fault_callback"),
    "meter": ("read", "set_fault_callback"),
    "lock": ("lock", "unlock"),
    "rfid": ("set_token_callback",),
}


@dataclass(frozen=True, slots=True)
class PartsHardware:
    station: ComposedStation
    controls: SimulatorControls | None  # None when no part is simulated: nothing to press
    drivers: tuple[Driver, ...]  # every driver once, in the order to start them


def _driver_table(where: str, table: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(table, Mapping):
        raise DriverError(f"{where} must be a table")
    options = dict(table)
    name = options.pop("driver", None)
    if not isinstance(name, str) or not name:
        raise DriverError(f'{where}: missing driver = "<name>"')
    return name, options


def _load(where: str, part: str, table: Mapping[str, Any], defaults: Mapping[str, Any]) -> Driver:
    name, options = _driver_table(where, table)
    if name == "simulated":
        options = {**defaults, **options}
    try:
        driver = load_driver(part, name, options)
    except DriverError as exc:
        raise DriverError(f"{where}: {exc}") from None
    missing = [m for m in _PART_METHODS.get(part, ()) if not callable(getattr(driver, m, None))]
    if missing:
        raise DriverError(f"{where}: driver {name!r} is not a {part} (it has no {missing[0]}())")
    return driver


def _per_connector(part: str, tables: Sequence[Mapping[str, Any]], connectors: int) -> list[tuple[str, Any]]:
    if len(tables) == 1 and connectors == 1:
        return [(f"hardware.{part}", tables[0])]
    if len(tables) != connectors:
        raise DriverError(
            f"hardware.{part}: the station has {connectors} connectors: give one [[hardware.{part}]] table each"
            f" (got {len(tables)})"
        )
    return [(f"hardware.{part}[{n}]", table) for n, table in enumerate(tables, start=1)]


def build_from_parts(
    *,
    connectors: int,
    fixed_cable: bool,
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    simulated: Mapping[str, Sequence[Mapping[str, Any]]],
) -> PartsHardware:
    """`simulated[part]`: the simulated driver's options, one per connector for board/meter/lock, one for rfid.
    Raises DriverError (one line naming the table) for anything wrong."""
    unknown = sorted(set(tables) - {*PER_CONNECTOR, "rfid", "bridge"})
    if unknown:
        raise DriverError(f"hardware.{unknown[0]}: unknown hardware part (known: board, bridge, lock, meter, rfid)")
    drivers: list[Driver] = []

    bridges: list[Bridge] = []
    for n, table in enumerate(tables.get("bridge", ())):
        where = "hardware.bridge" if len(tables["bridge"]) == 1 else f"hardware.bridge[{n + 1}]"
        bridge = _load(where, "bridge", table, {})
        if not isinstance(bridge, Bridge):
            raise DriverError(f"{where}: the driver has no connector_parts() / token_provider()")
        bridges.append(bridge)
        drivers.append(bridge)

    def from_bridges(connector_id: int) -> ConnectorParts:
        found = ConnectorParts()
        for bridge in bridges:
            try:
                parts = bridge.connector_parts(connector_id)
            except ValueError:
                continue  # this bridge does not serve that connector
            found = ConnectorParts(found.board or parts.board, found.meter or parts.meter, found.lock or parts.lock)
        return found

    explicit: dict[str, list[tuple[str, Any]]] = {
        part: _per_connector(part, tables[part], connectors) for part in PER_CONNECTOR if part in tables
    }

    def part_for(part: str, connector_id: int, bridged: object | None) -> Any:
        """The driver of `part` for a connector; Any because `_load` checked it has the part's methods."""
        if part in explicit:
            where, table = explicit[part][connector_id - 1]
        elif bridged is not None:
            return bridged
        else:
            where, table = f"hardware.{part} (default)", {"driver": "simulated"}
        driver = _load(where, part, table, simulated[part][connector_id - 1])
        drivers.append(driver)
        return driver

    composed: list[ComposedConnector] = []
    sim_boards: dict[int, SimulatedBoard] = {}
    sim_locks: dict[int, SimulatedLock] = {}
    for n in range(1, connectors + 1):
        bridged = from_bridges(n)
        board: EvseBoard = part_for("board", n, bridged.board)
        meter: MeterPart = part_for("meter", n, bridged.meter)
        lock: ConnectorLock | None = None if fixed_cable else part_for("lock", n, bridged.lock)
        if isinstance(meter, SimulatedMeter):
            if not isinstance(board, SimulatedBoard):
                raise DriverError(
                    f"hardware.meter: connector {n} has a real EVSE board: a simulated meter can only measure a"
                    " simulated one; name a meter driver"
                )
            meter.measure(board)
        if isinstance(board, SimulatedBoard):
            sim_boards[n] = board
        if isinstance(lock, SimulatedLock):
            sim_locks[n] = lock
        composed.append(ComposedConnector(n, board, meter, lock))

    tokens: AuthTokenProvider | None = None
    if "rfid" in tables:
        if len(tables["rfid"]) != 1:
            raise DriverError("hardware.rfid: a station has one [hardware.rfid] reader")
        reader = _load("hardware.rfid", "rfid", tables["rfid"][0], simulated["rfid"][0])
        drivers.append(reader)
        tokens = reader  # type: ignore[assignment]  # _load checked set_token_callback
    else:
        tokens = next((t for b in bridges if (t := b.token_provider()) is not None), None)
        if tokens is None:
            reader = _load("hardware.rfid (default)", "rfid", {"driver": "simulated"}, simulated["rfid"][0])
            drivers.append(reader)
            tokens = reader  # type: ignore[assignment]

    station = ComposedStation(composed, tokens)
    sim_tokens = tokens if isinstance(tokens, SimulatedTokens) else None
    controls = None
    if sim_boards or sim_locks or sim_tokens is not None:
        controls = PartsControls(connectors, sim_boards, sim_locks, sim_tokens)
    return PartsHardware(station, controls, tuple(drivers))


class PartsControls:
    """The control API's buttons over whichever parts are simulated; a real part answers ValueError."""

    def __init__(
        self,
        connectors: int,
        boards: Mapping[int, SimulatedBoard],
        locks: Mapping[int, SimulatedLock],
        tokens: SimulatedTokens | None,
    ) -> None:
        self._connectors = connectors
        self._boards = boards
        self._locks = locks
        self._tokens = tokens

    def _check(self, connector_id: int) -> None:
        if not 1 <= connector_id <= self._connectors:
            raise ValueError(f"no connector {connector_id}: this station has 1..{self._connectors}")

    def _board(self, connector_id: int) -> SimulatedBoard:
        self._check(connector_id)
        board = self._boards.get(connector_id)
        if board is None:
            raise ValueError(f"connector {connector_id} has a real EVSE board: only a real EV can do that")
        return board

    def _lock(self, connector_id: int) -> SimulatedLock:
        self._check(connector_id)
        lock = self._locks.get(connector_id)
        if lock is None:
            raise ValueError(f"connector {connector_id} has no simulated lock")
        return lock

    def plug(self, now: float, connector_id: int) -> None:
        board = self._board(connector_id)
        if board.plugged:
            raise ValueError(f"connector {connector_id} is already plugged in")
        board.plug(now)

    def unplug(self, now: float, connector_id: int, side: str) -> None:
        if side not in UNPLUG_SIDES:
            raise ValueError(f"unknown side {side!r}: expected one of {', '.join(UNPLUG_SIDES)}")
        board = self._board(connector_id)
        if not board.plugged:
            raise ValueError(f"connector {connector_id} is not plugged in")
        board.unplug(now)

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        if connector_id is not None:
            self._check(connector_id)
        if self._tokens is None:
            raise ValueError("the RFID reader is real hardware: hold a real card to it")
        self._tokens.present(id_tag, connector_id)

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        if connector_id == 0:
            raise ValueError("this hardware has no station-wide fault input")
        self._board(connector_id).set_fault(None if error_code is None else Fault(error_code, info))

    def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        self._lock(connector_id).fail_lock = failing

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        self._lock(connector_id).fail_unlock = failing

    def set_ev_suspended(self, now: float, connector_id: int, suspended: bool) -> None:
        self._board(connector_id).suspend(now, suspended)
