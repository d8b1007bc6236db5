"""security.pki: the station key, the CSR, PEM parsing, CertificateSigned chain checks, certificate hash data."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    MAX_CERTIFICATE_CHARS,
    CertificateHashData,
    CertificateSignedStatus,
    HashAlgorithm,
    KeyType,
    PemError,
    PrivateKey,
    build_csr,
    certificate_hash_data,
    certificate_pem,
    generate_key,
    issuer_key_bits,
    parse_certificate,
    parse_certificates,
    read_private_key,
    verify_certificate_chain,
    write_private_key,
)

from .conftest import name

DAY = timedelta(days=1)


def leaf_for(ca: CertificateAuthority, key: PrivateKey, **kwargs: object) -> str:
    return certificate_pem(ca.issue(name("CP-0001"), key.public_key(), client=True, **kwargs))  # type: ignore[arg-type]


# --- keys -----------------------------------------------------------------------------------------------------


def test_default_key_is_ec_p256_and_rsa_is_2048() -> None:
    key = generate_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    rsa_key = generate_key(KeyType.RSA_2048)
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 2048


def test_private_key_file_is_owner_only_and_round_trips(tmp_path: Path, station_key: PrivateKey) -> None:
    path = tmp_path / "station.key"
    path.write_text("old")
    path.chmod(0o644)  # an existing wider file is narrowed, not kept
    write_private_key(path, station_key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_private_key(path).private_numbers() == station_key.private_numbers()


def test_new_private_key_file_is_never_wider_than_0600_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_key(tmp_path / "k", generate_key())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, station_key: PrivateKey) -> None:
    path = tmp_path / "station.key"
    write_private_key(path, station_key)
    path.chmod(0o640)
    with pytest.raises(PermissionError, match="only the owner"):
        read_private_key(path)


# --- CSR ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KeyType))
def test_csr_subject_is_serial_and_cpo_name(kind: KeyType) -> None:
    key = generate_key(kind)
    csr = x509.load_pem_x509_csr(build_csr(key, serial_number="CP-0001", cpo_name="Acme CPO").encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-0001"  # A00.FR.511
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme CPO"  # A02.FR.13
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def test_csr_fits_sign_certificate(station_key: PrivateKey) -> None:
    from ocpp_station.protocol.schemas import validate_request

    for key in (station_key, generate_key(KeyType.RSA_2048)):
        validate_request("SignCertificate", {"csr": build_csr(key, serial_number="CP-0001", cpo_name="Acme")})


@pytest.mark.parametrize(
    ("serial", "cpo", "message"),
    [
        ("CP-0001", "", "CpoName"),
        ("", "Acme", "empty"),
        ("192.168.1.10", "Acme", "IP address"),
        ("wss://cs.example.com/ocpp", "Acme", "URL"),
    ],
)
def test_csr_refuses_what_the_whitepaper_forbids(serial: str, cpo: str, message: str, station_key: PrivateKey) -> None:
    with pytest.raises(ValueError, match=message):
        build_csr(station_key, serial_number=serial, cpo_name=cpo)


# --- PEM ------------------------------------------------------------------------------------------------------


def test_parse_chain_in_order(cpo: CertificateAuthority, station_key: PrivateKey) -> None:
    leaf = leaf_for(cpo, station_key)
    assert [c.subject for c in parse_certificates(leaf + cpo.pem)] == [
        name("CP-0001"),
        cpo.certificate.subject,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no PEM certificate"),
        ("hello", "no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "block 1 is not an X.509 certificate"),
        ("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "block 1 is not an X.509 certificate"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PRIVATE KEY, not a CERTIFICATE"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "no PEM certificate"),
    ],
)
def test_malformed_pem_gets_one_line_reason(text: str, message: str) -> None:
    with pytest.raises(PemError, match=message) as raised:
        parse_certificates(text)
    assert "\n" not in str(raised.value)


def test_text_around_the_blocks_is_refused(cpo: CertificateAuthority) -> None:
    with pytest.raises(PemError, match="outside"):
        parse_certificates("junk\n" + cpo.pem)
    with pytest.raises(PemError, match="outside"):
        parse_certificates(cpo.pem + "junk")
    assert len(parse_certificates("\n" + cpo.pem + "\r\n")) == 1


def test_parse_certificate_wants_exactly_one(cpo: CertificateAuthority) -> None:
    with pytest.raises(PemError, match="2 certificates"):
        parse_certificate(cpo.pem + cpo.pem)


def test_huge_certificate_is_refused_before_parsing(cpo: CertificateAuthority) -> None:
    huge = cpo.issue(name("big"), generate_key().public_key(), server_names=[f"h{i}.example.com" for i in range(300)])
    text = certificate_pem(huge)
    assert len(text) > MAX_CERTIFICATE_CHARS
    with pytest.raises(PemError, match=f"more than the {MAX_CERTIFICATE_CHARS}"):
        parse_certificate(text)


# --- CertificateSigned chain ----------------------------------------------------------------------------------


def test_leaf_signed_by_installed_root_is_accepted(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    chain = leaf_for(cpo, station_key)
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    assert verdict.status is CertificateSignedStatus.ACCEPTED and verdict.accepted
    assert verdict.security_event is None
    assert [c.subject for c in verdict.chain] == [name("CP-0001")]
    assert warnings() == []


def test_intermediates_in_any_order_are_followed(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float
) -> None:
    sub1_key, sub2_key = generate_key(), generate_key()
    sub1 = CertificateAuthority(cpo.issue(name("Sub 1"), sub1_key.public_key(), ca=True), sub1_key)
    sub2 = CertificateAuthority(sub1.issue(name("Sub 2"), sub2_key.public_key(), ca=True), sub2_key)
    leaf = leaf_for(sub2, station_key)
    for chain in (leaf + sub2.pem + sub1.pem, leaf + sub1.pem + sub2.pem):
        verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
        assert verdict.accepted, verdict.reason


def test_roots_listed_in_the_chain_are_harmless(cpo: CertificateAuthority, station_key: PrivateKey, now: float) -> None:
    verdict = verify_certificate_chain(
        leaf_for(cpo, station_key) + cpo.pem, roots=[cpo.certificate], station_key=station_key, now=now
    )
    assert verdict.accepted, verdict.reason


def _rejected(verdict_reason: str, warnings: Callable[[], list[str]], expected: str) -> None:
    assert expected in verdict_reason
    lines = warnings()
    assert len(lines) == 1 and expected in lines[0]


def test_malformed_pem_chain_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    verdict = verify_certificate_chain("not a pem", roots=[cpo.certificate], station_key=station_key, now=now)
    assert verdict.status is CertificateSignedStatus.REJECTED
    assert verdict.security_event is SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE  # A02.FR.07
    _rejected(verdict.reason, warnings, "malformed PEM")


def test_chain_longer_than_certificate_signed_max_chain_size_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    chain = leaf_for(cpo, station_key) + cpo.pem
    ok = verify_certificate_chain(
        chain, roots=[cpo.certificate], station_key=station_key, now=now, max_chain_size=len(chain)
    )
    assert ok.accepted
    verdict = verify_certificate_chain(
        chain, roots=[cpo.certificate], station_key=station_key, now=now, max_chain_size=len(chain) - 1
    )
    assert verdict.status is CertificateSignedStatus.REJECTED
    _rejected(verdict.reason, warnings, "exceeds CertificateSignedMaxChainSize")


def test_chain_beyond_the_field_limit_is_rejected_whatever_the_key_says(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    chain = leaf_for(cpo, station_key) + cpo.pem * 20
    assert len(chain) > 10_000
    verdict = verify_certificate_chain(
        chain, roots=[cpo.certificate], station_key=station_key, now=now, max_chain_size=50_000
    )
    _rejected(verdict.reason, warnings, "exceeds CertificateSignedMaxChainSize 10000")


def test_expired_certificate_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    start = datetime.fromtimestamp(now, UTC) - 10 * DAY
    chain = leaf_for(cpo, station_key, not_before=start, validity=5 * DAY)
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    assert verdict.status is CertificateSignedStatus.REJECTED
    _rejected(verdict.reason, warnings, "expired")


def test_not_yet_valid_certificate_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    chain = leaf_for(cpo, station_key, not_before=datetime.fromtimestamp(now, UTC) + DAY)
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    assert verdict.status is CertificateSignedStatus.REJECTED
    _rejected(verdict.reason, warnings, "not valid before")


def test_expired_intermediate_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    sub_key = generate_key()
    start = datetime.fromtimestamp(now, UTC) - 10 * DAY
    sub = CertificateAuthority(
        cpo.issue(name("Sub"), sub_key.public_key(), ca=True, not_before=start, validity=DAY), sub_key
    )
    verdict = verify_certificate_chain(
        leaf_for(sub, station_key) + sub.pem, roots=[cpo.certificate], station_key=station_key, now=now
    )
    _rejected(verdict.reason, warnings, "O=Test CPO,CN=Sub expired")


def test_certificate_for_another_key_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    chain = leaf_for(cpo, generate_key())
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    assert verdict.status is CertificateSignedStatus.REJECTED
    _rejected(verdict.reason, warnings, "another key")


def test_certificate_from_another_root_is_rejected(
    cpo: CertificateAuthority,
    other_cpo: CertificateAuthority,
    station_key: PrivateKey,
    now: float,
    warnings: Callable[[], list[str]],
) -> None:
    chain = leaf_for(other_cpo, station_key) + other_cpo.pem
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    _rejected(verdict.reason, warnings, "does not chain to an installed root")


def test_no_installed_root_rejects_everything(cpo: CertificateAuthority, station_key: PrivateKey, now: float) -> None:
    verdict = verify_certificate_chain(leaf_for(cpo, station_key), roots=[], station_key=station_key, now=now)
    assert not verdict.accepted


def test_forged_issuer_name_does_not_pass(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    # Same issuer name as the installed root, signed by another key: the signature decides, not the name.
    impostor = CertificateAuthority(cpo.certificate, generate_key())
    verdict = verify_certificate_chain(
        leaf_for(impostor, station_key), roots=[cpo.certificate], station_key=station_key, now=now
    )
    _rejected(verdict.reason, warnings, "does not chain")


def test_non_ca_intermediate_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    sub_key = generate_key()
    sub = CertificateAuthority(cpo.issue(name("Not a CA"), sub_key.public_key(), ca=False), sub_key)
    verdict = verify_certificate_chain(
        leaf_for(sub, station_key) + sub.pem, roots=[cpo.certificate], station_key=station_key, now=now
    )
    _rejected(verdict.reason, warnings, "not a CA certificate")


def test_weak_intermediate_key_is_rejected(
    cpo: CertificateAuthority, station_key: PrivateKey, now: float, warnings: Callable[[], list[str]]
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    sub = CertificateAuthority(cpo.issue(name("Weak"), weak.public_key(), ca=True), weak)
    verdict = verify_certificate_chain(
        leaf_for(sub, station_key) + sub.pem, roots=[cpo.certificate], station_key=station_key, now=now
    )
    _rejected(verdict.reason, warnings, "1024-bit RSA key")


def test_leaf_that_is_a_ca_is_rejected(cpo: CertificateAuthority, station_key: PrivateKey, now: float) -> None:
    chain = certificate_pem(cpo.issue(name("CP-0001"), station_key.public_key(), ca=True))
    verdict = verify_certificate_chain(chain, roots=[cpo.certificate], station_key=station_key, now=now)
    assert not verdict.accepted and "CA certificate" in verdict.reason


# --- hash data ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
@pytest.mark.parametrize("kind", list(KeyType))
def test_hash_data_is_ocsp_cert_id(algorithm: HashAlgorithm, kind: KeyType) -> None:
    # cryptography's OCSP request builder computes RFC 6960 CertID independently of pki.
    ca = CertificateAuthority.new_root("Hash Root", "Test CPO", key_type=kind)
    leaf = ca.issue(name("CP-0001"), generate_key().public_key(), client=True)
    reference = {
        HashAlgorithm.SHA256: hashes.SHA256(),
        HashAlgorithm.SHA384: hashes.SHA384(),
        HashAlgorithm.SHA512: hashes.SHA512(),
    }[algorithm]
    for certificate, issuer in ((leaf, ca.certificate), (ca.certificate, ca.certificate)):
        request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, reference).build()
        data = certificate_hash_data(certificate, issuer_key=issuer_key_bits(issuer), algorithm=algorithm)
        assert data.hash_algorithm is algorithm
        assert data.issuer_name_hash == request.issuer_name_hash.hex()
        assert data.issuer_key_hash == request.issuer_key_hash.hex()
        assert int(data.serial_number, 16) == request.serial_number


def test_serial_number_is_upper_hex_without_leading_zeroes(cpo: CertificateAuthority) -> None:
    certificate = cpo.issue(name("s"), generate_key().public_key(), serial_number=4095)
    assert certificate_hash_data(certificate).serial_number == "FFF"  # §6.1's own example
    assert certificate_hash_data(certificate).as_payload()["serialNumber"] == "FFF"


def test_hash_data_payload_fits_the_schema(cpo: CertificateAuthority) -> None:
    from ocpp_station.protocol.schemas import validate_request

    payload = certificate_hash_data(cpo.certificate, algorithm=HashAlgorithm.SHA512).as_payload()
    validate_request("DeleteCertificate", {"certificateHashData": payload})
    assert CertificateHashData.from_payload(payload) == certificate_hash_data(
        cpo.certificate, algorithm=HashAlgorithm.SHA512
    )


def test_hash_data_matches_case_insensitively_and_by_serial_value(cpo: CertificateAuthority) -> None:
    data = certificate_hash_data(cpo.certificate)
    shouted = CertificateHashData(
        data.hash_algorithm,
        data.issuer_name_hash.upper(),
        data.issuer_key_hash.upper(),
        "00" + data.serial_number.lower(),
    )
    assert data.matches(shouted)
    other_serial = CertificateHashData(data.hash_algorithm, data.issuer_name_hash, data.issuer_key_hash, "1")
    assert not data.matches(other_serial)
    not_hex = CertificateHashData(data.hash_algorithm, data.issuer_name_hash, data.issuer_key_hash, "zz")
    assert not data.matches(not_hex)
    other_algorithm = CertificateHashData(
        HashAlgorithm.SHA384, data.issuer_name_hash, data.issuer_key_hash, data.serial_number
    )
    assert not data.matches(other_algorithm)
