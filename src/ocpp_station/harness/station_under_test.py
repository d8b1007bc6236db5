"""The system under test as the harness sees it: a power switch plus the control API's URL.

`InProcessStation` builds the real station (`runtime.StationRuntime`) in this process and serves it
through the real control API (`api.ControlApi`), so a case exercises exactly what a tester would: the
OCPP-J link from the outside, and the manual actions over HTTP.

The station modules are imported when first needed, not at import time, so that the harness itself
(and its own tests) can be imported while the station is being worked on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..api import ControlApi, DictStationDirectory
    from ..runtime import StationRuntime
    from ..settings import StationSettings


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
        from ..api import ControlApi, DictStationDirectory

        self._directory = DictStationDirectory()
        api = ControlApi(self._directory)
        await api.start("127.0.0.1", 0)
        self._api = api

    async def power_on(self) -> None:
        if self._powered:
            raise RuntimeError("the station is already powered on")
        await self.open()
        if self._runtime is None:
            from ..runtime import StationRuntime

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


def in_process_factory(
    charge_box_id: str,
    *,
    settings: StationSettings | None = None,
    config_overrides: Mapping[str, str] | None = None,
) -> StationFactory:
    """A StationFactory building `InProcessStation`s with the given identity and settings."""

    def make(csms_url: str, data_dir: Path) -> StationUnderTest:
        return InProcessStation(
            csms_url=csms_url,
            charge_box_id=charge_box_id,
            data_dir=data_dir,
            settings=settings,
            config_overrides=config_overrides,
        )

    return make
