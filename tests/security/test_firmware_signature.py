"""security.firmware_signature: SignedUpdateFirmware's signing certificate and the signature over the image (L01)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ocpp_station.protocol.schemas import validate_response
from ocpp_station.security.demo_pki import CertificateAuthority, sign_firmware
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.firmware_signature import (
    CertificateStatus,
    SignatureStatus,
    verify_signature,
    verify_signing_certificate,
)
from ocpp_station.security.pki import KeyType, PrivateKey, certificate_pem, generate_key

from .conftest import name

IMAGE = b"firmware image \x00\x01\x02" * 1000
DAY = timedelta(days=1)


def signing_pem(maker: CertificateAuthority, key: PrivateKey, **kwargs: object) -> str:
    certificate = maker.issue(name("Signer", "Test Manufacturer"), key.public_key(), code_signing=True, **kwargs)  # type: ignore[arg-type]
    return certificate_pem(certificate)


# --- the signing certificate (L01.FR.23/24) -------------------------------------------------------------------


def test_certificate_from_the_manufacturer_root_is_accepted(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    verdict = verify_signing_certificate(signing_pem(maker, generate_key()), [maker.certificate], now=now)
    assert verdict.status is CertificateStatus.ACCEPTED and verdict.certificate is not None
    assert verdict.security_event is None
    validate_response("SignedUpdateFirmware", {"status": verdict.status.value})
    assert warnings() == []


def _invalid(verdict_status: CertificateStatus, warnings: Callable[[], list[str]], text: str) -> None:
    assert verdict_status is CertificateStatus.INVALID_CERTIFICATE
    validate_response("SignedUpdateFirmware", {"status": verdict_status.value})
    lines = warnings()
    assert len(lines) == 1 and text in lines[0], lines


def test_certificate_from_another_root_is_invalid(
    maker: CertificateAuthority, other_cpo: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    verdict = verify_signing_certificate(signing_pem(other_cpo, generate_key()), [maker.certificate], now=now)
    assert verdict.security_event is SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE  # L01.FR.02
    _invalid(verdict.status, warnings, "not signed by an installed ManufacturerRootCertificate")


def test_no_manufacturer_root_installed_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    verdict = verify_signing_certificate(signing_pem(maker, generate_key()), [], now=now)
    _invalid(verdict.status, warnings, "no ManufacturerRootCertificate")


def test_malformed_signing_certificate_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    verdict = verify_signing_certificate("-----BEGIN CERTIFICATE-----\nxx\n", [maker.certificate], now=now)
    _invalid(verdict.status, warnings, "malformed PEM")


def test_expired_signing_certificate_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    start = datetime.fromtimestamp(now, UTC) - 10 * DAY
    verdict = verify_signing_certificate(
        signing_pem(maker, generate_key(), not_before=start, validity=DAY), [maker.certificate], now=now
    )
    _invalid(verdict.status, warnings, "expired")


def test_not_yet_valid_signing_certificate_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    start = datetime.fromtimestamp(now, UTC) + DAY
    verdict = verify_signing_certificate(
        signing_pem(maker, generate_key(), not_before=start), [maker.certificate], now=now
    )
    _invalid(verdict.status, warnings, "not valid before")


def test_intermediate_between_root_and_signer_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    # L01 remark: the manufacturer SHALL NOT use intermediate certificates.
    sub_key = generate_key()
    sub = CertificateAuthority(maker.issue(name("Sub"), sub_key.public_key(), ca=True), sub_key)
    verdict = verify_signing_certificate(signing_pem(sub, generate_key()), [maker.certificate], now=now)
    _invalid(verdict.status, warnings, "not signed by an installed")


def test_huge_signing_certificate_is_invalid(
    maker: CertificateAuthority, now: float, warnings: Callable[[], list[str]]
) -> None:
    big = maker.issue(name("Signer"), generate_key().public_key(), server_names=[f"h{i}.example" for i in range(300)])
    verdict = verify_signing_certificate(certificate_pem(big), [maker.certificate], now=now)
    _invalid(verdict.status, warnings, "more than the 5500")


# --- the signature (L01.FR.04/12) -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KeyType))
def test_signature_from_sign_firmware_verifies(maker: CertificateAuthority, kind: KeyType, now: float) -> None:
    key = generate_key(kind)
    certificate = verify_signing_certificate(signing_pem(maker, key), [maker.certificate], now=now).certificate
    assert certificate is not None
    verdict = verify_signature(IMAGE, sign_firmware(IMAGE, key), certificate)
    assert verdict.status is SignatureStatus.SIGNATURE_VERIFIED and verdict.security_event is None


@pytest.mark.parametrize("salt", [0, 20, 32, padding.PSS.MAX_LENGTH])
def test_rsa_pss_with_any_salt_length_verifies(maker: CertificateAuthority, salt: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = maker.issue(name("Signer"), key.public_key(), code_signing=True)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
    signature = base64.b64encode(key.sign(IMAGE, pss, hashes.SHA256())).decode()
    assert verify_signature(IMAGE, signature, certificate).status is SignatureStatus.SIGNATURE_VERIFIED


def test_rsa_pkcs1v15_is_not_pss_and_is_refused(maker: CertificateAuthority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = maker.issue(name("Signer"), key.public_key(), code_signing=True)
    signature = base64.b64encode(key.sign(IMAGE, padding.PKCS1v15(), hashes.SHA256())).decode()
    assert verify_signature(IMAGE, signature, certificate).status is SignatureStatus.INVALID_SIGNATURE


def test_large_file_is_verified_from_disk(maker: CertificateAuthority, tmp_path: Path) -> None:
    key = generate_key()
    certificate = maker.issue(name("Signer"), key.public_key(), code_signing=True)
    data = IMAGE * 200  # several read chunks
    path = tmp_path / "image.bin"
    path.write_bytes(data)
    assert verify_signature(path, sign_firmware(data, key), certificate).status is SignatureStatus.SIGNATURE_VERIFIED
    path.write_bytes(data + b"!")
    assert verify_signature(path, sign_firmware(data, key), certificate).status is SignatureStatus.INVALID_SIGNATURE


@pytest.mark.parametrize("kind", list(KeyType))
def test_signature_over_other_bytes_is_invalid(
    maker: CertificateAuthority, kind: KeyType, warnings: Callable[[], list[str]]
) -> None:
    key = generate_key(kind)
    certificate = maker.issue(name("Signer"), key.public_key(), code_signing=True)
    verdict = verify_signature(IMAGE + b"tampered", sign_firmware(IMAGE, key), certificate)
    assert verdict.status is SignatureStatus.INVALID_SIGNATURE
    assert verdict.security_event is SecurityEvent.INVALID_FIRMWARE_SIGNATURE  # L01.FR.03
    lines = warnings()
    assert len(lines) == 1 and "does not verify" in lines[0]


def test_signature_by_another_key_is_invalid(maker: CertificateAuthority) -> None:
    certificate = maker.issue(name("Signer"), generate_key().public_key(), code_signing=True)
    verdict = verify_signature(IMAGE, sign_firmware(IMAGE, generate_key()), certificate)
    assert verdict.status is SignatureStatus.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("signature", "text"),
    [
        ("", "no signature"),
        ("not base64 !!", "not base64"),
        ("QUJD", "does not verify"),
        ("A" * 801, "longer than 800"),
    ],
)
def test_missing_or_garbled_signature_is_invalid(
    maker: CertificateAuthority, signature: str, text: str, warnings: Callable[[], list[str]]
) -> None:
    certificate = maker.issue(name("Signer"), generate_key().public_key(), code_signing=True)
    assert verify_signature(IMAGE, signature, certificate).status is SignatureStatus.INVALID_SIGNATURE
    lines = warnings()
    assert len(lines) == 1 and text in lines[0]


def test_ecdsa_signature_with_line_breaks_in_base64_verifies(maker: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    certificate = maker.issue(name("Signer"), key.public_key(), code_signing=True)
    signature = sign_firmware(IMAGE, key)
    wrapped = "\n".join(signature[i : i + 16] for i in range(0, len(signature), 16))
    assert verify_signature(IMAGE, wrapped, certificate).status is SignatureStatus.SIGNATURE_VERIFIED
