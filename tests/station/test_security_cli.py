"""The security commands: `pki init`, `firmware-image --sign/--cert`, `demo --security-profile 3` (a real
process whose station connects over mutual TLS to the embedded central system)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from ocpp_station.cli import main
from ocpp_station.security.firmware_signature import SignatureStatus, verify_signature
from ocpp_station.security.pki import parse_certificate


def test_pki_init_writes_the_demo_pki_with_owner_only_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pki", "init", str(tmp_path / "pki")]) == 0
    out = capsys.readouterr().out
    assert "central_system_root" in out and "firmware_signing_key" in out
    keys = sorted((tmp_path / "pki").glob("*.key"))
    assert len(keys) == 4 and all(k.stat().st_mode & 0o077 == 0 for k in keys)  # A02.FR.05
    assert "PRIVATE KEY" not in out


def test_firmware_image_sign_writes_a_signature_that_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["pki", "init", str(tmp_path / "pki")])
    image = tmp_path / "fw.fwi"
    key, cert = tmp_path / "pki" / "firmware_signing.key", tmp_path / "pki" / "firmware_signing.pem"
    assert (
        main(["firmware-image", "--version", "9.9.9", "-o", str(image), "--sign", str(key), "--cert", str(cert)]) == 0
    )
    signature = (tmp_path / "fw.fwi.sig").read_text().strip()
    verdict = verify_signature(image, signature, parse_certificate(cert.read_text()))
    assert verdict.status is SignatureStatus.SIGNATURE_VERIFIED
    capsys.readouterr()
    # A key that is not the certificate's: one line, exit 2.
    other = tmp_path / "pki" / "central_system.key"
    code = main(["firmware-image", "--version", "9", "-o", str(image), "--sign", str(other), "--cert", str(cert)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ocpp-station:") and "is not the key of" in err[0]
    assert main(["firmware-image", "--version", "9", "-o", str(image), "--sign", str(key)]) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_demo_with_security_profile_3_connects_over_mutual_tls(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocpp_station",
        "demo",
        "--security-profile",
        "3",
        "--api",
        f"127.0.0.1:{_free_port()}",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    try:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while not any("connected to wss://" in line and "security profile 3" in line for line in seen):
                line = await process.stderr.readline()
                assert line, f"the demo ended: {seen}"
                seen.append(line.decode(errors="replace"))
    finally:
        process.terminate()
        await process.wait()
    assert (tmp_path / "pki" / "central_system_root.pem").is_file()
    assert (tmp_path / "DEMO-CP-1.keys" / "charge_point.key").stat().st_mode & 0o077 == 0
