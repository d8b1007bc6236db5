"""The asyncio shell of Firmware Management: runs the core's file jobs and reports their outcome back.

`FileJobRunner.start_pending(core)` takes every job `core.firmware.next_job()` hands out and runs it as a
task: downloads and uploads through the injected `FileTransfers`, installation through the injected
`FirmwareInstaller`, diagnostics archives from the runtime's `StationLog`. The outcome goes back into the
same core (`job_succeeded` / `job_failed`); a restart cancels the tasks of the core it replaces.
Files live in one work directory per station: downloaded images (removed once installed or refused) and
diagnostics archives (removed after each upload attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from ocpp_station.clock import Clock, iso_utc
from ocpp_station.security.firmware_signature import SignatureStatus, verify_signature
from ocpp_station.security.pki import PemError, parse_certificate
from ocpp_station.shell.diagnostics import StationLog, build_archive, build_security_archive, trace_tap
from ocpp_station.shell.file_transfer import FileTransfers, NetworkFileTransfers, TransferError
from ocpp_station.shell.firmware_image import FirmwareInstaller, ImageError, SimulatedInstaller
from ocpp_station.station.hub import Station
from ocpp_station.station.profiles.firmware_management import FileJob, JobKind, LogKind

log = logging.getLogger("ocpp_station.file_jobs")


class FileJobRunner:
    def __init__(
        self, *, work_dir: Path, transfers: FileTransfers, installer: FirmwareInstaller, station_log: StationLog
    ) -> None:
        self.work_dir = work_dir
        self.transfers = transfers
        self.installer = installer
        self.station_log = station_log
        self._tasks: set[asyncio.Task[None]] = set()
        self.link_trace = logging.getLogger("ocpp_station.trace")

    @classmethod
    def for_runtime(
        cls,
        *,
        work_dir: Path,
        clock: Clock,
        ca_file: str | None,
        trace: logging.Logger | None,
        transfers: FileTransfers | None,
        installer: FirmwareInstaller | None,
    ) -> FileJobRunner:
        """The runner of one StationRuntime; `link_trace` is the logger to give its Link (it feeds the log)."""
        station_log = StationLog(clock)
        runner = cls(
            work_dir=work_dir,
            transfers=transfers or NetworkFileTransfers(ca_file=ca_file),
            installer=installer or SimulatedInstaller(),
            station_log=station_log,
        )
        runner.link_trace = trace_tap(trace or logging.getLogger("ocpp_station.trace"), station_log)
        return runner

    def start_pending(self, core: Station) -> list[asyncio.Task[None]]:
        """Start every job the core hands out; the tasks started (a fleet follows them to drop an idle runner)."""
        started = []
        while (job := core.firmware.next_job()) is not None:
            task = asyncio.create_task(self._run(core, job), name=f"{core.charge_box_id}-{job.kind}-{job.job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel every job without waiting: no outcome reaches the core any more; each task removes its files
        at its next step. Returns the cancelled tasks."""
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        return tasks

    async def cancel_all(self) -> None:
        for task in self.cancel():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, core: Station, job: FileJob) -> None:
        what = f"{job.kind} {job.location or job.image}".strip()
        self.station_log.event(f"{what}: started")
        try:
            result = await self._perform(core, job)
        except (TransferError, ImageError) as exc:
            self.station_log.event(f"{what}: failed: {exc}")
            core.firmware.job_failed(job.job_id, str(exc))
        except Exception as exc:
            log.exception("%s: %s failed unexpectedly", core.charge_box_id, what)
            self.station_log.event(f"{what}: failed: {type(exc).__name__}")
            core.firmware.job_failed(job.job_id, f"internal error: {type(exc).__name__}")
        else:
            self.station_log.event(f"{what}: done {result}".rstrip())
            core.firmware.job_succeeded(job.job_id, result)

    async def _perform(self, core: Station, job: FileJob) -> str:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if job.kind == JobKind.DOWNLOAD:
            image = self.work_dir / f"firmware-{job.job_id}.fwi"
            for stale in self.work_dir.glob("firmware-*.fwi"):  # images of superseded updates
                with contextlib.suppress(OSError):
                    stale.unlink()
            await self.transfers.download(job.location, image)
            return str(image)
        if job.kind == JobKind.VERIFY:
            return await self._verify(job)
        if job.kind == JobKind.INSTALL:
            image = Path(job.image)
            try:
                return await self.installer.install(image)
            finally:
                with contextlib.suppress(OSError):
                    image.unlink()
        # One directory per job: two GetDiagnostics in the same second share a file name, and their archives
        # clobbered each other (found by fuzzing). The uploaded file keeps the name the .conf announced.
        archive = self.work_dir / f"upload-{job.job_id}" / job.file_name
        archive.parent.mkdir(exist_ok=True)
        try:
            if job.log_kind is LogKind.SECURITY:
                records = core.security_log.entries(job.start_time, job.stop_time)
                await asyncio.to_thread(
                    build_security_archive, archive, records, _station_info(core), job.start_time, job.stop_time
                )
            else:
                entries = self.station_log.entries(job.start_time, job.stop_time)
                await asyncio.to_thread(
                    build_archive, archive, entries, _station_info(core), job.start_time, job.stop_time
                )
            await self.transfers.upload(job.location, archive)
        finally:
            with contextlib.suppress(OSError):
                archive.unlink()
            with contextlib.suppress(OSError):
                archive.parent.rmdir()
        return job.file_name

    async def _verify(self, job: FileJob) -> str:
        """L01.FR.04: the signature over the whole downloaded file; an image that fails is deleted at once."""
        image = Path(job.image)
        try:
            certificate = parse_certificate(job.certificate)
            verdict = await asyncio.to_thread(verify_signature, image, job.signature, certificate)
        except (PemError, OSError) as exc:
            verdict_reason: str | None = f"cannot verify: {exc}"
        else:
            verified = verdict.status is SignatureStatus.SIGNATURE_VERIFIED
            verdict_reason = None if verified else verdict.reason
        if verdict_reason is not None:
            with contextlib.suppress(OSError):
                image.unlink()
            raise ImageError(verdict_reason)
        return "signature verified"


def _station_info(core: Station) -> dict[str, Any]:
    ident = core.settings.identity
    return {
        "chargeBoxId": core.charge_box_id,
        "vendor": ident.vendor,
        "model": ident.model,
        "serialNumber": ident.serial_number,
        "firmwareVersion": core.firmware_version(),
        "generatedAt": iso_utc(core.now()),
        "state": core.state(),
    }
