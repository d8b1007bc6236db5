"""The Firmware Management profile: UpdateFirmware and GetDiagnostics (OCPP 1.6 §4.4, §4.5, §5.9, §5.19).

Pure state machines, driven by the clock and by the outcome of file jobs. The core never touches the
network or a file: it hands out `FileJob`s (download an image, install it, upload a diagnostics archive),
the runtime runs them (`file_jobs.py`: asyncio tasks over `file_transfer.py`) and reports back with
`job_succeeded` / `job_failed`. Core tests complete jobs by hand.

Firmware (TC_044_1/2/3): UpdateFirmware.conf → [wait for retrieveDate] → Downloading → (retries, each after
retryInterval) → Downloaded | DownloadFailed. A downloaded image is installed as soon as no transaction runs;
meanwhile every connector is Unavailable (errata 3.49; a running transaction keeps its status until it ends).
Installing → the installer checks the image → InstallationFailed (connectors back to their own availability) or
the new version is stored (meta `firmware_version`, what BootNotification reports) and the station restarts
like a Soft reset; after the next accepted BootNotification and the StatusNotifications it sends Installed.
The request survives restarts (meta `firmware.update`): an interrupted update starts over after the boot.

Diagnostics (TC_045_1/2): GetDiagnostics.conf names the file → Uploading → (retries) → Uploaded | UploadFailed.

Signed firmware (security whitepaper L01, OCTT TC_080/TC_081): SignedUpdateFirmware checks the signing certificate
against the ManufacturerRootCertificates before it answers (L01.FR.23/24: InvalidCertificate and the
InvalidFirmwareSigningCertificate event); the same machine then reports through SignedFirmwareStatusNotification
with the request's requestId (L01.FR.10), and between Downloaded and Installing a VERIFY job checks the signature
over the whole downloaded file: SignatureVerified, or InvalidSignature plus the InvalidFirmwareSignature event,
and the image is never installed (L01.FR.03/04). installDateTime in the future: InstallScheduled (L01.FR.16).

Logs (security whitepaper N01, OCTT TC_079): GetLog uploads the DiagnosticsLog (the GetDiagnostics archive) or
the SecurityLog like GetDiagnostics does, reporting through LogStatusNotification with the requestId (N01.FR.07);
a new GetLog cancels the upload in progress and is AcceptedCanceled (N01.FR.11).

`station.firmware_status` / `station.diagnostics_status` say what is in progress for TriggerMessage; both are
Idle again once an outcome was reported, since Idle SHALL only be sent when nothing is in progress (§4.4, §4.5).
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.security.certificates import CertificateStore, CertificateUse
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.firmware_signature import CertificateStatus, verify_signing_certificate
from ocpp_station.station.contract import CallRejected, Handler, StationContext
from ocpp_station.station.outbox import Payload
from ocpp_station.station.ports import Store
from ocpp_station.station.security_log import SecurityLog

log = logging.getLogger("ocpp_station.firmware")

# When UpdateFirmware / GetDiagnostics leave them out, the station decides (OCPP 1.6 §6.25, §6.55).
DEFAULT_RETRIES = 3
DEFAULT_RETRY_INTERVAL_S = 60
# Installing waits for FirmwareStatusNotification(Installing) to be answered before the restart can cut the
# link, but no longer than this (offline the update goes on).
INSTALLING_NOTICE_GRACE_S = 10.0
SCHEMES = ("ftp", "ftps", "http", "https")  # SupportedFileTransferProtocols
META_UPDATE = "firmware.update"
META_REPORT = "firmware.report"
META_UPDATED_EVENT = "firmware.updated_event"  # a signed update was installed: FirmwareUpdated after the boot
_FW_TIMER = "firmware"
_DIAG_TIMER = "diagnostics"
_LOG_TIMER = "log-upload"


class JobKind(StrEnum):
    DOWNLOAD = "download"  # location → a local image; success result: the image's path (opaque to the core)
    VERIFY = "verify"  # image, signature, certificate → success when the signature verifies (L01.FR.04)
    INSTALL = "install"  # image → success result: the firmware version the station runs after its restart
    UPLOAD = "upload"  # a diagnostics archive named file_name, for the window start..stop, to location


class LogKind(StrEnum):
    """What an UPLOAD job packs (GetDiagnostics and GetLog DiagnosticsLog: the station log; §6.13)."""

    DIAGNOSTICS = "DiagnosticsLog"
    SECURITY = "SecurityLog"


@dataclass(frozen=True, slots=True)
class FileJob:
    job_id: int
    kind: JobKind
    location: str = ""
    image: str = ""
    file_name: str = ""
    start_time: float | None = None
    stop_time: float | None = None
    log_kind: LogKind = LogKind.DIAGNOSTICS
    signature: str = ""  # VERIFY: FirmwareType.signature (base64)
    certificate: str = ""  # VERIFY: FirmwareType.signingCertificate (PEM), already checked against the roots


class _Phase(StrEnum):
    SCHEDULED = "scheduled"  # waiting for retrieveDate or for the next retry
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"  # signed firmware: the VERIFY job is out
    INSTALL_SCHEDULED = "install-scheduled"  # signed firmware: waiting for installDateTime (L01.FR.16)
    WAITING_IDLE = "waiting-idle"  # downloaded; connectors held Unavailable until no transaction runs
    ANNOUNCING = "announcing"  # Installing sent, waiting for its answer
    INSTALLING = "installing"  # install job out


@dataclass(slots=True)
class _Update:
    location: str
    retrieve_at: float
    retries: int
    retry_interval: float
    attempts: int = 0
    phase: _Phase = _Phase.SCHEDULED
    job_id: int | None = None
    image: str = ""
    request_id: int | None = None  # SignedUpdateFirmware: reported in every notification (L01.FR.10)
    signature: str = ""
    certificate: str = ""
    install_at: float | None = None


@dataclass(slots=True)
class _Upload:
    location: str
    file_name: str
    retries: int
    retry_interval: float
    start: float | None
    stop: float | None
    attempts: int = 0
    job_id: int | None = None
    request_id: int | None = None  # GetLog: reported in every LogStatusNotification (N01.FR.07)
    kind: LogKind = LogKind.DIAGNOSTICS


def _supported(location: str) -> bool:
    try:
        return urlsplit(location).scheme.lower() in SCHEMES
    except ValueError:  # e.g. "ftp://[::1" (found by fuzzing: it crashed the link after the .conf)
        return False


def _retries(req: Payload) -> tuple[int, float]:
    # Errata v4.0 3.50: `retries` counts retries, so retries=0 is a single attempt (OCTT TC_044_2, TC_045_2).
    retries = req.get("retries")
    interval = req.get("retryInterval")
    return (
        DEFAULT_RETRIES if retries is None else max(0, int(retries)),
        float(DEFAULT_RETRY_INTERVAL_S if interval is None else max(0, int(interval))),
    )


class FirmwareManagement:
    def __init__(
        self, station: StationContext, store: Store, *, certificates: CertificateStore, security_log: SecurityLog
    ) -> None:
        self.st = station
        self.store = store
        self.certificates = certificates
        self.security_log = security_log
        # Handed out by next_job(); a shell that runs many stations tests it for emptiness (no call per message).
        self.jobs: deque[FileJob] = deque()
        self._next_job_id = 0
        self._update: _Update | None = None
        self._upload: _Upload | None = None
        self._log_upload: _Upload | None = None
        self._holding = False  # connectors set Unavailable for an installation
        # What ExtendedTriggerMessage reports (L01.FR.28/29): the last SignedFirmwareStatusNotification sent.
        self.signed_status: tuple[str, int | None] = ("Idle", None)
        self._resume()

    def handlers(self) -> dict[str, Handler]:
        return {
            "UpdateFirmware": self.update_firmware,
            "GetDiagnostics": self.get_diagnostics,
            "SignedUpdateFirmware": self.signed_update_firmware,
            "GetLog": self.get_log,
        }

    def log_status(self) -> tuple[str, int | None]:
        """What ExtendedTriggerMessage(LogStatusNotification) reports: Uploading with the requestId, or Idle
        without one when no upload is in progress (N01.FR.12)."""
        upload = self._log_upload
        return ("Idle", None) if upload is None else ("Uploading", upload.request_id)

    # -- the shell's side: jobs out, outcomes in ------------------------------------------------------------
    def next_job(self) -> FileJob | None:
        return self.jobs.popleft() if self.jobs else None

    def job_succeeded(self, job_id: int, result: str = "") -> None:
        update, upload = self._update, self._upload
        if update is not None and update.job_id == job_id:
            update.job_id = None
            if update.phase == _Phase.DOWNLOADING:
                self._downloaded(update, result)
            elif update.phase == _Phase.VERIFYING:
                self._verified(update)
            elif update.phase == _Phase.INSTALLING:
                self._installed(update, result)
        elif upload is not None and upload.job_id == job_id:
            self._upload = None
            self._diagnostics_outcome("Uploaded")
        elif self._log_upload is not None and self._log_upload.job_id == job_id:
            finished = self._log_upload
            self._log_upload = None
            self._log_status("Uploaded", finished)
        else:
            log.debug("%s: outcome of superseded job %d ignored", self.st.charge_box_id, job_id)
        self.st.wake()

    def job_failed(self, job_id: int, reason: str) -> None:
        update, upload = self._update, self._upload
        if update is not None and update.job_id == job_id:
            update.job_id = None
            log.warning("%s: firmware %s failed: %s", self.st.charge_box_id, update.phase, reason)
            if update.phase == _Phase.DOWNLOADING:
                self._download_failed(update)
            elif update.phase == _Phase.VERIFYING:
                # L01.FR.03: InvalidSignature and the security event; the image is never installed.
                self._finish_update("InvalidSignature")
                self.security_log.record(SecurityEvent.INVALID_FIRMWARE_SIGNATURE, reason)
            elif update.phase == _Phase.INSTALLING:
                self._finish_update("InstallationFailed")
        elif self._log_upload is not None and self._log_upload.job_id == job_id:
            log_upload = self._log_upload
            log_upload.job_id = None
            log.warning("%s: log upload failed: %s", self.st.charge_box_id, reason)
            if log_upload.attempts <= log_upload.retries:
                self.st.timers.arm(_LOG_TIMER, self.st.mono() + log_upload.retry_interval, self._log_upload_attempt)
            else:
                self._log_upload = None
                self._log_status("UploadFailure", log_upload)
        elif upload is not None and upload.job_id == job_id:
            upload.job_id = None
            log.warning("%s: diagnostics upload failed: %s", self.st.charge_box_id, reason)
            if upload.attempts <= upload.retries:
                self.st.timers.arm(_DIAG_TIMER, self.st.mono() + upload.retry_interval, self._upload_attempt)
            else:
                self._upload = None
                self._diagnostics_outcome("UploadFailed")
        self.st.wake()

    def _queue_job(self, job: FileJob) -> int:
        self.jobs.append(job)
        self.st.wake()
        return job.job_id

    def _new_job_id(self) -> int:
        self._next_job_id += 1
        return self._next_job_id

    # -- hooks from the station -------------------------------------------------------------------------------
    def on_accepted(self) -> None:
        """After a boot: report how the installation that caused it ended (TC_044_1 step 13)."""
        updated = self.store.get_meta(META_UPDATED_EVENT)
        if updated:
            # §8 FirmwareUpdated (critical), once the new firmware runs: after the BootNotification (TC_080 step 13).
            self.store.set_meta(META_UPDATED_EVENT, "")
            self.security_log.record(SecurityEvent.FIRMWARE_UPDATED, f"firmware {updated}")
        report = self.store.get_meta(META_REPORT)
        if report:
            status, _, request = report.partition(":")
            self._send_report(status, int(request) if request else None)

    def on_facts_changed(self) -> None:
        """Connector facts changed (e.g. a transaction ended): an installation may be able to begin."""
        update = self._update
        if update is not None and update.phase == _Phase.WAITING_IDLE and not self._busy():
            self._announce(update)

    # -- UpdateFirmware ---------------------------------------------------------------------------------------
    def update_firmware(self, req: Payload) -> Payload:
        if self.certificates.trust_anchors(CertificateUse.MANUFACTURER_ROOT):
            # Security whitepaper L01.FR.20. Only once a ManufacturerRootCertificate is installed: from then on an
            # unsigned image must not get in by the old door; before, a plain OCPP 1.6 Central System keeps it.
            raise CallRejected(ErrorCode.NOT_SUPPORTED, "only SignedUpdateFirmware is supported (L01.FR.20)")
        try:
            retrieve_at = parse_iso(req["retrieveDate"])
        except ValueError:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "retrieveDate is not a date-time") from None
        current = self._update
        if current is not None and current.phase in (_Phase.ANNOUNCING, _Phase.INSTALLING):
            # UpdateFirmware.conf has no status: an installation under way is not interrupted.
            log.warning("%s: UpdateFirmware ignored: an installation is under way", self.st.charge_box_id)
            return {}
        retries, interval = _retries(req)
        update = _Update(req["location"], retrieve_at, retries, interval)
        self._persist(update)
        self.st.defer(lambda: self._replace(update))
        return {}

    def _replace(self, update: _Update) -> None:
        if self._update is not None:
            log.info("%s: a new UpdateFirmware supersedes the one in progress", self.st.charge_box_id)
            self._release_connectors()
        self._update = update
        self._schedule(update)

    def _persist(self, update: _Update) -> None:
        record = {
            "location": update.location,
            "retrieveAt": update.retrieve_at,
            "retries": update.retries,
            "retryInterval": update.retry_interval,
        }
        if update.request_id is not None:
            record.update(
                requestId=update.request_id,
                signature=update.signature,
                certificate=update.certificate,
                installAt=update.install_at,
            )
        self.store.set_meta(META_UPDATE, json.dumps(record))

    def _resume(self) -> None:
        """An update a restart interrupted starts over (not before its retrieveDate)."""
        raw = self.store.get_meta(META_UPDATE)
        if not raw:
            return
        try:
            record = json.loads(raw)
            update = _Update(
                str(record["location"]),
                float(record["retrieveAt"]),
                int(record["retries"]),
                float(record["retryInterval"]),
            )
            if record.get("requestId") is not None:
                update.request_id = int(record["requestId"])
                update.signature = str(record["signature"])
                update.certificate = str(record["certificate"])
                update.install_at = None if record.get("installAt") is None else float(record["installAt"])
        except (ValueError, KeyError, TypeError):
            log.warning("%s: unreadable pending firmware update dropped", self.st.charge_box_id)
            self.store.set_meta(META_UPDATE, "")
            return
        log.info("%s: resuming the firmware update from %s", self.st.charge_box_id, update.location)
        self._update = update
        self._schedule(update)

    def _schedule(self, update: _Update) -> None:
        update.phase = _Phase.SCHEDULED
        delay = max(0.0, update.retrieve_at - self.st.now())
        self.st.timers.arm(_FW_TIMER, self.st.mono() + delay, lambda: self._retrieve_due(update))

    def _retrieve_due(self, update: _Update) -> None:
        if update is not self._update:
            return
        early = update.retrieve_at - self.st.now()
        if early > 0:  # the central system moved the clock back meanwhile
            self.st.timers.arm(_FW_TIMER, self.st.mono() + early, lambda: self._retrieve_due(update))
            return
        self._download_attempt(update)

    def _download_attempt(self, update: _Update) -> None:
        if update is not self._update:
            return
        if not _supported(update.location):
            log.warning("%s: cannot download %r: unsupported protocol", self.st.charge_box_id, update.location)
            self._finish_update("DownloadFailed")
            return
        update.attempts += 1
        if update.attempts == 1:
            self._firmware_status("Downloading")
        update.phase = _Phase.DOWNLOADING
        update.job_id = self._queue_job(FileJob(self._new_job_id(), JobKind.DOWNLOAD, location=update.location))

    def _download_failed(self, update: _Update) -> None:
        if update.attempts <= update.retries:
            update.phase = _Phase.SCHEDULED
            self.st.timers.arm(
                _FW_TIMER, self.st.mono() + update.retry_interval, lambda: self._download_attempt(update)
            )
        else:
            self._finish_update("DownloadFailed")

    def _downloaded(self, update: _Update, image: str) -> None:
        update.image = image
        self._firmware_status("Downloaded")
        if update.request_id is not None:
            # L01.FR.04: the signature over the whole downloaded file, before anything else happens with it.
            update.phase = _Phase.VERIFYING
            job = FileJob(
                self._new_job_id(),
                JobKind.VERIFY,
                image=image,
                signature=update.signature,
                certificate=update.certificate,
            )
            update.job_id = self._queue_job(job)
            return
        self._await_idle(update)

    def _verified(self, update: _Update) -> None:
        self._firmware_status("SignatureVerified")
        early = None if update.install_at is None else update.install_at - self.st.now()
        if early is not None and early > 0:
            # L01.FR.16: InstallScheduled, then install at installDateTime (L01.FR.17).
            update.phase = _Phase.INSTALL_SCHEDULED
            self._firmware_status("InstallScheduled")
            self.st.timers.arm(_FW_TIMER, self.st.mono() + early, lambda: self._install_due(update))
            return
        self._await_idle(update)

    def _install_due(self, update: _Update) -> None:
        if update is self._update and update.phase == _Phase.INSTALL_SCHEDULED:
            self._await_idle(update)

    def _await_idle(self, update: _Update) -> None:
        update.phase = _Phase.WAITING_IDLE
        self._hold_connectors()  # refresh_status → on_facts_changed: announces at once when nothing runs
        self.on_facts_changed()
        if update.phase == _Phase.WAITING_IDLE:
            log.info("%s: firmware downloaded; installing once the transactions end", self.st.charge_box_id)

    def _busy(self) -> bool:
        return any(c.transaction is not None for c in self.st.connectors)

    def _hold_connectors(self) -> None:
        # Errata 3.49: connectors not in use are Unavailable while the installation waits; a running
        # transaction keeps its status, its connector turns Unavailable when it ends. Not persisted: after
        # the restart (or a failure) every connector is back to the availability the store holds.
        self._holding = True
        for c in self.st.connectors:
            c.inoperative = True
            c.authorization = None
        self.st.refresh_status()

    def _release_connectors(self) -> None:
        if not self._holding:
            return
        self._holding = False
        for c in self.st.connectors:
            c.inoperative = self.store.get_meta(f"inoperative.{c.connector_id}") == "1"
        self.st.refresh_status()

    def _announce(self, update: _Update) -> None:
        update.phase = _Phase.ANNOUNCING
        self._firmware_status("Installing", lambda _: self._install(update), lambda _: self._install(update))
        self.st.timers.arm(_FW_TIMER, self.st.mono() + INSTALLING_NOTICE_GRACE_S, lambda: self._install(update))

    def _install(self, update: _Update) -> None:
        if update is not self._update or update.phase != _Phase.ANNOUNCING:
            return
        self.st.timers.cancel(_FW_TIMER)
        if self._busy():  # a transaction slipped in (e.g. a connector made Operative meanwhile)
            update.phase = _Phase.WAITING_IDLE
            self._hold_connectors()
            return
        update.phase = _Phase.INSTALLING
        update.job_id = self._queue_job(FileJob(self._new_job_id(), JobKind.INSTALL, image=update.image))

    def _installed(self, update: _Update, version: str) -> None:
        st = self.st
        report = "Installed" if update.request_id is None else f"Installed:{update.request_id}"
        with self.store.atomic():
            self.store.set_meta("firmware_version", version)
            self.store.set_meta(META_REPORT, report)
            self.store.set_meta(META_UPDATE, "")
            if update.request_id is not None:
                self.store.set_meta(META_UPDATED_EVENT, version)
        self._update = None
        log.info("%s: firmware %s installed; restarting", st.charge_box_id, version)
        # Like a Soft reset: the runtime lets the transaction-related queue drain, then boots again.
        st.reset_request = "Soft"
        st.wake()

    def _finish_update(self, outcome: str) -> None:
        update = self._update
        self.st.timers.cancel(_FW_TIMER)
        self.store.set_meta(META_UPDATE, "")
        self._update = None
        self._release_connectors()
        self._firmware_status(outcome, request_id=None if update is None else update.request_id)
        self.st.firmware_status = "Idle"

    def _firmware_status(
        self,
        status: str,
        on_result: Callable[[Payload], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        *,
        request_id: int | None = None,
    ) -> None:
        update = self._update
        if request_id is None and update is not None:
            request_id = update.request_id
        action, payload = self._status_message(status, request_id)
        if request_id is None:
            self.st.firmware_status = status
        self.st.send(action, payload, on_result, on_failure)

    def _send_report(self, report: str, request_id: int | None) -> None:
        def delivered(_: Payload) -> None:
            self.store.set_meta(META_REPORT, "")

        def lost(reason: str) -> None:
            if reason == "disconnected":
                self._send_report(report, request_id)  # the outbox holds it until the link is back
            else:
                log.warning("%s: firmware status %s not accepted", self.st.charge_box_id, report)
                self.store.set_meta(META_REPORT, "")

        action, payload = self._status_message(report, request_id)
        self.st.send(action, payload, delivered, lost)

    def _status_message(self, status: str, request_id: int | None) -> tuple[str, Payload]:
        if request_id is None:
            return "FirmwareStatusNotification", {"status": status}
        self.signed_status = (status, request_id)
        return "SignedFirmwareStatusNotification", {"status": status, "requestId": request_id}

    # -- SignedUpdateFirmware (security whitepaper L01) -------------------------------------------------------
    def signed_update_firmware(self, req: Payload) -> Payload:
        firmware = req["firmware"]
        try:
            retrieve_at = parse_iso(firmware["retrieveDateTime"])
            install_at = parse_iso(firmware["installDateTime"]) if "installDateTime" in firmware else None
        except ValueError:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "a date-time is not a date-time") from None
        # L01.FR.23/24: the signing certificate is checked against the ManufacturerRootCertificates first.
        roots = self.certificates.trust_anchors(CertificateUse.MANUFACTURER_ROOT)
        verdict = verify_signing_certificate(firmware["signingCertificate"], roots, now=self.st.now())
        if verdict.status is CertificateStatus.INVALID_CERTIFICATE:
            reason = verdict.reason
            self.st.defer(lambda: self.security_log.record(SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE, reason))
            return {"status": "InvalidCertificate"}
        current = self._update
        if current is not None and current.phase in (_Phase.ANNOUNCING, _Phase.INSTALLING):
            return {"status": "Rejected"}  # L01.FR.27: an installation under way cannot be cancelled
        retries, interval = _retries(req)
        update = _Update(
            firmware["location"],
            retrieve_at,
            retries,
            interval,
            request_id=int(req["requestId"]),
            signature=firmware["signature"],
            certificate=firmware["signingCertificate"],
            install_at=install_at,
        )
        self._persist(update)
        self.st.defer(lambda: self._replace(update))
        # L01.FR.26: a new request cancels the update in progress.
        return {"status": "AcceptedCanceled" if current is not None else "Accepted"}

    # -- GetLog (security whitepaper N01) ----------------------------------------------------------------------
    def get_log(self, req: Payload) -> Payload:
        parameters = req["log"]
        try:
            start = parse_iso(parameters["oldestTimestamp"]) if "oldestTimestamp" in parameters else None
            stop = parse_iso(parameters["latestTimestamp"]) if "latestTimestamp" in parameters else None
        except ValueError:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "a timestamp is not a date-time") from None
        kind = LogKind(req["logType"])
        retries, interval = _retries(req)
        name = self._file_name("security-log" if kind is LogKind.SECURITY else "diagnostics")
        upload = _Upload(
            parameters["remoteLocation"],
            name,
            retries,
            interval,
            start,
            stop,
            request_id=int(req["requestId"]),
            kind=kind,
        )
        cancelled = self._log_upload is not None

        def begin() -> None:
            previous = self._log_upload
            if previous is not None:
                # N01.FR.11: the upload in progress is cancelled; a late outcome of its job is ignored.
                log.info("%s: a new GetLog cancels the upload in progress", self.st.charge_box_id)
                self.st.timers.cancel(_LOG_TIMER)
            self._log_upload = upload
            self._log_upload_attempt()

        self.st.defer(begin)
        return {"status": "AcceptedCanceled" if cancelled else "Accepted", "filename": name}

    def _log_upload_attempt(self) -> None:
        upload = self._log_upload
        if upload is None:
            return
        if not _supported(upload.location):
            log.warning("%s: cannot upload to %r: unsupported protocol", self.st.charge_box_id, upload.location)
            self._log_upload = None
            self._log_status("NotSupportedOperation", upload)  # N01.FR.10: as precise as possible
            return
        upload.attempts += 1
        if upload.attempts == 1:
            self._log_status("Uploading", upload)  # N01.FR.08
        upload.job_id = self._queue_upload(upload)

    def _queue_upload(self, upload: _Upload) -> int:
        """The file job of one upload attempt: GetDiagnostics' archive or a GetLog log (the upload's kind)."""
        job = FileJob(
            self._new_job_id(),
            JobKind.UPLOAD,
            location=upload.location,
            file_name=upload.file_name,
            start_time=upload.start,
            stop_time=upload.stop,
            log_kind=upload.kind,
        )
        return self._queue_job(job)

    def _log_status(self, status: str, upload: _Upload) -> None:
        if status != "Uploading":
            self.st.timers.cancel(_LOG_TIMER)
        self.st.send("LogStatusNotification", {"status": status, "requestId": upload.request_id})

    # -- GetDiagnostics ---------------------------------------------------------------------------------------
    def get_diagnostics(self, req: Payload) -> Payload:
        try:
            start = parse_iso(req["startTime"]) if "startTime" in req else None
            stop = parse_iso(req["stopTime"]) if "stopTime" in req else None
        except ValueError:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "startTime/stopTime not a date-time") from None
        retries, interval = _retries(req)
        upload = _Upload(req["location"], self._file_name("diagnostics"), retries, interval, start, stop)

        def begin() -> None:
            if self._upload is not None:
                log.info("%s: a new GetDiagnostics supersedes the upload in progress", self.st.charge_box_id)
            self._upload = upload
            self._upload_attempt()

        self.st.defer(begin)
        return {"fileName": upload.file_name}

    def _file_name(self, what: str) -> str:
        safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", self.st.charge_box_id)[:100]
        stamp = datetime.fromtimestamp(self.st.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{what}-{safe_id}-{stamp}.zip"

    def _upload_attempt(self) -> None:
        upload = self._upload
        if upload is None:
            return
        if not _supported(upload.location):
            log.warning("%s: cannot upload to %r: unsupported protocol", self.st.charge_box_id, upload.location)
            self._upload = None
            self._diagnostics_outcome("UploadFailed")
            return
        upload.attempts += 1
        if upload.attempts == 1:
            self.st.diagnostics_status = "Uploading"
            self.st.send("DiagnosticsStatusNotification", {"status": "Uploading"})
        upload.job_id = self._queue_upload(upload)

    def _diagnostics_outcome(self, status: str) -> None:
        self.st.timers.cancel(_DIAG_TIMER)
        self.st.diagnostics_status = "Idle"
        self.st.send("DiagnosticsStatusNotification", {"status": status})
