"""Firmware Management's file jobs for a whole fleet: downloads, signature checks, installations, uploads.

The single-station runtime gives each station a `shell.file_jobs.FileJobRunner` for its whole life. A fleet
holds thousands of stations per process, and almost all of them never see a file job, so here a station gets a
runner (with its `StationLog` and its work directory) when the core hands out its first job, and loses it again
when its last job has ended: while no job runs, a station has no task, no file and no object here. What the
stations share is built once: the transfers (FTP/FTPS/HTTP/HTTPS), the installer, and one work directory per
process (`<root>/<station>/`), made at the first job and removed when the fleet stops.

A job reports its outcome into the core that handed it out. A reset or a power-off replaces that core; it
cancels the station's jobs first (`cancel`), as the runtime's restart does, so no outcome of an old job reaches
the old core after it or the new core at all (the new core numbers its jobs from 1 again).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from ocpp_station.fleet.trace import FrameTrace, TracedStationLog
from ocpp_station.shell.diagnostics import StationLog
from ocpp_station.shell.file_jobs import FileJobRunner
from ocpp_station.shell.file_transfer import FileTransfers
from ocpp_station.shell.firmware_image import FirmwareInstaller
from ocpp_station.station.hub import Station


class JobOwner(Protocol):
    """A station as its file jobs see it: its current core, and whom to tell when one of its jobs ended."""

    core: Station

    @property
    def charge_box_id(self) -> str: ...

    def on_file_job_ended(self) -> None: ...


def station_dir_name(charge_box_id: str) -> str:
    """A station's directory name under a fleet's directory (its file jobs', its key files')."""
    # No dots either: an id never names a directory above the fleet's. An id that had to be changed carries a
    # digest of itself, so that two ids never share a directory ("CP.1" and "CP_1").
    name = re.sub(r"[^A-Za-z0-9_-]", "_", charge_box_id)
    if name != charge_box_id:
        name += "-" + hashlib.sha256(charge_box_id.encode()).hexdigest()[:12]
    return name


class FleetFileJobs:
    """The running file jobs of one fleet process, by station; empty while no station has a job."""

    def __init__(
        self,
        *,
        root: Path | None,
        transfers: FileTransfers,
        installer: FirmwareInstaller,
        trace: FrameTrace | None = None,
    ) -> None:
        self._configured_root = root  # None: a temporary directory, made at the first job
        self._trace = trace  # the fleet's frame trace, for the diagnostics archives (None: none kept)
        self._root: Path | None = None
        self.transfers = transfers
        self.installer = installer
        self._runners: dict[str, FileJobRunner] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # every job task until it has ended, cancelled ones too

    @property
    def stations(self) -> list[str]:
        """The stations with a runner, i.e. with a job running."""
        return list(self._runners)

    @property
    def tasks(self) -> int:
        """Job tasks not ended yet (a cancelled one counts until it has removed its files)."""
        return len(self._tasks)

    @property
    def work_dir(self) -> Path | None:
        """The process's work directory once a job has needed it."""
        return self._root

    def start(self, owner: JobOwner) -> None:
        """Start the jobs the owner's core hands out."""
        core = owner.core
        charge_box_id = owner.charge_box_id
        runner = self._runners.get(charge_box_id)
        if runner is None:
            runner = FileJobRunner(
                work_dir=self._station_dir(charge_box_id),
                transfers=self.transfers,
                installer=self.installer,
                station_log=(
                    StationLog(core.clock)
                    if self._trace is None
                    else TracedStationLog(core.clock, self._trace, charge_box_id)
                ),
            )
            self._runners[charge_box_id] = runner
        for task in runner.start_pending(core):
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._ended, owner, charge_box_id, runner))

    def cancel(self, charge_box_id: str) -> None:
        """The station's core is replaced (reset, power-off): its jobs end without an outcome."""
        runner = self._runners.pop(charge_box_id, None)
        if runner is not None:
            runner.cancel()

    def _ended(self, owner: JobOwner, charge_box_id: str, runner: FileJobRunner, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._runners.get(charge_box_id) is not runner:
            return  # cancelled: the core it reported to is gone
        if not runner.busy:
            del self._runners[charge_box_id]
            with contextlib.suppress(OSError):
                # Empty unless a downloaded image waits for its installation (the next job's, then).
                runner.work_dir.rmdir()
        owner.on_file_job_ended()

    def _station_dir(self, charge_box_id: str) -> Path:
        if self._root is None:
            if self._configured_root is None:
                self._root = Path(tempfile.mkdtemp(prefix="ocpp-fleet-files-"))
            else:
                self._configured_root.mkdir(parents=True, exist_ok=True)
                self._root = self._configured_root
        return self._root / station_dir_name(charge_box_id)

    def close(self) -> None:
        """At the fleet's stop: every job cancelled, the work directory removed (nothing in it outlives the run:
        an interrupted update starts over with a new download after the next boot)."""
        for runner in self._runners.values():
            runner.cancel()
        self._runners.clear()
        root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
