"""The AuthorizationKey and the station's private key appear in no log, no trace, no uploaded archive
(GetDiagnostics, GetLog DiagnosticsLog and SecurityLog) and no control API response (security whitepaper
A01.FR.12, A02.FR.05): one station over real sockets, everything it wrote or served grepped."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import aiohttp

from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.logs import RedactingFilter, station_trace_logger, trace_path
from ocpp_station.shell.provisioning import install_roots, key_store
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.tools.harness.csms import Expect, ScriptedCsms
from ocpp_station.tools.harness.file_server import FtpFileServer
from ocpp_station.tools.harness.settings import HarnessSettings

CP = "CP-SECRETS"
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f9001122334"
TOLERATE = ("Heartbeat", "MeterValues", "StatusNotification", "SecurityEventNotification", "LogStatusNotification")


async def test_no_secret_in_logs_traces_archives_or_api_responses(tmp_path: Path) -> None:
    cpo = CertificateAuthority.new_root("Secrets CPO", "Secrets CPO")
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    console = io.StringIO()
    handler = logging.StreamHandler(console)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    (tmp_path / "ftp" / "logs").mkdir(parents=True)
    ftp = FtpFileServer(tmp_path / "ftp")
    ftp.start()
    csms = ScriptedCsms(HarnessSettings(charge_box_id=CP))
    await csms.start()
    trace = station_trace_logger(tmp_path, CP)
    runtime = StationRuntime(
        csms_url=csms.url,
        charge_box_id=CP,
        data_dir=tmp_path,
        trace=trace,
        config_overrides={"CpoName": "Secrets CPO", "SecurityProfile": "1", "AuthorizationKey": "00" * 20},
    )
    directory = DictStationDirectory()
    api = ControlApi(directory)
    api_bodies: list[str] = []
    try:
        await api.start("127.0.0.1", 0)
        api.telemetry.watch(runtime)
        await runtime.start()
        directory.add(runtime)
        await csms.expect("BootNotification", tolerate=TOLERATE)
        assert await csms.call_result("ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY}) == {
            "status": "Accepted"
        }
        await csms.wait_connected(after=1)  # A01: reconnects with the new key
        # A key pair made on the station (A02): its private half must stay in its file.
        csms.respond_with("SignCertificate", {"status": "Accepted"})
        await csms.call_result("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
        sign = await csms.expect("SignCertificate", tolerate=TOLERATE)
        await csms.call_result("CertificateSigned", {"certificateChain": cpo.sign_csr(sign.payload["csr"])})
        uploads = []
        for log_type, request_id in (("DiagnosticsLog", 1), ("SecurityLog", 2)):
            request = {"log": {"remoteLocation": ftp.url("logs/")}, "logType": log_type, "requestId": request_id}
            uploads.append((await csms.call_result("GetLog", request))["filename"])
            await csms.expect(
                "LogStatusNotification", {"status": "Uploaded", "requestId": request_id}, tolerate=TOLERATE
            )
        diagnostics = await csms.call_result("GetDiagnostics", {"location": ftp.url("logs/")})
        uploads.append(diagnostics["fileName"])
        await csms.expect(
            "DiagnosticsStatusNotification",
            {"status": "Uploaded"},
            tolerate=(*TOLERATE, Expect("DiagnosticsStatusNotification", {"status": "Uploading"})),
        )
        async with aiohttp.ClientSession() as session:
            for path in ("/api/state", "/api/details", "/api/frames", "/api/stations", "/api/fleet", "/metrics"):
                async with session.get(api.base_url + path) as response:
                    assert response.status == 200, path
                    api_bodies.append(await response.text())
    finally:
        await runtime.stop()
        await api.stop()
        await csms.stop()
        await ftp.stop()
        root.removeHandler(handler)
        root.setLevel(old_level)
        for trace_handler in trace.handlers:
            trace_handler.close()
    private = private_key_pem_body(key_store(tmp_path, CP).key_path.read_bytes())
    archives = {}
    for name in uploads:
        with zipfile.ZipFile(tmp_path / "ftp" / "logs" / name) as archive:
            archives[name] = "\n".join(archive.read(member).decode() for member in archive.namelist())
    written = {
        "console": console.getvalue(),
        "trace file": trace_path(tmp_path, CP).read_text(encoding="utf-8"),
        **{f"archive {name}": text for name, text in archives.items()},
        **{f"API response {n}": body for n, body in enumerate(api_bodies)},
    }
    assert "ChangeConfiguration" in written["trace file"]  # the frame is there, the key is not
    assert any("ReconfigurationOfSecurityParameters" in text for name, text in archives.items() if "security" in name)
    assert '"frames"' in api_bodies[2] and "ChangeConfiguration" in api_bodies[2]
    for where, text in written.items():
        assert KEY not in text and KEY.upper() not in text, f"the AuthorizationKey is in the {where}"
        assert private not in text and "PRIVATE KEY" not in text, f"the private key is in the {where}"


def private_key_pem_body(pem: bytes) -> str:
    """A distinctive line of the key's base64 body (what a leak would contain)."""
    lines = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    assert lines and b"PRIVATE KEY" in pem  # the key file holds a PEM private key
    return lines[0][:40]
