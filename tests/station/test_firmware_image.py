"""Firmware images (the installable file and its checks), the diagnostics archive and log, the transfer
helpers that need no server, and `ocpp-station firmware-image`."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import zipfile
from pathlib import Path

import pytest

from ocpp_station.cli import main
from ocpp_station.clock import ManualClock, iso_utc
from ocpp_station.shell.diagnostics import StationLog, build_archive, trace_tap
from ocpp_station.shell.file_transfer import NetworkFileTransfers, TransferError, _ftp_path, _redact, supported
from ocpp_station.shell.firmware_image import (
    FORMAT,
    ImageError,
    SimulatedInstaller,
    build_image,
    verify_image,
    write_image,
)


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _manifest(**fields: object) -> bytes:
    base: dict[str, object] = {"format": FORMAT, "version": "2.0.0", "payload": "payload.bin", "size": 3}
    base["sha256"] = hashlib.sha256(b"abc").hexdigest()
    return json.dumps({**base, **fields}).encode()


def test_an_image_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "fw.fwi"
    write_image(path, "2.1.0-rc1", b"payload bytes")
    info = verify_image(path)
    assert info.version == "2.1.0-rc1"
    assert info.size == len(b"payload bytes")


async def test_the_simulated_installer_reports_the_version(tmp_path: Path) -> None:
    path = tmp_path / "fw.fwi"
    path.write_bytes(build_image("3.0.0"))
    assert await SimulatedInstaller().install(path) == "3.0.0"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not a firmware image"),
        (b"hello, not a tar" * 100, "not a firmware image"),
        (_tar({"payload.bin": b"abc"}), "no manifest.json"),
        (_tar({"manifest.json": b"{", "payload.bin": b"abc"}), "not JSON"),
        (_tar({"manifest.json": _manifest(format="other/1"), "payload.bin": b"abc"}), "format"),
        (_tar({"manifest.json": _manifest(version=""), "payload.bin": b"abc"}), "no firmware version"),
        (_tar({"manifest.json": _manifest(version="v" * 51), "payload.bin": b"abc"}), "at most 50"),
        (_tar({"manifest.json": _manifest()}), "no payload.bin"),
        (_tar({"manifest.json": _manifest(), "payload.bin": b"abd"}), "checksum mismatch"),
        (_tar({"manifest.json": _manifest(size=4), "payload.bin": b"abc"}), "the manifest says 4"),
        (_tar({"manifest.json": _manifest(payload="../etc/passwd"), "payload.bin": b"abc"}), "payload"),
        (build_image("2.0.0")[:700], "not a firmware image"),  # truncated
    ],
)
def test_invalid_images_are_refused(tmp_path: Path, body: bytes, reason: str) -> None:
    path = tmp_path / "bad.fwi"
    path.write_bytes(body)
    with pytest.raises(ImageError, match=reason):
        verify_image(path)


def test_a_valid_manifest_with_the_right_payload_passes(tmp_path: Path) -> None:
    path = tmp_path / "ok.fwi"
    path.write_bytes(_tar({"manifest.json": _manifest(), "payload.bin": b"abc"}))
    assert verify_image(path).version == "2.0.0"


def test_cli_makes_an_installable_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cp-4.2.0.fwi"
    assert main(["firmware-image", "--version", "4.2.0", "-o", str(out)]) == 0
    assert verify_image(out).version == "4.2.0"
    assert "firmware 4.2.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("version", "output", "message"),
    [("x" * 51, "fw.fwi", "at most 50"), ("1.0", "missing-dir/fw.fwi", "cannot write")],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str, output: str, message: str
) -> None:
    assert main(["firmware-image", "--version", version, "-o", str(tmp_path / output)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


# -- the station log and the diagnostics archive ---------------------------------------------------------


def test_trace_tap_records_and_passes_records_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    log = StationLog(clock, max_bytes=21)  # three events of 7 characters
    downstream = logging.getLogger("ocpp_station.trace.test-tap")
    tap = trace_tap(downstream, log)
    with caplog.at_level(logging.INFO, logger="ocpp_station.trace.test-tap"):
        tap.info("%s → %s", "CP-1", '[2,"1","Heartbeat",{}]')
    assert [r.getMessage() for r in caplog.records] == ['CP-1 → [2,"1","Heartbeat",{}]']
    for n in range(3):
        clock.advance(10)
        log.event(f"event {n}")
    assert [e.text for e in log.entries()] == ["event 0", "event 1", "event 2"]  # bounded
    assert [e.text for e in log.entries(clock.now() - 15, clock.now() - 5)] == ["event 1"]


def test_the_authorization_key_never_reaches_the_log() -> None:
    log = StationLog(ManualClock())
    tap = trace_tap(logging.getLogger("ocpp_station.trace.test-secret"), log)
    tap.info("%s ← %s", "CP-1", '[2,"7","ChangeConfiguration",{"key":"AuthorizationKey","value":"0011223344556677"}]')
    tap.info("%s ← %s", "CP-1", '[2,"8","ChangeConfiguration",{"value":"8899aabbccddeeff","key":"AuthorizationKey"}]')
    text = " ".join(e.text for e in log.entries())
    assert "0011223344556677" not in text and "8899aabbccddeeff" not in text
    assert text.count('"***"') == 2


def test_archive_contents(tmp_path: Path) -> None:
    clock = ManualClock()
    log = StationLog(clock)
    log.emit(logging.LogRecord("t", logging.INFO, "", 0, "%s → %s", ("CP-1", "[2]"), None))
    log.event("boot 1")
    dest = tmp_path / "d.zip"
    build_archive(dest, log.entries(), {"chargeBoxId": "CP-1"}, clock.now() - 60, None)
    with zipfile.ZipFile(dest) as z:
        meta = json.loads(z.read("station.json"))
        assert meta["chargeBoxId"] == "CP-1" and meta["entries"] == 2
        assert meta["window"] == {"startTime": iso_utc(clock.now() - 60), "stopTime": None}
        assert z.read("ocpp-trace.log").decode() == f"{iso_utc(clock.now())} CP-1 → [2]\n"
        assert z.read("events.log").decode() == f"{iso_utc(clock.now())} boot 1\n"
    assert not list(tmp_path.glob("*.part"))


# -- transfer helpers ------------------------------------------------------------------------------------


def test_urls() -> None:
    assert supported("FTP://h/x") and supported("https://h/x") and not supported("sftp://h/x")
    assert _redact("ftp://user:pw@host:21/dir/") == "ftp://user:***@host:21/dir/"
    assert _redact("http://host/x") == "http://host/x"
    assert str(_ftp_path("ftp://h/files/fw%201.fwi")) == "files/fw 1.fwi"  # relative to the login directory
    assert str(_ftp_path("ftp://h/%2Fsrv/fw.fwi")) == "/srv/fw.fwi"
    assert str(_ftp_path("ftp://h")) == "."


@pytest.mark.parametrize("url", ["sftp://h/fw.fwi", "ftp:///fw.fwi", "file:///etc/passwd"])
async def test_unsupported_locations_fail_cleanly(tmp_path: Path, url: str) -> None:
    with pytest.raises(TransferError):
        await NetworkFileTransfers().download(url, tmp_path / "fw")
    assert list(tmp_path.iterdir()) == []


def test_upload_method_is_checked() -> None:
    with pytest.raises(ValueError, match="POST or PUT"):
        NetworkFileTransfers(http_upload="PATCH")
