"""Firmware Management in the core (no sockets, no files): the state machines of UpdateFirmware and
GetDiagnostics, driven by a manual clock, with the file jobs completed by hand (a fake transfer).

The sequences follow OCTT TC_044_1/2/3 and TC_045_1/2; tests/test_file_transfer.py runs the same flows
through the runtime against real FTP/FTPS/HTTP/HTTPS servers.
"""

from __future__ import annotations

from typing import Any

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import CallError
from ocpp_station.station.profiles.firmware_management import (
    DEFAULT_RETRIES,
    INSTALLING_NOTICE_GRACE_S,
    META_REPORT,
    META_UPDATE,
    FileJob,
    JobKind,
)
from tests.support.core_driver import CoreDriver, result

Sent = list[tuple[str, dict[str, Any]]]


def fw(sent: Sent) -> list[str]:
    return [p["status"] for a, p in sent if a == "FirmwareStatusNotification"]


def diag(sent: Sent) -> list[str]:
    return [p["status"] for a, p in sent if a == "DiagnosticsStatusNotification"]


def job(cp: CoreDriver, kind: JobKind) -> FileJob:
    cp.pump()  # the link delivers what is queued (e.g. Installing, whose answer starts the install)
    taken = cp.station.firmware.next_job()
    assert taken is not None, f"expected a {kind} job"
    assert taken.kind == kind
    assert cp.station.firmware.next_job() is None
    return taken


def no_job(cp: CoreDriver) -> None:
    cp.pump()
    assert cp.station.firmware.next_job() is None


def update(cp: CoreDriver, delay_s: float = 0.0, **extra: Any) -> None:
    payload = {"location": "ftp://fw.example/cp-2.0.0.fwi", "retrieveDate": iso_utc(cp.clock.now() + delay_s)}
    assert result(cp.call("UpdateFirmware", {**payload, **extra})) == {}


def download(cp: CoreDriver) -> FileJob:
    cp.advance(0)
    return job(cp, JobKind.DOWNLOAD)


def trigger(cp: CoreDriver, message: str) -> str:
    assert result(cp.call("TriggerMessage", {"requestedMessage": message})) == {"status": "Accepted"}
    sent = cp.take()
    return (fw(sent) or diag(sent))[-1]


def start_transaction(cp: CoreDriver, connector_id: int, id_tag: str) -> None:
    cp.hardware.connector(connector_id).plug(cp.clock.now())
    cp.hardware.rfid.present(id_tag, connector_id)
    assert (connector_id, "Charging") in cp.statuses(cp.take())


def reboot(cp: CoreDriver) -> CoreDriver:
    """What the runtime does on reset_request: power the core off and on again on the same store."""
    cp.close()
    again = CoreDriver(clock=cp.clock, store=cp.store)
    again.connect()
    return again


# -- UpdateFirmware ---------------------------------------------------------------------------------------


def test_download_install_restart_reports_installed_after_boot_and_status(cp: CoreDriver) -> None:
    update(cp)
    assert fw(cp.take()) == []  # nothing before the conf has been sent and the timer ran
    fetch = download(cp)
    assert fetch.location == "ftp://fw.example/cp-2.0.0.fwi"
    assert fw(cp.take()) == ["Downloading"]
    assert trigger(cp, "FirmwareStatusNotification") == "Downloading"

    cp.station.firmware.job_succeeded(fetch.job_id, "/images/firmware-1.fwi")
    sent = cp.take()
    assert fw(sent) == ["Downloaded", "Installing"]
    assert cp.statuses(sent) == [(1, "Unavailable"), (2, "Unavailable")]  # held until the restart
    install = job(cp, JobKind.INSTALL)
    assert install.image == "/images/firmware-1.fwi"
    assert cp.station.reset_request is None

    cp.station.firmware.job_succeeded(install.job_id, "2.0.0")
    assert cp.station.reset_request == "Soft"
    assert cp.store.get_meta("firmware_version") == "2.0.0"
    assert not cp.store.get_meta(META_UPDATE)

    cp = reboot(cp)
    sent = cp.take()
    assert [a for a, _ in sent] == ["BootNotification"] + ["StatusNotification"] * 3 + ["FirmwareStatusNotification"]
    assert sent[0][1]["firmwareVersion"] == "2.0.0"
    assert cp.statuses(sent) == [(0, "Available"), (1, "Available"), (2, "Available")]
    assert fw(sent) == ["Installed"]
    assert not cp.store.get_meta(META_REPORT)
    assert trigger(cp, "FirmwareStatusNotification") == "Idle"
    cp.close()


def test_retrieve_date_in_the_future_waits_for_it(cp: CoreDriver) -> None:
    update(cp, delay_s=3600)
    cp.advance(3599)
    no_job(cp)
    assert fw(cp.take()) == []
    assert trigger(cp, "FirmwareStatusNotification") == "Idle"
    cp.advance(1.5)
    job(cp, JobKind.DOWNLOAD)
    assert fw(cp.take()) == ["Downloading"]


def test_retrieve_date_in_the_past_starts_at_once(cp: CoreDriver) -> None:
    update(cp, delay_s=-86_400)
    download(cp)
    assert fw(cp.take()) == ["Downloading"]


def test_download_retries_after_the_interval_then_fails(cp: CoreDriver) -> None:
    update(cp, retries=2, retryInterval=30)
    for attempt in range(3):
        fetch = download(cp) if attempt == 0 else job(cp, JobKind.DOWNLOAD)
        cp.station.firmware.job_failed(fetch.job_id, "550 No such file")
        if attempt < 2:
            cp.advance(29)
            no_job(cp)
            cp.advance(1)
    sent = cp.take()
    assert fw(sent) == ["Downloading", "DownloadFailed"]  # Downloading once, not at every attempt
    assert cp.statuses(sent) == []  # connectors untouched: nothing was installed
    assert not cp.store.get_meta(META_UPDATE)
    assert trigger(cp, "FirmwareStatusNotification") == "Idle"
    assert cp.store.get_meta("firmware_version") is None


def test_retries_zero_is_a_single_attempt(cp: CoreDriver) -> None:
    update(cp, retries=0)  # OCTT TC_044_2
    cp.station.firmware.job_failed(download(cp).job_id, "connection refused")
    assert fw(cp.take()) == ["Downloading", "DownloadFailed"]
    cp.advance(3600)
    no_job(cp)


def test_default_retries_when_the_request_leaves_them_out(cp: CoreDriver) -> None:
    update(cp)
    fetch = download(cp)
    for _ in range(DEFAULT_RETRIES):
        cp.station.firmware.job_failed(fetch.job_id, "timeout")
        cp.advance(3600)
        fetch = job(cp, JobKind.DOWNLOAD)
    cp.station.firmware.job_failed(fetch.job_id, "timeout")
    assert fw(cp.take())[-1] == "DownloadFailed"


def test_unsupported_protocol_fails_without_a_transfer(cp: CoreDriver) -> None:
    update(cp, location="sftp://fw.example/cp.fwi")
    cp.advance(0)
    no_job(cp)
    assert fw(cp.take()) == ["DownloadFailed"]


def test_unreadable_retrieve_date_is_a_call_error(cp: CoreDriver) -> None:
    answer = cp.call("UpdateFirmware", {"location": "ftp://fw.example/x.fwi", "retrieveDate": "soon"})
    assert isinstance(answer, CallError)
    assert not cp.store.get_meta(META_UPDATE)


def test_installation_failed_gives_the_connectors_back(cp: CoreDriver) -> None:
    assert result(cp.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})) == {"status": "Accepted"}
    cp.take()
    update(cp)
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/corrupt.fwi")
    sent = cp.take()
    assert cp.statuses(sent) == [(1, "Unavailable")]
    install = job(cp, JobKind.INSTALL)
    cp.station.firmware.job_failed(install.job_id, "payload checksum mismatch")
    sent = cp.take()
    assert fw(sent) == ["InstallationFailed"]
    # Connector 1 is back; connector 2 stays Inoperative as the central system asked.
    assert cp.statuses(sent) == [(1, "Available")]
    assert cp.station.reset_request is None
    assert cp.store.get_meta("firmware_version") is None
    assert trigger(cp, "FirmwareStatusNotification") == "Idle"


def test_installation_waits_for_the_running_transaction(cp: CoreDriver) -> None:
    start_transaction(cp, 1, "TAG-1")
    update(cp)
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/fw.fwi")
    sent = cp.take()
    assert fw(sent) == ["Downloading", "Downloaded"]
    assert cp.statuses(sent) == [(2, "Unavailable")]  # connector 1 keeps charging
    no_job(cp)
    assert trigger(cp, "FirmwareStatusNotification") == "Downloaded"
    # No new session may start meanwhile.
    refused = cp.call("RemoteStartTransaction", {"idTag": "TAG-2", "connectorId": 2})
    assert result(refused) == {"status": "Rejected"}
    cp.advance(3600)
    no_job(cp)

    cp.hardware.rfid.present("TAG-1")  # the driver ends the session
    sent = cp.take()
    assert "StopTransaction" in [a for a, _ in sent]
    assert cp.statuses(sent) == [(1, "Unavailable")]
    assert fw(sent) == ["Installing"]
    job(cp, JobKind.INSTALL)


def test_install_goes_on_when_installing_gets_no_answer(cp: CoreDriver) -> None:
    update(cp)
    cp.respond("FirmwareStatusNotification", lambda a, p: {})  # Downloading
    cp.respond("FirmwareStatusNotification", lambda a, p: {})  # Downloaded
    cp.respond("FirmwareStatusNotification", lambda a, p: "timeout")  # Installing: no answer
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/fw.fwi")
    assert fw(cp.take()) == ["Downloading", "Downloaded", "Installing"]
    job(cp, JobKind.INSTALL)  # a lost notification does not stop the update


def test_installing_waits_for_its_answer_while_offline(cp: CoreDriver) -> None:
    update(cp)
    fetch = download(cp)
    cp.take()
    cp.disconnect()
    cp.station.firmware.job_succeeded(fetch.job_id, "/images/fw.fwi")
    no_job(cp)  # Installing is still queued
    cp.advance(INSTALLING_NOTICE_GRACE_S + 0.5)
    job(cp, JobKind.INSTALL)


def test_a_new_update_supersedes_the_waiting_one(cp: CoreDriver) -> None:
    update(cp, delay_s=3600)
    update(cp, location="http://fw.example/other.fwi")
    fetch = download(cp)
    assert fetch.location == "http://fw.example/other.fwi"
    cp.advance(7200)
    no_job(cp)


def test_update_during_installation_is_ignored(cp: CoreDriver) -> None:
    update(cp)
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/fw.fwi")
    install = job(cp, JobKind.INSTALL)
    update(cp, location="http://fw.example/other.fwi")
    cp.advance(0)
    no_job(cp)
    cp.station.firmware.job_succeeded(install.job_id, "2.0.0")
    assert cp.store.get_meta("firmware_version") == "2.0.0"


def test_outcome_of_a_superseded_download_is_ignored(cp: CoreDriver) -> None:
    update(cp)
    old = download(cp)
    update(cp, location="http://fw.example/other.fwi")
    new = download(cp)
    cp.take()
    cp.station.firmware.job_succeeded(old.job_id, "/images/old.fwi")
    assert fw(cp.take()) == []
    no_job(cp)
    cp.station.firmware.job_succeeded(new.job_id, "/images/new.fwi")
    assert job(cp, JobKind.INSTALL).image == "/images/new.fwi"


def test_a_restart_before_the_install_starts_the_update_over(cp: CoreDriver) -> None:
    update(cp, delay_s=600, retries=1, retryInterval=5)
    cp = reboot(cp)
    cp.take()
    cp.advance(599)
    no_job(cp)
    cp.advance(1.5)
    fetch = job(cp, JobKind.DOWNLOAD)
    assert fetch.location == "ftp://fw.example/cp-2.0.0.fwi"
    assert fw(cp.take()) == ["Downloading"]
    cp.close()


def test_installed_is_sent_again_after_a_lost_link(cp: CoreDriver) -> None:
    update(cp)
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/fw.fwi")
    cp.station.firmware.job_succeeded(job(cp, JobKind.INSTALL).job_id, "2.0.0")
    cp.close()
    cp = CoreDriver(clock=cp.clock, store=cp.store)
    cp.respond("FirmwareStatusNotification", lambda a, p: "disconnected")
    cp.connect()
    assert fw(cp.take()) == ["Installed", "Installed"]  # lost with the link, then delivered
    assert not cp.store.get_meta(META_REPORT)
    cp.close()


# -- GetDiagnostics ---------------------------------------------------------------------------------------


def test_get_diagnostics_names_the_file_and_uploads_it(cp: CoreDriver) -> None:
    start, stop = cp.clock.now() - 3600, cp.clock.now()
    answer = result(
        cp.call(
            "GetDiagnostics",
            {"location": "ftp://logs.example/incoming/", "startTime": iso_utc(start), "stopTime": iso_utc(stop)},
        )
    )
    name = answer["fileName"]
    assert name == "diagnostics-CP-TEST-20260101T000000Z.zip"
    assert diag(cp.take()) == ["Uploading"]
    upload = job(cp, JobKind.UPLOAD)
    assert (upload.location, upload.file_name) == ("ftp://logs.example/incoming/", name)
    assert (upload.start_time, upload.stop_time) == (start, stop)
    assert trigger(cp, "DiagnosticsStatusNotification") == "Uploading"
    cp.station.firmware.job_succeeded(upload.job_id, name)
    assert diag(cp.take()) == ["Uploaded"]
    assert trigger(cp, "DiagnosticsStatusNotification") == "Idle"


def test_upload_retries_then_fails(cp: CoreDriver) -> None:
    location = "ftp://logs.example/files/failedLocation"
    cp.call("GetDiagnostics", {"location": location, "retries": 1, "retryInterval": 10})
    cp.station.firmware.job_failed(job(cp, JobKind.UPLOAD).job_id, "550 no such directory")
    cp.advance(9)
    no_job(cp)
    cp.advance(1)
    cp.station.firmware.job_failed(job(cp, JobKind.UPLOAD).job_id, "550 no such directory")
    assert diag(cp.take()) == ["Uploading", "UploadFailed"]
    assert trigger(cp, "DiagnosticsStatusNotification") == "Idle"


def test_upload_to_an_unsupported_protocol_fails_at_once(cp: CoreDriver) -> None:
    answer = result(cp.call("GetDiagnostics", {"location": "scp://logs.example/"}))
    assert answer["fileName"].endswith(".zip")
    no_job(cp)
    assert diag(cp.take()) == ["UploadFailed"]


def test_trigger_reports_idle_when_nothing_is_in_progress(cp: CoreDriver) -> None:
    assert trigger(cp, "FirmwareStatusNotification") == "Idle"
    assert trigger(cp, "DiagnosticsStatusNotification") == "Idle"


def test_an_unplug_during_a_pending_install_reports_the_stop_before_what_follows_it(cp: CoreDriver) -> None:
    """Causal order: the StopTransaction of the transaction the install waited for comes before the
    Unavailable and the Installing its end allows (a central system reading the stream sees why it waited)."""
    start_transaction(cp, 1, "TAG-1")
    update(cp)
    cp.station.firmware.job_succeeded(download(cp).job_id, "/images/fw.fwi")
    cp.take()
    cp.hardware.connector(1).unplug(cp.clock.now())  # the EV leaves: StopTransactionOnEVSideDisconnect
    sent = cp.take()
    assert [a for a, _ in sent] == ["StopTransaction", "StatusNotification", "FirmwareStatusNotification"]
    assert cp.statuses(sent) == [(1, "Unavailable")] and fw(sent) == ["Installing"]
