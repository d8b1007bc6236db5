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
import math
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from ocpp_station.assemble import BuiltHardware, assemble, build_hardware
from ocpp_station.clock import Clock, SystemClock
from ocpp_station.hardware.drivers import Driver
from ocpp_station.hardware.drivers.options import DriverError
from ocpp_station.hardware.interfaces import SimulatorControls
from ocpp_station.settings import SettingsError, StationSettings
from ocpp_station.shell.control import ControlError
from ocpp_station.shell.file_jobs import FileJobRunner
from ocpp_station.shell.file_transfer import FileTransfers
from ocpp_station.shell.firmware_image import FirmwareInstaller
from ocpp_station.shell.frame_events import FrameObserver
from ocpp_station.shell.link import Link
from ocpp_station.shell.station_control import StationControl
from ocpp_station.station.hub import Station
from ocpp_station.station.ports import Store
from ocpp_station.stores.key_files import FileKeyStore
from ocpp_station.stores.memory import MemoryKeyStore, MemoryStore
from ocpp_station.stores.sqlite import SqliteStore

log = logging.getLogger("ocpp_station.runtime")

# How long a reset waits for the StopTransaction messages to be delivered before restarting.
SOFT_RESET_DRAIN_S = 10.0
# How long the simulated backup supply keeps the station up after a mains failure (OCTT TC_032_1).
BACKUP_POWER_S = 10.0
# How often the free disk space where the store lives is measured (queue_limits.py: StorageLow).
DISK_CHECK_INTERVAL_S = 5.0


# "sqlite": one durable file per station (survives a power cut); "memory": nothing survives the process, for
# load-test fleets that want neither a file nor an fsync per station.
StoreKind = Literal["sqlite", "memory"]


def store_path(data_dir: Path, charge_box_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", charge_box_id)
    return data_dir / f"{safe}.sqlite"


class StationRuntime(StationControl):
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
        store: StoreKind = "sqlite",
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
        self.hardware: BuiltHardware | None = None
        self._drivers_running = False
        self._core: Station | None = None
        self.store_kind: StoreKind = store
        self._store: Store | None = None
        self._memory_store: MemoryStore | None = None  # outlives restarts, as a file would
        # The Charge Point's key pair and certificate (security whitepaper A02.FR.05: owner-only files next to
        # the store); a memory station keeps them in memory and cannot use security profile 3.
        self.key_files: FileKeyStore | None = (
            FileKeyStore(store_path(data_dir, charge_box_id).with_suffix(".keys")) if store == "sqlite" else None
        )
        self._memory_keys = MemoryKeyStore()
        # Free bytes where the store lives; a test replaces it to simulate a full disk.
        self.free_disk: Callable[[], int] = lambda: shutil.disk_usage(self.data_dir).free
        self._disk_checked_at = -math.inf
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
        store = self._open_store()
        try:
            if self.hardware is None:
                self.hardware = build_hardware(self.settings.hardware, store)
            await self._start_drivers(self.hardware)
            core = assemble(
                charge_box_id=self._charge_box_id,
                settings=self.settings,
                store=store,
                hardware=self.hardware.station,
                clock=self.clock,
                config_overrides=self.config_overrides,
                keys=self.key_files if self.key_files is not None else self._memory_keys,
            )
        except Exception:
            store.close()
            await self._stop_drivers()
            raise
        link = Link(core, self.csms_url, self.file_jobs.link_trace, key_files=self.key_files)
        link.frame_observers = self.frame_observers
        core.set_waker(self._wake)
        self._store, self._core, self._link = store, core, link
        self._disk_checked_at = -math.inf
        self._timer_wake = asyncio.Event()
        core.start()
        self.boots += 1
        self.file_jobs.station_log.event(f"power on (boot {self.boots}), firmware {core.firmware_version()}")
        self._tasks = [asyncio.create_task(link.run()), asyncio.create_task(self._timer_loop(core))]

    async def _start_drivers(self, hardware: BuiltHardware) -> None:
        """The drivers' I/O runs with the station's power; a reset restarts the software only, so they carry on
        (a cable plugged in during a reset is still plugged in after it)."""
        if self._drivers_running:
            return
        started: list[Driver] = []
        try:
            for driver in hardware.drivers:
                await driver.start()
                started.append(driver)
        except DriverError as exc:
            for driver in reversed(started):
                await driver.stop()
            raise SettingsError(str(exc)) from None
        self._drivers_running = True

    async def _stop_drivers(self) -> None:
        hardware = self.hardware
        if not self._drivers_running or hardware is None:
            return
        self._drivers_running = False
        for driver in reversed(hardware.drivers):
            try:
                await driver.stop()
            except Exception:  # one broken driver must not keep the others' devices open at power-off
                log.exception("%s: driver %s did not stop cleanly", self._charge_box_id, type(driver).__name__)

    def _open_store(self) -> Store:
        if self.store_kind == "sqlite":
            return SqliteStore(store_path(self.data_dir, self._charge_box_id))
        if self._memory_store is None:
            self._memory_store = MemoryStore()
        return self._memory_store

    async def stop(self) -> None:
        if self._link is not None:
            await self._link.close()
        await self._halt()
        await self._stop_drivers()

    async def kill(self) -> None:
        if self._link is not None:
            self._link.abort()
        await self._halt()
        await self._stop_drivers()

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
            self._check_disk(core)
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

    def _check_disk(self, core: Station) -> None:
        now = self.clock.monotonic()
        if now - self._disk_checked_at < DISK_CHECK_INTERVAL_S:
            return
        self._disk_checked_at = now
        try:
            free: int | None = self.free_disk()
        except OSError:
            free = None
        core.on_free_disk(free)

    async def power_failure(self, backup_s: float = BACKUP_POWER_S) -> None:
        """Mains lost on a station with a backup supply (OCTT TC_032_1): end every transaction (reason
        PowerLoss), report it while the backup lasts, then go down (a graceful power-off)."""
        core = self._core
        if core is not None and self._tasks:
            core.core.power_failure()
            await self._drain(core, backup_s)
        await self.stop()

    async def drain(self, limit_s: float) -> None:
        """Before a graceful power-off (SIGTERM): let what is queued leave while online, up to limit_s."""
        core = self._core
        if core is not None and self._tasks:
            await self._drain(core, limit_s)

    async def _drain(self, core: Station, limit_s: float) -> None:
        """Let what is queued out while online, up to limit_s: the transaction messages and what they caused (the
        statuses after a StopTransaction, OCTT TC_016 step 5)."""
        # Every result the station processes wakes it (Station.wake), so wait on that, not on a clock.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while core.has_messages_to_send() and core.online:
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

    # -- ControlledStation (StationControl, over the current core, which a reset replaces) ----------------
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

    def current_station(self) -> Station:
        return self.core

    def simulator_controls(self) -> SimulatorControls | None:
        return None if self.hardware is None else self.hardware.controls

    def set_network(self, online: bool) -> None:
        if self._link is not None:
            self._link.set_online(online)
