"""security.demo_pki: the demo PKI's files and the firmware signing the CLI will run."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cryptography import x509

from ocpp_station.security.demo_pki import CertificateAuthority, init_demo_pki, load_authority, sign_firmware_image
from ocpp_station.security.firmware_signature import (
    CertificateStatus,
    SignatureStatus,
    verify_signature,
    verify_signing_certificate,
)
from ocpp_station.security.pki import (
    CertificateSignedStatus,
    KeyType,
    build_csr,
    generate_key,
    parse_certificate,
    parse_certificates,
    verify_certificate_chain,
)


@pytest.mark.parametrize("kind", list(KeyType))
def test_init_writes_every_file_with_owner_only_keys(tmp_path: Path, kind: KeyType) -> None:
    pki = init_demo_pki(tmp_path / "pki", key_type=kind)
    for path in (
        pki.central_system_root_key,
        pki.central_system_key,
        pki.manufacturer_root_key,
        pki.firmware_signing_key,
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(pki.directory.stat().st_mode) == 0o700
    root = parse_certificate(pki.central_system_root.read_text())
    server, chained_root = parse_certificates(pki.central_system_certificate.read_text())
    assert chained_root == root
    server.verify_directly_issued_by(root)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert server.subject.rfc4514_string().startswith("O=Demo CPO,CN=localhost")


def test_demo_manufacturer_signs_firmware_the_station_accepts(tmp_path: Path) -> None:
    pki = init_demo_pki(tmp_path)
    image = tmp_path / "fw.tar"
    image.write_bytes(b"\x00firmware" * 5000)
    signed = sign_firmware_image(image, pki.firmware_signing_key, pki.firmware_signing_certificate)
    roots = [parse_certificate(pki.manufacturer_root.read_text())]
    verdict = verify_signing_certificate(signed.signing_certificate, roots, now=time.time())
    assert verdict.status is CertificateStatus.ACCEPTED and verdict.certificate is not None
    assert verify_signature(image, signed.signature, verdict.certificate).status is SignatureStatus.SIGNATURE_VERIFIED


def test_signing_with_a_key_that_is_not_the_certificates_fails(tmp_path: Path) -> None:
    pki = init_demo_pki(tmp_path)
    image = tmp_path / "fw.tar"
    image.write_bytes(b"x")
    with pytest.raises(ValueError, match="is not the key of"):
        sign_firmware_image(image, pki.central_system_key, pki.firmware_signing_certificate)


def test_demo_cpo_root_signs_the_station_csr(tmp_path: Path) -> None:
    pki = init_demo_pki(tmp_path)
    cpo = load_authority(pki.central_system_root, pki.central_system_root_key)
    key = generate_key()
    chain = cpo.sign_csr(build_csr(key, serial_number="CP-0001", cpo_name="Demo CPO"))
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=key, now=time.time())
    assert verdict.status is CertificateSignedStatus.ACCEPTED, verdict.reason


def test_sign_csr_refuses_a_tampered_csr() -> None:
    ca = CertificateAuthority.new_root("R", "O")
    csr = build_csr(generate_key(), serial_number="CP-1", cpo_name="O")
    lines = csr.splitlines()
    body = "".join(lines[1:-1])
    flipped = body[:-10] + ("A" if body[-10] != "A" else "B") + body[-9:]
    tampered = "\n".join([lines[0], *[flipped[i : i + 64] for i in range(0, len(flipped), 64)], lines[-1]])
    with pytest.raises(ValueError):
        ca.sign_csr(tampered)
