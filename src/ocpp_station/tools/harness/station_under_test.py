"""The system under test as the harness sees it: a power switch plus the control API's URL.

`InProcessStation` builds the real station (`runtime.StationRuntime`) in this process and serves it
through the real control API (`api.ControlApi`), so a case exercises exactly what a tester would: the
OCPP-J link from the outside, and the manual actions over HTTP.

The station modules are imported when first needed, not at import time, so that the harness itself
(and its own tests) can be imported while the station is being worked on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from ocpp_station.settings import StationSettings
from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.tools.harness.settings import FIXED_CABLE


class StationUnderTest(Protocol):
    """One Charge Point on the test bench.

    open() readies the bench (control API up, power still off); close() powers off if needed and stops
    everything open() started. power_on / power_off / power_cut are the OCTT manual actions
    "[Power cycle the Charge Point]" (TC_001), "[cut power]" (TC_032_x) and friends.
    """

    @property
    def control_url(self) -> str: ...

    @property
    def powered(self) -> bool: ...

    async def open(self) -> None: ...

    async def power_on(self) -> None: ...

    async def power_off(self) -> None: ...

    async def power_cut(self) -> None: ...

    async def power_failure_with_backup(self) -> None:
        """Mains lost on a station with a backup supply (OCTT TC_032_1): it ends its transactions
        (reason PowerLoss) and reports them while the backup lasts, then goes down."""
        ...

    async def close(self) -> None: ...


# (csms_url, data_dir) → a fresh station; the runner calls it once per case.
StationFactory = Callable[[str, Path], StationUnderTest]


class InProcessStation:
    """The real station in this process: one StationRuntime behind one ControlApi on 127.0.0.1."""

    def __init__(
        self,
        *,
        csms_url: str,
        charge_box_id: str,
        data_dir: Path,
        settings: StationSettings | None = None,
        config_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.csms_url = csms_url
        self.charge_box_id = charge_box_id
        self.data_dir = data_dir
        self.settings = settings
        self.config_overrides = dict(config_overrides or {})
        self._runtime: StationRuntime | None = None
        self._directory: DictStationDirectory | None = None
        self._api: ControlApi | None = None
        self._powered = False

    @property
    def control_url(self) -> str:
        if self._api is None:
            raise RuntimeError("InProcessStation.open() has not been called")
        return self._api.base_url

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def runtime(self) -> StationRuntime | None:
        return self._runtime

    async def open(self) -> None:
        if self._api is not None:
            return
        self._directory = DictStationDirectory()
        api = ControlApi(self._directory)
        await api.start("127.0.0.1", 0)
        self._api = api

    async def power_on(self) -> None:
        if self._powered:
            raise RuntimeError("the station is already powered on")
        await self.open()
        if self._runtime is None:
            # One runtime for the whole case: its simulated hardware (cable plugged, EV) survives a power
            # cycle just as the physical one does; start() after stop()/kill() is the next power-on.
            self._runtime = StationRuntime(
                csms_url=self.csms_url,
                charge_box_id=self.charge_box_id,
                data_dir=self.data_dir,
                settings=self.settings,
                config_overrides=self.config_overrides,
            )
        await self._runtime.start()
        self._powered = True
        assert self._directory is not None
        self._directory.add(self._runtime.station)

    async def power_off(self) -> None:
        """Graceful power-off."""
        runtime = self._switch_off()
        if runtime is not None:
            await runtime.stop()

    async def power_cut(self) -> None:
        """Power cut: the station stops at once; nothing more is sent or written."""
        runtime = self._switch_off()
        if runtime is not None:
            await runtime.kill()

    async def power_failure_with_backup(self) -> None:
        runtime = self._switch_off()
        if runtime is not None:
            await runtime.power_failure()

    async def close(self) -> None:
        try:
            await self.power_off()
        finally:
            api, self._api = self._api, None
            if api is not None:
                await api.stop()

    async def __aenter__(self) -> InProcessStation:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _switch_off(self) -> StationRuntime | None:
        if not self._powered or self._runtime is None:
            return None
        self._powered = False
        if self._directory is not None and self.charge_box_id in self._directory.ids():
            self._directory.remove(self.charge_box_id)
        return self._runtime


@runtime_checkable
class VariantStationFactory(Protocol):
    """A StationFactory that can also build the station in another hardware variant (settings.py:
    fixed cable or detachable cable), so that each case runs on the variant it applies to."""

    def __call__(self, csms_url: str, data_dir: Path) -> StationUnderTest: ...

    def for_hardware(self, variant: str) -> StationFactory: ...


class InProcessFactory:
    """Builds `InProcessStation`s with the given identity and settings; `for_hardware` gives the same
    station with a fixed or a detachable cable (the simulated hardware has both)."""

    def __init__(
        self,
        charge_box_id: str,
        *,
        settings: StationSettings | None = None,
        config_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.charge_box_id = charge_box_id
        self.settings = settings
        self.config_overrides = dict(config_overrides or {})

    def __call__(self, csms_url: str, data_dir: Path) -> StationUnderTest:
        return InProcessStation(
            csms_url=csms_url,
            charge_box_id=self.charge_box_id,
            data_dir=data_dir,
            settings=self.settings,
            config_overrides=self.config_overrides,
        )

    def for_hardware(self, variant: str) -> InProcessFactory:
        return InProcessFactory(
            self.charge_box_id,
            settings=settings_for_hardware(self.settings, variant),
            config_overrides=self.config_overrides,
        )

    def with_config(self, overrides: Mapping[str, str]) -> InProcessFactory:
        return InProcessFactory(
            self.charge_box_id, settings=self.settings, config_overrides={**self.config_overrides, **overrides}
        )


def settings_for_hardware(settings: StationSettings | None, variant: str) -> StationSettings:
    """`settings` with the cable of the hardware variant. UnlockConnectorOnEVSideDisconnect follows the
    cable: read-only false for a fixed one (errata v4.0 3.85), the detachable default otherwise."""
    base = settings if settings is not None else StationSettings()
    fixed = variant == FIXED_CABLE
    if base.hardware.fixed_cable == fixed:
        return base
    configuration = {k: v for k, v in base.configuration.items() if k != "UnlockConnectorOnEVSideDisconnect"}
    if fixed:
        configuration["UnlockConnectorOnEVSideDisconnect"] = "false"
    return replace(base, hardware=replace(base.hardware, fixed_cable=fixed), configuration=configuration)


def for_hardware(factory: StationFactory, variant: str) -> StationFactory | None:
    """The factory for that hardware variant, or None when the bench cannot change its hardware."""
    return factory.for_hardware(variant) if isinstance(factory, VariantStationFactory) else None


@runtime_checkable
class ConfigurableStationFactory(Protocol):
    """A StationFactory that can also build the station with configuration-key overrides (the station
    variant a case declares in `TestCase.config_overrides`, e.g. without the Reservation profile)."""

    def __call__(self, csms_url: str, data_dir: Path) -> StationUnderTest: ...

    def with_config(self, overrides: Mapping[str, str]) -> StationFactory: ...


def with_config(factory: StationFactory, overrides: Mapping[str, str]) -> StationFactory | None:
    """The factory for the station with those configuration overrides, or None when the bench cannot
    configure its station (nothing to do: the factory itself)."""
    if not overrides:
        return factory
    return factory.with_config(overrides) if isinstance(factory, ConfigurableStationFactory) else None


def in_process_factory(
    charge_box_id: str,
    *,
    settings: StationSettings | None = None,
    config_overrides: Mapping[str, str] | None = None,
) -> InProcessFactory:
    """A StationFactory building `InProcessStation`s with the given identity and settings."""
    return InProcessFactory(charge_box_id, settings=settings, config_overrides=config_overrides)
