"""Firmware Management inside a running fleet: UpdateFirmware and GetDiagnostics move real bytes through file
servers on 127.0.0.1 (free ports, started and stopped here), a station reports every step as the single station
does (tests/station/test_file_transfer.py), boots its new firmware, and its neighbours notice nothing. A station
has a job runner, a task and files only while a job runs.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ocpp_station.clock import iso_utc
from ocpp_station.fleet.engine import Fleet
from ocpp_station.security.demo_pki import CertificateAuthority, sign_firmware
from ocpp_station.security.pki import certificate_pem, generate_key
from ocpp_station.shell.file_transfer import NetworkFileTransfers
from ocpp_station.shell.firmware_image import build_image
from tests.support.file_servers import FtpServer, HttpFileServer, closed_port
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import quiet_fleet, until

COUNT = 4
TARGET = "CP-002"


def assert_rebooted_onto_2_0_0(csms: FleetCsms, notification: str) -> None:
    """The reboot after an installation: a normal close (as a Soft reset), then on the new connection a
    BootNotification with the new version, the statuses, and only then the notification of Installed."""
    assert csms.closes_of(TARGET) == [1000]
    after_reboot = [r for r in csms.of(TARGET) if r.connection == 2]
    assert after_reboot[0].action == "BootNotification"
    assert after_reboot[0].payload["firmwareVersion"] == "2.0.0"
    actions = [r.action for r in after_reboot]
    assert actions.index("StatusNotification") < actions.index(notification)


def running_fleet(csms: FleetCsms, files_dir: Path | None) -> AbstractAsyncContextManager[Fleet]:
    transfers = NetworkFileTransfers(connect_timeout_s=3, io_timeout_s=5)
    return quiet_fleet(csms.url, COUNT, seed=5, files_dir=files_dir, transfers=transfers)


@pytest.fixture
async def fleet(csms: FleetCsms, tmp_path: Path) -> AsyncIterator[Fleet]:
    async with running_fleet(csms, tmp_path / "files") as running:
        yield running


def firmware(csms: FleetCsms, station: str = TARGET) -> list[str]:
    return [r.payload["status"] for r in csms.of(station, "FirmwareStatusNotification")]


def diagnostics(csms: FleetCsms, station: str = TARGET) -> list[str]:
    return [r.payload["status"] for r in csms.of(station, "DiagnosticsStatusNotification")]


async def update_firmware(csms: FleetCsms, location: str, **extra: Any) -> None:
    payload = {"location": location, "retrieveDate": iso_utc(time.time()), **extra}
    assert await csms.call(TARGET, "UpdateFirmware", payload) == {}


def files_left(fleet: Fleet) -> list[Path]:
    root = fleet.file_jobs.work_dir
    return [] if root is None else sorted(root.rglob("*"))


def assert_neighbours_untouched(fleet: Fleet, csms: FleetCsms) -> None:
    for station in fleet.drivers:
        if station.charge_box_id == TARGET:
            continue
        charge_box_id = station.charge_box_id
        assert csms.connections[charge_box_id] == 1 and csms.linked(charge_box_id)
        assert len(csms.of(charge_box_id, "BootNotification")) == 1
        assert not firmware(csms, charge_box_id) and not diagnostics(csms, charge_box_id)


async def test_a_firmware_update_downloads_installs_and_boots_the_new_version(
    fleet: Fleet, csms: FleetCsms, tmp_path: Path
) -> None:
    target = fleet.by_id[TARGET]
    old_core = target.core
    assert fleet.file_jobs.work_dir is None  # nothing is made before a station has a job
    async with HttpFileServer() as server:
        server.files["cp-2.0.0.fwi"] = build_image("2.0.0", b"\x7fELF" + bytes(range(256)) * 64)
        await update_firmware(csms, server.url("files/cp-2.0.0.fwi"), retries=0)
        await csms.wait_until(lambda c: "Installed" in firmware(c) or "Failed" in "".join(firmware(c)))

    # OCTT TC_044_1 in the single station's order: Downloading, Downloaded, Installing, the reboot (a normal close,
    # as a Soft reset), BootNotification with the new version, StatusNotification, Installed.
    assert firmware(csms) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert [r.connection for r in csms.of(TARGET, "FirmwareStatusNotification")] == [1, 1, 1, 2]
    assert_rebooted_onto_2_0_0(csms, "FirmwareStatusNotification")
    assert target.core is not old_core and target.core.firmware_version() == "2.0.0"
    assert_neighbours_untouched(fleet, csms)

    # The image was consumed; no runner, task or file is left for the station.
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert fleet.file_jobs.work_dir == tmp_path / "files"
    assert files_left(fleet) == []


def signed_firmware(csms: FleetCsms, station: str = TARGET) -> list[tuple[str, int]]:
    return [(r.payload["status"], r.payload["requestId"]) for r in csms.of(station, "SignedFirmwareStatusNotification")]


def security_events(csms: FleetCsms, station: str = TARGET) -> list[str]:
    return [r.payload["type"] for r in csms.of(station, "SecurityEventNotification")]


async def signed_update_firmware(
    csms: FleetCsms, maker: CertificateAuthority, location: str, *, request_id: int, signed: bytes
) -> None:
    key = generate_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Maker Firmware Signing")])
    firmware = {
        "location": location,
        "retrieveDateTime": iso_utc(time.time()),
        "signingCertificate": certificate_pem(maker.issue(subject, key.public_key(), code_signing=True)),
        "signature": sign_firmware(signed, key),
    }
    payload = {"requestId": request_id, "retries": 0, "firmware": firmware}
    assert await csms.call(TARGET, "SignedUpdateFirmware", payload) == {"status": "Accepted"}


@pytest.mark.parametrize("tampered", [False, True], ids=["signature-verified", "invalid-signature"])
async def test_a_signed_firmware_update_verifies_the_signature_before_installing(
    fleet: Fleet, csms: FleetCsms, tampered: bool
) -> None:
    target = fleet.by_id[TARGET]
    old_core = target.core
    maker = CertificateAuthority.new_root("Test Maker", "Test Manufacturer")
    install = {"certificateType": "ManufacturerRootCertificate", "certificate": maker.pem}
    assert await csms.call(TARGET, "InstallCertificate", install) == {"status": "Accepted"}  # OCTT TC_075_1
    image = build_image("2.0.0", b"\x7fELF" + bytes(range(256)) * 64)
    async with HttpFileServer() as server:
        server.files["cp-2.0.0.fwi"] = image
        signed = image + b"tampered" if tampered else image
        location = server.url("files/cp-2.0.0.fwi")
        await signed_update_firmware(csms, maker, location, request_id=11, signed=signed)
        outcomes = {"Installed", "InvalidSignature", "DownloadFailed", "InstallationFailed"}
        await csms.wait_until(lambda c: any(s in outcomes for s, _ in signed_firmware(c)))
        await csms.wait_until(lambda c: bool(security_events(c)))

    assert firmware(csms) == []  # security whitepaper L01.FR.10: only SignedFirmwareStatusNotification
    if tampered:
        # Security whitepaper L01.FR.03, OCTT TC_081: InvalidSignature, the security event, never installed.
        assert signed_firmware(csms) == [("Downloading", 11), ("Downloaded", 11), ("InvalidSignature", 11)]
        assert security_events(csms) == ["InvalidFirmwareSignature"]
        assert len(csms.of(TARGET, "BootNotification")) == 1 and csms.closes_of(TARGET) == []
        assert target.core is old_core and target.core.firmware_version() == "0.1.0"
    else:
        # Security whitepaper L01.FR.04/10, OCTT TC_080 in the single station's order: Downloading, Downloaded,
        # SignatureVerified, Installing, the reboot (as a Soft reset), BootNotification with the new version,
        # Installed, each with the request's requestId; then the FirmwareUpdated event (security whitepaper §8).
        assert signed_firmware(csms) == [
            ("Downloading", 11),
            ("Downloaded", 11),
            ("SignatureVerified", 11),
            ("Installing", 11),
            ("Installed", 11),
        ]
        assert [r.connection for r in csms.of(TARGET, "SignedFirmwareStatusNotification")] == [1, 1, 1, 1, 2]
        assert_rebooted_onto_2_0_0(csms, "SignedFirmwareStatusNotification")
        assert security_events(csms) == ["FirmwareUpdated"]
        assert target.core is not old_core and target.core.firmware_version() == "2.0.0"
    assert len(server.requests) == 1
    assert_neighbours_untouched(fleet, csms)
    for station in fleet.drivers:
        if station.charge_box_id != TARGET:
            assert not signed_firmware(csms, station.charge_box_id) and not security_events(csms, station.charge_box_id)

    # The image was consumed or deleted; no runner, task or file is left for the station.
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert files_left(fleet) == []


async def test_an_unreachable_location_gives_download_failed_after_the_retries(fleet: Fleet, csms: FleetCsms) -> None:
    await update_firmware(csms, f"http://127.0.0.1:{closed_port()}/fw.fwi", retries=1, retryInterval=0)
    await csms.wait_until(lambda c: "DownloadFailed" in firmware(c))
    assert firmware(csms) == ["Downloading", "DownloadFailed"]
    target = fleet.by_id[TARGET]
    assert len(csms.of(TARGET, "BootNotification")) == 1 and target.core.firmware_version() == "0.1.0"
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert files_left(fleet) == []


async def test_get_diagnostics_uploads_an_archive_to_the_server(fleet: Fleet, csms: FleetCsms, tmp_path: Path) -> None:
    home = tmp_path / "ftp"
    (home / "upload").mkdir(parents=True)
    with FtpServer(home) as ftp:
        answer = await csms.call(TARGET, "GetDiagnostics", {"location": ftp.url("upload/"), "retries": 0})
        await csms.wait_until(lambda c: len(diagnostics(c)) == 2)
    assert diagnostics(csms) == ["Uploading", "Uploaded"]
    archive = zipfile.ZipFile(io.BytesIO((home / "upload" / answer["fileName"]).read_bytes()))
    info = json.loads(archive.read("station.json"))
    assert info["chargeBoxId"] == TARGET and info["firmwareVersion"] == "0.1.0"
    assert {"station.json", "ocpp-trace.log", "events.log"} <= set(archive.namelist())
    assert_neighbours_untouched(fleet, csms)
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert files_left(fleet) == []


async def test_with_a_frame_trace_the_archive_holds_the_stations_own_frames(csms: FleetCsms, tmp_path: Path) -> None:
    transfers = NetworkFileTransfers(connect_timeout_s=3, io_timeout_s=5)
    async with quiet_fleet(
        csms.url, COUNT, seed=5, files_dir=tmp_path / "files", transfers=transfers, trace_bytes=1 << 20
    ) as fleet:
        secret = "0123456789abcdef0123456789abcdef"
        change = {"key": "AuthorizationKey", "value": secret}
        assert await csms.call(TARGET, "ChangeConfiguration", change) == {"status": "Accepted"}
        home = tmp_path / "ftp"
        (home / "upload").mkdir(parents=True)
        with FtpServer(home) as ftp:
            answer = await csms.call(TARGET, "GetDiagnostics", {"location": ftp.url("upload/"), "retries": 0})
            await csms.wait_until(lambda c: len(diagnostics(c)) == 2)
        assert fleet.trace is not None and 0 < fleet.trace.size <= 1 << 20
    trace = zipfile.ZipFile(io.BytesIO((home / "upload" / answer["fileName"]).read_bytes())).read("ocpp-trace.log")
    lines = trace.decode().splitlines()
    # Every line is the target's, in the single station's format: `<time> <id> <→|←> <frame>`, in the order sent
    # and received.
    assert lines and all(line.split(" ")[1] == TARGET for line in lines)
    frames = [(line.split(" ", 3)[2], json.loads(line.split(" ", 3)[3])) for line in lines]
    assert frames[0][0] == "→" and frames[0][1][2] == "BootNotification"
    assert any(arrow == "←" and frame[0] == 2 and frame[2] == "GetDiagnostics" for arrow, frame in frames)
    # The AuthorizationKey is write-only (security whitepaper §7): the trace shows the change, not the key.
    assert any(frame[0] == 2 and frame[2] == "ChangeConfiguration" for _, frame in frames)
    assert secret not in trace.decode()


async def test_get_log_uploads_the_security_log(fleet: Fleet, csms: FleetCsms) -> None:
    async with HttpFileServer() as server:
        request = {"logType": "SecurityLog", "requestId": 7, "log": {"remoteLocation": server.url("upload/")}}
        answer = await csms.call(TARGET, "GetLog", request)
        await csms.wait_until(lambda c: len(c.of(TARGET, "LogStatusNotification")) == 2)
    # Security whitepaper N01.FR.07/08: Uploading, then the outcome, each with the request's id.
    assert [r.payload for r in csms.of(TARGET, "LogStatusNotification")] == [
        {"status": "Uploading", "requestId": 7},
        {"status": "Uploaded", "requestId": 7},
    ]
    assert answer["status"] == "Accepted" and answer["filename"] in server.uploads
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert files_left(fleet) == []


async def test_a_reset_during_a_download_cancels_the_job(
    fleet: Fleet, csms: FleetCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = fleet.by_id[TARGET]
    old_core = target.core
    outcomes: list[tuple[str, int]] = []
    monkeypatch.setattr(old_core.firmware, "job_succeeded", lambda job_id, result="": outcomes.append(("ok", job_id)))
    monkeypatch.setattr(old_core.firmware, "job_failed", lambda job_id, reason: outcomes.append(("failed", job_id)))
    async with HttpFileServer() as server:
        server.files["cp-3.0.0.fwi"] = build_image("3.0.0")
        server.hold = hold = asyncio.Event()
        await update_firmware(csms, server.url("files/cp-3.0.0.fwi"), retries=0)
        await csms.wait_until(lambda c: firmware(c) == ["Downloading"] and len(server.requests) == 1)
        assert fleet.file_jobs.stations == [TARGET] and fleet.file_jobs.tasks == 1

        assert await csms.call(TARGET, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
        # The new core starts the interrupted update over (it is stored), with a download of its own.
        await csms.wait_until(lambda c: len(c.of(TARGET, "BootNotification")) == 2 and len(server.requests) == 2)
        assert target.core is not old_core
        hold.set()
        await csms.wait_until(lambda c: "Installed" in firmware(c) or "Failed" in "".join(firmware(c)))

    # The cancelled download reported nothing, to the old core or to the new one (which numbers its jobs from 1
    # again: an old outcome would have passed for its own download's).
    assert outcomes == []
    assert firmware(csms) == ["Downloading", "Downloading", "Downloaded", "Installing", "Installed"]
    assert [r.connection for r in csms.of(TARGET, "FirmwareStatusNotification")] == [1, 2, 2, 2, 3]
    assert target.core.firmware_version() == "3.0.0"
    assert fleet.file_jobs.stations == [] and fleet.file_jobs.tasks == 0
    assert files_left(fleet) == []


async def test_without_a_store_directory_the_files_go_to_a_temporary_directory_removed_at_the_stop(
    csms: FleetCsms,
) -> None:
    async with HttpFileServer() as server:
        async with running_fleet(csms, None) as fleet:
            await csms.call(TARGET, "GetDiagnostics", {"location": server.url("upload/"), "retries": 0})
            await csms.wait_until(lambda c: diagnostics(c) == ["Uploading", "Uploaded"])
            work_dir = fleet.file_jobs.work_dir
            assert work_dir is not None and work_dir.is_dir() and files_left(fleet) == []
        assert not work_dir.exists()
    [name] = server.uploads
    assert name.startswith(f"diagnostics-{TARGET}-")


async def test_the_command_with_a_sqlite_store_keeps_the_files_next_to_it_and_removes_them_at_the_stop(
    csms: FleetCsms, tmp_path: Path
) -> None:
    # The real `ocpp-station fleet` process: the work directory is chosen by the command's wiring, which a fleet
    # built by hand (as above) would bypass.
    scenario = tmp_path / "quiet.toml"
    scenario.write_text("enabled = false\n[configuration]\nWebSocketPingInterval = 0\n")
    argv = ["-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", str(COUNT), "--id-pattern", "CP-{n:03d}"]
    argv += ["--scenario", str(scenario), "--store", "sqlite", "--store-path", str(tmp_path / "fleet.sqlite")]
    argv += ["--quiet"]
    files = tmp_path / "fleet.files"
    async with HttpFileServer() as server:
        server.files["cp-2.0.0.fwi"] = build_image("2.0.0")
        server.hold = hold = asyncio.Event()
        process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # Booted: its StatusNotifications come only after the BootNotification was accepted.
            await csms.wait_until(lambda c: bool(c.of(TARGET, "StatusNotification")))
            await update_firmware(csms, server.url("files/cp-2.0.0.fwi"), retries=0)
            # The download is held by the server, so its partial image stays on disk while the test looks.
            await until(lambda: len(server.requests) == 1)
            assert sorted(p.relative_to(files).as_posix() for p in files.rglob("*")) == [
                TARGET,
                f"{TARGET}/firmware-1.fwi.part",
            ]
            process.send_signal(signal.SIGINT)  # as Ctrl-C: the fleet stops in the middle of the job
            async with asyncio.timeout(10):
                stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:  # the test failed: stop the fleet so that it removes its files
                process.send_signal(signal.SIGINT)
                try:
                    async with asyncio.timeout(10):
                        await process.communicate()
                except TimeoutError:
                    process.kill()
                    await process.wait()
            hold.set()  # the held GET handler ends, so the server stops at once
    assert process.returncode == 0, stderr.decode()
    assert b"fleet report: 4 stations" in stdout
    assert not files.exists()
    assert (tmp_path / "fleet.sqlite").is_file()
    assert firmware(csms) == ["Downloading"]
