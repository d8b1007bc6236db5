"""The composition root: the one place where a station is put together from its parts.

The single-station runtime, the tests, the conformance harness and the fleet all build stations here.
Which hardware a station gets is chosen from its settings (`[hardware] driver`, and a driver per part in
`[hardware.<part>]` tables, found through the `ocpp_station.drivers` entry points); which store, by the caller
(SQLite for a charger, in-memory for unit tests and load-test fleets). Neither choice touches the station or
its profiles: they see only the ports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ocpp_station.clock import Clock
from ocpp_station.hardware.drivers import Driver
from ocpp_station.hardware.drivers.options import DriverError
from ocpp_station.hardware.drivers.station_builder import build_from_parts
from ocpp_station.hardware.interfaces import SimulatorControls, StationHardware
from ocpp_station.hardware.simulated import EvModel, SimulatedControls, SimulatedStation
from ocpp_station.settings import Hardware, SettingsError, StationSettings
from ocpp_station.station.configuration import Configuration, definitions_for
from ocpp_station.station.hub import Station
from ocpp_station.station.ports import KeyStore, Store
from ocpp_station.stores.memory import MemoryKeyStore

__all__ = ["HARDWARE_DRIVERS", "BuiltHardware", "assemble", "build_hardware"]


@dataclass(frozen=True, slots=True)
class BuiltHardware:
    station: StationHardware
    controls: SimulatorControls | None  # None for real hardware: nobody can plug it in through the API
    # Drivers with I/O tasks, started and stopped with the station's power (the runtime does it).
    drivers: tuple[Driver, ...] = ()


def _simulated(settings: Hardware, store: Store) -> BuiltHardware:
    # The meter registers carry on from where the store left them: energy never goes backwards over a restart.
    registers = [float(store.get_meta(f"energy.{n}") or 0.0) for n in range(1, settings.connectors + 1)]
    if settings.parts:
        return _from_parts(settings, registers)
    station = SimulatedStation(
        settings.connectors,
        fixed_cable=settings.fixed_cable,
        voltage_v=settings.voltage_v,
        phases=settings.phases,
        max_current_a=settings.max_current_a,
        ev=EvModel(
            max_current_a=settings.ev_max_current_a,
            phases=settings.phases,
            battery_capacity_wh=settings.ev_battery_wh,
            initial_soc_percent=settings.ev_initial_soc,
        ),
        initial_energy_wh=registers,
    )
    return BuiltHardware(station, SimulatedControls(station))


def _from_parts(settings: Hardware, registers: list[float]) -> BuiltHardware:
    """The parts named in [hardware.<part>] tables; every other part simulated as the [hardware] keys say."""
    board: dict[str, Any] = {
        "max_current_a": settings.max_current_a,
        "voltage_v": settings.voltage_v,
        "phases": settings.phases,
        "ev_max_current_a": settings.ev_max_current_a,
        "ev_phases": settings.phases,
        "ev_battery_wh": settings.ev_battery_wh,
        "ev_initial_soc": settings.ev_initial_soc,
    }
    try:
        built = build_from_parts(
            connectors=settings.connectors,
            fixed_cable=settings.fixed_cable,
            tables=settings.parts,
            simulated={
                "board": [board] * settings.connectors,
                "meter": [{"energy_wh": energy} for energy in registers],
                "lock": [{}] * settings.connectors,
                "rfid": [{}],
            },
        )
    except DriverError as exc:
        raise SettingsError(str(exc)) from None
    return BuiltHardware(built.station, built.controls, built.drivers)


HardwareFactory = Callable[[Hardware, Store], BuiltHardware]

HARDWARE_DRIVERS: Mapping[str, HardwareFactory] = {"simulated": _simulated}


def build_hardware(settings: Hardware, store: Store) -> BuiltHardware:
    factory = HARDWARE_DRIVERS.get(settings.driver)
    if factory is None:
        known = ", ".join(sorted(HARDWARE_DRIVERS))
        raise SettingsError(f"hardware.driver {settings.driver!r} is unknown (known: {known})")
    return factory(settings, store)


def assemble(
    *,
    charge_box_id: str,
    settings: StationSettings,
    store: Store,
    hardware: StationHardware,
    clock: Clock,
    config_overrides: Mapping[str, str] | None = None,
    keys: KeyStore | None = None,
) -> Station:
    """A station ready to `start()`; raises ValueError for a configuration value the registry refuses.

    `keys`: where the Charge Point's key pair and certificate live (`stores.key_files.FileKeyStore` for a
    charger); in memory when not given."""
    configuration = Configuration(
        store,
        {**settings.configuration, **(config_overrides or {})},
        definitions=definitions_for(fixed_cable=settings.hardware.fixed_cable),
    )
    return Station(
        charge_box_id=charge_box_id,
        settings=settings,
        configuration=configuration,
        store=store,
        clock=clock,
        hardware=hardware,
        keys=keys if keys is not None else MemoryKeyStore(),
    )
