"""Hardware drivers, found through the `ocpp_station.drivers` entry-point group.

An entry point is named `<part>.<driver>` (e.g. `meter.modbus`) and points at a factory
`(options: Mapping[str, Any]) -> Driver`. A vendor ships drivers as a separate package declaring

    [project.entry-points."ocpp_station.drivers"]
    "meter.acme" = "acme_station.meter:create"

and `load_driver("meter", "acme", options)` finds it without any change to the station.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from ocpp_station.hardware.drivers.options import DriverError
from ocpp_station.hardware.parts import AuthTokenProvider, ConnectorLock, EvseBoard, MeterPart

ENTRY_POINT_GROUP = "ocpp_station.drivers"
# The parts of `hardware.parts`; a "bridge" drives several parts of several connectors over one link.
PARTS: tuple[str, ...] = ("board", "meter", "lock", "rfid", "bridge")

__all__ = [
    "ENTRY_POINT_GROUP",
    "PARTS",
    "Bridge",
    "ConnectorParts",
    "Driver",
    "DriverError",
    "available_drivers",
    "load_driver",
]


@runtime_checkable
class Driver(Protocol):
    """What every driver has beyond its parts: the lifecycle of its polling / IO tasks."""

    async def start(self) -> None:
        """Start the driver's tasks; returns once they run (not once the hardware answers)."""
        ...

    async def stop(self) -> None:
        """Stop the tasks and release the device; safe to call twice."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectorParts:
    """What a bridge drives of one connector; None leaves the part to another driver (or the simulated one)."""

    board: EvseBoard | None = None
    meter: MeterPart | None = None
    lock: ConnectorLock | None = None


@runtime_checkable
class Bridge(Driver, Protocol):
    """A `bridge` driver: one link serving parts of several connectors."""

    def connector_parts(self, connector_id: int) -> ConnectorParts:
        """The parts of connector `connector_id` (1-based); raises ValueError for a connector it does not serve."""
        ...

    def token_provider(self) -> AuthTokenProvider | None: ...


DriverFactory = Callable[[Mapping[str, Any]], Driver]


def _entry_points() -> dict[tuple[str, str], EntryPoint]:
    found: dict[tuple[str, str], EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        part, _, name = ep.name.partition(".")
        # First one wins, as importlib.metadata lists the earliest sys.path entry first.
        found.setdefault((part, name), ep)
    return found


def available_drivers(part: str) -> list[str]:
    """The driver names installed for `part`, sorted."""
    return sorted(name for (p, name) in _entry_points() if p == part)


def load_driver(part: str, name: str, options: Mapping[str, Any]) -> Driver:
    """Build driver `name` for `part` from its `options`; any problem is one `DriverError` line."""
    if part not in PARTS:
        raise DriverError(f"unknown hardware part {part!r} (known: {', '.join(PARTS)})")
    ep = _entry_points().get((part, name))
    if ep is None:
        known = ", ".join(available_drivers(part)) or "none installed"
        raise DriverError(f"unknown {part} driver {name!r} (known: {known})")
    try:
        factory: DriverFactory = ep.load()
    except Exception as exc:  # an entry point of a broken vendor package: say which, in one line
        raise DriverError(f"{part} driver {name!r} ({ep.value}) cannot be loaded: {exc}") from exc
    try:
        driver = factory(options)
    except DriverError as exc:
        raise DriverError(f"{part}.{name}: {exc}") from exc
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise DriverError(f"{part}.{name}: {exc}") from exc
    if not isinstance(driver, Driver):
        raise DriverError(f"{part} driver {name!r} ({ep.value}) did not return a driver with start() and stop()")
    return driver
