"""A station inside a running fleet as the harness's system under test (issue 11: conformance inside a fleet).

`FleetStation` takes one station of a running `Fleet` off the fleet's central system and puts it on the
harness's `ScriptedCsms` for the length of a case: the same driver, shared timer heap, shared schemas and
memory store as its neighbours, which go on with their own workload meanwhile. Its power switch is the
driver's (`StationDriver.power_on` builds a new core over the same store and hardware, as a power cycle
does); its manual actions go through the real control API, served for that one station of the fleet. At
`close()` the station goes back to the fleet's central system.

A case that needs a configured or provisioned station (the Security cases: a SecurityProfile, an
AuthorizationKey, installed roots, an enrolled Charge Point certificate) gets it the way a fleet station would
have it from its manufacturer: the configuration keys and what the bench provisioned into the case's data
directory (`runner._provision`, as for a single station) are put into the renewed station's store and key store
before it is powered on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

from ocpp_station.fleet.driver import StationDriver
from ocpp_station.fleet.engine import Fleet
from ocpp_station.fleet.web import FleetDirectory
from ocpp_station.shell.api import ControlApi
from ocpp_station.shell.control import ControlledStation
from ocpp_station.shell.provisioning import key_store
from ocpp_station.shell.runtime import store_path
from ocpp_station.station.ports import Store
from ocpp_station.stores.sqlite import SqliteStore
from ocpp_station.tools.harness.station_under_test import StationUnderTest


class _OneStation:
    """`StationDirectory` of one station of the fleet (the short `/api/...` routes reach it)."""

    def __init__(self, fleet: Fleet, charge_box_id: str) -> None:
        self._fleet = FleetDirectory(fleet)
        self._id = charge_box_id

    def get(self, charge_box_id: str) -> ControlledStation | None:
        return self._fleet.get(charge_box_id) if charge_box_id == self._id else None

    def ids(self) -> list[str]:
        return [self._id]

    def default(self) -> ControlledStation | None:
        return self._fleet.get(self._id)


class FleetStation:
    """One station of a running fleet, talking to `csms_url` while the harness holds it."""

    def __init__(
        self,
        fleet: Fleet,
        charge_box_id: str,
        csms_url: str,
        *,
        data_dir: Path | None = None,
        config_overrides: Mapping[str, str] | None = None,
    ) -> None:
        driver = fleet.by_id.get(charge_box_id)
        if driver is None:
            raise ValueError(f"no station {charge_box_id!r} in the fleet")
        self.fleet = fleet
        self.driver: StationDriver = driver
        self.charge_box_id = charge_box_id
        self.csms_url = csms_url
        self.data_dir = data_dir
        self.config_overrides = dict(config_overrides or {})
        self._api: ControlApi | None = None
        self._powered = False

    @property
    def control_url(self) -> str:
        if self._api is None:
            raise RuntimeError("FleetStation.open() has not been called")
        return self._api.base_url

    @property
    def powered(self) -> bool:
        return self._powered

    async def open(self) -> None:
        if self._api is not None:
            return
        api = ControlApi(_OneStation(self.fleet, self.charge_box_id))
        await api.start("127.0.0.1", 0)
        self._api = api
        # Off the fleet: no scenario step touches it while the case runs, and its power is the harness's.
        driver = self.driver
        driver.manual = True
        driver.scenario_at = float("inf")
        driver.scenario_lanes = ()  # back in the fleet, the new unit's connectors start idle
        driver.power_off(graceful=True)
        # Each case starts from a new station, as the in-process bench's new data directory gives it.
        self.fleet.renew(self.charge_box_id)
        self._provision()
        self.fleet.redirect(self.charge_box_id, self.csms_url)

    def _provision(self) -> None:
        store = cast(Store, self.driver.store)
        for key, value in self.config_overrides.items():
            store.save_config(key, value)
        if self.data_dir is None:
            return
        provisioned = store_path(self.data_dir, self.charge_box_id)
        if provisioned.exists():
            source = SqliteStore(provisioned)
            try:
                for record in source.certificates():
                    store.put_certificate(record)
            finally:
                source.close()
        files = key_store(self.data_dir, self.charge_box_id)
        chain = files.certificate_chain()
        if chain is not None:
            self.fleet.keys(self.charge_box_id).install(chain, files.key_path.read_bytes())

    async def power_on(self) -> None:
        if self._powered:
            raise RuntimeError("the station is already powered on")
        await self.open()
        self.driver.power_on()
        self._powered = True

    async def power_off(self) -> None:
        if self._powered:
            self._powered = False
            self.driver.power_off(graceful=True)

    async def power_cut(self) -> None:
        if self._powered:
            self._powered = False
            self.driver.power_off(graceful=False)

    async def power_failure_with_backup(self) -> None:
        # A fleet station has no backup supply to simulate: mains lost is a power cut (OCTT TC_032_1 is run
        # against the in-process station).
        await self.power_cut()

    async def close(self) -> None:
        await self.power_off()
        api, self._api = self._api, None
        if api is None:
            return
        try:
            await api.stop()
        finally:
            # Back to the fleet's central system and its workload, as a new unit: what the case configured and
            # queued (a SecurityProfile, certificates, messages) was for the bench's central system only.
            self.fleet.redirect(self.charge_box_id, None)
            self.fleet.renew(self.charge_box_id)
            self.driver.manual = False
            self.driver.power_on()


class FleetStationFactory:
    """`StationFactory` handing out one station of a running fleet per case. Configuration variants are set in
    the station's store (`with_config`); hardware variants are not applicable (a fleet's stations share one
    hardware build)."""

    def __init__(self, fleet: Fleet, charge_box_id: str, config_overrides: Mapping[str, str] | None = None) -> None:
        self.fleet = fleet
        self.charge_box_id = charge_box_id
        self.config_overrides = dict(config_overrides or {})

    def __call__(self, csms_url: str, data_dir: Path) -> StationUnderTest:
        return FleetStation(
            self.fleet, self.charge_box_id, csms_url, data_dir=data_dir, config_overrides=self.config_overrides
        )

    def with_config(self, overrides: Mapping[str, str]) -> FleetStationFactory:
        return FleetStationFactory(self.fleet, self.charge_box_id, {**self.config_overrides, **overrides})
