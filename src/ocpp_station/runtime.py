"""One station's runtime: store + configuration + hardware + core + link, and its power cycle.

`start` is power-on, `stop` a graceful power-off, `kill` a power cut (nothing more is written or sent),
`power_failure` a mains failure on backup power (transactions stopped and reported, then off),
and an accepted Reset really restarts the runtime so that the station boots again (OCPP 1.6 §5.14).
The hardware object outlives restarts: a cable plugged in during a reset is still plugged in after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .clock import Clock, SystemClock
from .configuration import Configuration, definitions_for
from .control import ControlError
from .file_jobs import FileJobRunner
from .file_transfer import FileTransfers
from .firmware_image import FirmwareInstaller
from .frame_events import FrameObserver
from .hardware.simulated import EvModel, SimulatedStation
from .link import Link
from .settings import StationSettings
from .station import Station
from .store import Store

log = logging.getLogger("ocpp_station.runtime")

# How long a reset waits for the StopTransaction messages to be delivered before restarting.
SOFT_RESET_DRAIN_S = 10.0
# How long the simulated backup supply keeps the station up after a mains failure (OCTT TC_032_1).
BACKUP_POWER_S = 10.0


def store_path(data_dir: Path, charge_box_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", charge_box_id)
    return data_dir / f"{safe}.sqlite"


class StationRuntime:
    def __init__(
        self,
        *,
        csms_url: str,
        charge_box_id: str,
        data_dir: Path,
        settings: StationSettings | None = None,
        config_overrides: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        trace: logging.Logger | None = None,
        transfers: FileTransfers | None = None,
        installer: FirmwareInstaller | None = None,
    ) -> None:
        self.csms_url = csms_url
        self._charge_box_id = charge_box_id
        self.data_dir = data_dir
        self.settings = settings or StationSettings()
        self.config_overrides = dict(config_overrides or {})
        self.clock = clock or SystemClock()
        self.trace = trace
        # Firmware Management's file jobs and the station log GetDiagnostics uploads (outlive restarts).
        self.file_jobs = FileJobRunner.for_runtime(
            work_dir=store_path(data_dir, charge_box_id).with_suffix(".files"),
            clock=self.clock,
            ca_file=self.settings.network.ca_file,
            trace=trace,
            transfers=transfers,
            installer=installer,
        )
        self.hardware: SimulatedStation | None = None
        self._core: Station | None = None
        self._store: Store | None = None
        self._link: Link | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._timer_wake = asyncio.Event()
        self._activity = asyncio.Event()
        self._reset_task: asyncio.Task[None] | None = None
        self.boots = 0
        self.restarted = asyncio.Event()
        # Shared with every Link this runtime builds, so observers outlive resets.
        self.frame_observers: list[FrameObserver] = []

    # -- power ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        store = Store(store_path(self.data_dir, self._charge_box_id))
        try:
            config = Configuration(
                store,
                {**self.settings.configuration, **self.config_overrides},
                definitions=definitions_for(fixed_cable=self.settings.hardware.fixed_cable),
            )
        except ValueError:
            store.close()
            raise
        if self.hardware is None:
            self.hardware = self._build_hardware(store)
        core = Station(
            charge_box_id=self._charge_box_id,
            settings=self.settings,
            configuration=config,
            store=store,
            clock=self.clock,
            hardware=self.hardware,
        )
        link = Link(core, self.csms_url, self.file_jobs.link_trace)
        link.frame_observers = self.frame_observers
        core.set_waker(self._wake)
        core.network_listener = link.set_online
        self._store, self._core, self._link = store, core, link
        self._timer_wake = asyncio.Event()
        core.start()
        self.boots += 1
        self.file_jobs.station_log.event(f"power on (boot {self.boots}), firmware {core.firmware_version()}")
        self._tasks = [asyncio.create_task(link.run()), asyncio.create_task(self._timer_loop(core))]

    def _build_hardware(self, store: Store) -> SimulatedStation:
        hw = self.settings.hardware
        registers = [float(store.get_meta(f"energy.{n}") or 0.0) for n in range(1, hw.connectors + 1)]
        return SimulatedStation(
            hw.connectors,
            fixed_cable=hw.fixed_cable,
            voltage_v=hw.voltage_v,
            phases=hw.phases,
            max_current_a=hw.max_current_a,
            ev=EvModel(
                max_current_a=hw.ev_max_current_a,
                phases=hw.phases,
                battery_capacity_wh=hw.ev_battery_wh,
                initial_soc_percent=hw.ev_initial_soc,
            ),
            initial_energy_wh=registers,
        )

    async def stop(self) -> None:
        if self._link is not None:
            await self._link.close()
        await self._halt()

    async def kill(self) -> None:
        if self._link is not None:
            self._link.abort()
        await self._halt()

    async def _halt(self) -> None:
        tasks, self._tasks = self._tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.file_jobs.cancel_all()
        if self._store is not None:
            self._store.close()
        self._store = None

    def _wake(self) -> None:
        self._timer_wake.set()
        self._activity.set()
        if self._link is not None:
            self._link.wake()

    async def _timer_loop(self, core: Station) -> None:
        while True:
            self._timer_wake.clear()
            core.tick()
            self.file_jobs.start_pending(core)
            if core.reset_request is not None:
                self._reset_task = asyncio.create_task(self._reset(core, core.reset_request))
                return
            deadline = core.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
            # with the event, and the power-off would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._timer_wake.wait()

    async def power_failure(self, backup_s: float = BACKUP_POWER_S) -> None:
        """Mains lost on a station with a backup supply (OCTT TC_032_1): end every transaction (reason
        PowerLoss), report it while the backup lasts, then go down (a graceful power-off)."""
        core = self._core
        if core is not None and self._tasks:
            core.core.power_failure()
            await self._drain(core, backup_s)
        await self.stop()

    async def _drain(self, core: Station, limit_s: float) -> None:
        """Let the queued transaction messages (and the statuses before them) out while online, up to limit_s."""
        # Every result the station processes wakes it (Station.wake), so wait on that, not on a clock.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while core.store.queue_length() and core.online:
                    self._activity.clear()
                    await self._activity.wait()

    async def _reset(self, core: Station, kind: str) -> None:
        if core.online:
            # Either kind: "SHALL send a StopTransaction.req for any ongoing transaction before performing the
            # reset" (OCPP 1.6 §5.14), i.e. let them out first; one cut off in flight would come again after
            # the reboot, a second StopTransaction for the Central System (OCTT TC_015).
            await self._drain(core, SOFT_RESET_DRAIN_S)
        log.info("%s: %s reset: restarting", self._charge_box_id, kind)
        if kind == "Soft" and self._link is not None:
            # A soft reset restarts the software: it closes the link normally (1000). A hard reset is a
            # hardware restart: the connection just drops, as _halt leaves it.
            await self._link.close()
        await self._halt()
        await self.start()
        self.restarted.set()

    async def wait_first_connection(self, timeout: float) -> str | None:
        """None once connected; otherwise the first connection error (or a timeout note)."""
        link = self._link
        assert link is not None
        try:
            async with asyncio.timeout(timeout):
                await link.first_attempt.wait()
        except TimeoutError:
            return f"no connection within {timeout:.0f} s"
        return None if link.connected_once.is_set() else link.last_error

    # -- ControlledStation (delegates to the current core, which a reset replaces) -------------------------
    @property
    def core(self) -> Station:
        if self._core is None:
            raise ControlError(409, f"station {self._charge_box_id} is not running")
        return self._core

    @property
    def station(self) -> StationRuntime:
        return self

    @property
    def charge_box_id(self) -> str:
        return self._charge_box_id

    def state(self) -> dict[str, Any]:
        return self.core.state()

    def plug(self, connector_id: int) -> None:
        self.core.plug(connector_id)

    def unplug(self, connector_id: int, side: str = "both") -> None:
        self.core.unplug(connector_id, side)

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self.core.present_id_tag(id_tag, connector_id)

    def set_online(self, online: bool) -> None:
        self.core.set_online(online)

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        self.core.set_fault(connector_id, error_code, info)

    def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        self.core.set_lock_failure(connector_id, failing)

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        self.core.set_unlock_failure(connector_id, failing)

    def set_ev_suspended(self, connector_id: int, suspended: bool) -> None:
        self.core.set_ev_suspended(connector_id, suspended)

    def set_local_list_failure(self, failing: bool) -> None:
        self.core.set_local_list_failure(failing)
