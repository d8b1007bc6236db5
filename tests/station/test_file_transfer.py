"""Firmware Management end to end: a StationRuntime against a fake central system, moving real bytes over
FTP, FTPS, HTTP and HTTPS servers on 127.0.0.1 (free ports, started and stopped here).

TLS: a throw-away CA (trustme) signs the servers' certificates; the station trusts it only through the SSL
context injected into its `NetworkFileTransfers`, and a station without it refuses the server.
"""

from __future__ import annotations

import io
import ssl
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trustme

from ocpp_station.clock import iso_utc
from ocpp_station.shell.file_transfer import NetworkFileTransfers, TransferError
from ocpp_station.shell.firmware_image import build_image
from ocpp_station.shell.runtime import StationRuntime
from tests.support.fake_csms import FakeCsms, Received
from tests.support.file_servers import FtpServer, HttpFileServer, closed_port

PROTOCOLS = ["ftp", "ftps", "http", "https"]


# -- certificates, servers, station -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def certfile(tmp_path: Path, server_cert: trustme.LeafCert) -> Path:
    path = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


class Servers:
    """One file server per protocol, all sharing what they serve: `put(name, bytes)`, `received(name)`."""

    def __init__(self, root: Path, certfile: Path, server_cert: trustme.LeafCert) -> None:
        self.root = root
        (root / "files").mkdir(parents=True)
        (root / "upload").mkdir()
        self.ftp = FtpServer(root)
        self.ftps = FtpServer(root, certfile=certfile)
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(server_ssl)
        self.http = HttpFileServer()
        self.https = HttpFileServer(server_ssl)

    def put(self, name: str, body: bytes) -> None:
        (self.root / "files" / name).write_bytes(body)
        self.http.files[name] = body
        self.https.files[name] = body

    def file_url(self, protocol: str, name: str) -> str:
        return self._server(protocol).url(f"files/{name}")

    def upload_url(self, protocol: str) -> str:
        return self._server(protocol).url("upload/")

    def received(self, protocol: str, name: str) -> bytes | None:
        if protocol.startswith("ftp"):
            path = self.root / "upload" / name
            return path.read_bytes() if path.exists() else None
        return self._server(protocol).uploads.get(name)  # type: ignore[union-attr]

    def _server(self, protocol: str) -> FtpServer | HttpFileServer:
        server: FtpServer | HttpFileServer = getattr(self, protocol)
        return server


@pytest.fixture
async def servers(tmp_path: Path, certfile: Path, server_cert: trustme.LeafCert) -> AsyncIterator[Servers]:
    s = Servers(tmp_path / "srv", certfile, server_cert)
    with s.ftp, s.ftps:
        async with s.http, s.https:
            yield s


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    central = FakeCsms()
    await central.start()
    yield central
    await central.stop()


class Station:
    def __init__(self, runtime: StationRuntime, csms: FakeCsms) -> None:
        self.runtime = runtime
        self.csms = csms

    async def booted(self, boots: int = 1) -> None:
        """Wait until boot number `boots` was accepted and its StatusNotifications arrived."""

        def ready(received: Received) -> bool:
            return sum(a == "BootNotification" for a, _ in received) >= boots and self._statuses_after_boot(
                received, boots
            )

        await self.csms.wait_for(ready)

    def _statuses_after_boot(self, received: Received, boots: int) -> bool:
        seen, statuses = 0, 0
        for action, _ in received:
            if action == "BootNotification":
                seen, statuses = seen + 1, 0
            elif action == "StatusNotification" and seen == boots:
                statuses += 1
        return statuses >= 3


@pytest.fixture
async def station(tmp_path: Path, csms: FakeCsms, client_ssl: ssl.SSLContext) -> AsyncIterator[Station]:
    runtime = StationRuntime(
        csms_url=csms.url,
        charge_box_id="CP-FW",
        data_dir=tmp_path / "data",
        transfers=NetworkFileTransfers(client_ssl, connect_timeout_s=3, io_timeout_s=5),
    )
    async with AsyncExitStack() as stack:
        await runtime.start()
        stack.push_async_callback(runtime.stop)
        s = Station(runtime, csms)
        await s.booted()
        yield s


def firmware(received: Received) -> list[str]:
    return [p["status"] for a, p in received if a == "FirmwareStatusNotification"]


def diagnostics(received: Received) -> list[str]:
    return [p["status"] for a, p in received if a == "DiagnosticsStatusNotification"]


def since(received: Received, action: str) -> Received:
    """What arrived after the last `action` (e.g. the boot after the restart)."""
    index = max(i for i, (a, _) in enumerate(received) if a == action)
    return received[index:]


async def update_firmware(csms: FakeCsms, location: str, **extra: Any) -> None:
    payload = {"location": location, "retrieveDate": iso_utc(time.time()), **extra}
    assert await csms.call("UpdateFirmware", payload) == {}


def outcome(statuses: tuple[str, ...]) -> Any:
    return lambda received: any(s in firmware(received) for s in statuses)


# -- UpdateFirmware --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_download_install_and_boot_the_new_version(protocol: str, servers: Servers, station: Station) -> None:
    servers.put("cp-2.0.0.fwi", build_image("2.0.0", b"\x7fELF" + bytes(range(256)) * 64))
    csms = station.csms
    await update_firmware(csms, servers.file_url(protocol, "cp-2.0.0.fwi"), retries=0)
    received = await csms.wait_for(outcome(("Installed", "InstallationFailed", "DownloadFailed")), timeout=20)

    # OCTT TC_044_1: Downloading, Downloaded, Installing, BootNotification, StatusNotification, Installed.
    assert firmware(received) == ["Downloading", "Downloaded", "Installing", "Installed"]
    after_restart = since(received, "BootNotification")
    boot = after_restart[0][1]
    assert boot["firmwareVersion"] == "2.0.0"
    actions = [a for a, _ in after_restart]
    assert actions.index("StatusNotification") < actions.index("FirmwareStatusNotification")
    assert {p["status"] for a, p in after_restart if a == "StatusNotification"} == {"Available"}
    assert station.runtime.boots == 2
    assert station.runtime.core.firmware_version() == "2.0.0"
    assert not list((station.runtime.data_dir).glob("*.files/firmware-*"))  # the image was consumed


async def test_download_failed_after_retries_on_a_missing_file(servers: Servers, station: Station) -> None:
    csms = station.csms
    await update_firmware(csms, servers.file_url("ftp", "download_fail.fwi"), retries=2, retryInterval=0)
    received = await csms.wait_for(outcome(("DownloadFailed",)))
    assert firmware(received) == ["Downloading", "DownloadFailed"]
    assert servers.ftp.commands.count("RETR") == 3  # the first try and two retries
    assert station.runtime.boots == 1
    assert station.runtime.core.firmware_version() == "0.1.0"
    assert "Unavailable" not in {p["status"] for a, p in received if a == "StatusNotification"}


async def test_download_failed_against_a_refusing_server(station: Station) -> None:
    csms = station.csms
    await update_firmware(csms, f"http://127.0.0.1:{closed_port()}/fw.fwi", retries=1, retryInterval=0)
    received = await csms.wait_for(outcome(("DownloadFailed",)))
    assert firmware(received) == ["Downloading", "DownloadFailed"]
    assert station.runtime.boots == 1


async def test_an_untrusted_server_certificate_is_refused(tmp_path: Path, servers: Servers) -> None:
    servers.put("cp-2.0.0.fwi", build_image("2.0.0"))
    # Trusting only the system's store, the station must not accept the test CA's certificate.
    with pytest.raises(TransferError, match=r"(?i)certificate.verify.failed"):
        await NetworkFileTransfers().download(servers.file_url("https", "cp-2.0.0.fwi"), tmp_path / "fw")
    with pytest.raises(TransferError, match=r"(?i)certificate.verify.failed"):
        await NetworkFileTransfers().download(servers.file_url("ftps", "cp-2.0.0.fwi"), tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


async def test_a_corrupt_image_fails_installation_and_the_station_stays(servers: Servers, station: Station) -> None:
    payload = b"A" * 5000
    image = build_image("6.6.6", payload).replace(payload, b"A" * 2500 + b"B" + b"A" * 2499)
    servers.put("corrupt.fwi", image)  # one changed byte in the payload: the checksum no longer matches
    csms = station.csms
    await update_firmware(csms, servers.file_url("http", "corrupt.fwi"))
    received = await csms.wait_for(lambda r: "InstallationFailed" in firmware(r) and _released(r))
    assert firmware(received) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert station.runtime.boots == 1
    assert station.runtime.core.firmware_version() == "0.1.0"


def _released(received: Received) -> bool:
    """Both connectors were Unavailable for the installation and are reported Available again."""
    history: dict[int, list[str]] = {1: [], 2: []}
    for action, payload in received:
        if action == "StatusNotification" and payload["connectorId"] in history:
            history[payload["connectorId"]].append(payload["status"])
    return all("Unavailable" in h and h[-1] == "Available" for h in history.values())


async def test_not_an_image_fails_installation(servers: Servers, station: Station) -> None:
    servers.put("readme.txt", b"this is not a firmware image\n")
    csms = station.csms
    await update_firmware(csms, servers.file_url("ftp", "readme.txt"))
    received = await csms.wait_for(outcome(("InstallationFailed", "Installed")))
    assert firmware(received)[-1] == "InstallationFailed"
    assert station.runtime.boots == 1


# -- GetDiagnostics --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_diagnostics_upload(protocol: str, servers: Servers, station: Station) -> None:
    csms = station.csms
    answer = await csms.call("GetDiagnostics", {"location": servers.upload_url(protocol), "retries": 0})
    name = answer["fileName"]
    received = await csms.wait_for(lambda r: diagnostics(r)[-1:] in (["Uploaded"], ["UploadFailed"]))
    assert diagnostics(received) == ["Uploading", "Uploaded"]
    archive = servers.received(protocol, name)
    assert archive is not None, f"{name} did not arrive"
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert set(z.namelist()) == {"station.json", "ocpp-trace.log", "events.log"}
        trace = z.read("ocpp-trace.log").decode()
        assert '"BootNotification"' in trace and '"GetDiagnostics"' in trace
        assert "CP-FW" in z.read("station.json").decode()
    assert not list(station.runtime.data_dir.glob("*.files/*.zip"))  # nothing left behind


async def test_diagnostics_window_selects_the_trace(servers: Servers, station: Station) -> None:
    csms = station.csms
    later = iso_utc(time.time() + 3600)
    answer = await csms.call(
        "GetDiagnostics", {"location": servers.upload_url("http"), "startTime": later, "retries": 0}
    )
    await csms.wait_for(lambda r: diagnostics(r)[-1:] == ["Uploaded"])
    archive = servers.received("http", answer["fileName"])
    assert archive is not None
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.read("ocpp-trace.log") == b""  # nothing happened after startTime


async def test_diagnostics_put_upload(servers: Servers, tmp_path: Path, client_ssl: ssl.SSLContext) -> None:
    source = tmp_path / "diag.zip"
    source.write_bytes(b"PK-ish bytes")
    await NetworkFileTransfers(client_ssl, http_upload="PUT").upload(servers.upload_url("https"), source)
    assert servers.received("https", "diag.zip") == b"PK-ish bytes"


async def test_upload_failed_after_retries(servers: Servers, station: Station) -> None:
    csms = station.csms
    location = servers.ftp.url("files/failedLocation")  # OCTT TC_045_2: a directory that does not exist
    await csms.call("GetDiagnostics", {"location": location, "retries": 1, "retryInterval": 0})
    received = await csms.wait_for(lambda r: diagnostics(r)[-1:] in (["Uploaded"], ["UploadFailed"]))
    assert diagnostics(received) == ["Uploading", "UploadFailed"]
    assert servers.ftp.commands.count("STOR") == 2
