"""The station's key pair, its CSR, PEM parsing, chain verification and OCPP certificate hash data.

Every key, CSR, certificate and signature operation goes through `cryptography`. Nothing here does I/O except
`write_private_key`, which exists so that the one file holding the private key is created owner-only.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ocpp_station.security.events import SecurityEvent

log = logging.getLogger("ocpp_station.security")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

MAX_CERTIFICATE_CHARS = 5500  # §5.11 InstallCertificate.certificate, §6.9 signingCertificate: string[0..5500]
MAX_CHAIN_CHARS = 10_000  # §5.1 certificateChain string[0..10000]; §7.3 caps CertificateSignedMaxChainSize at 10.000
MIN_RSA_BITS = 2048  # A00.FR.502
MIN_EC_BITS = 224  # A00.FR.503
_WEAK_HASHES = frozenset({"md5", "sha1", "sha224"})  # A00.FR.504/506: SHA-256 or stronger

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class PemError(ValueError):
    """Text that is not the PEM the whitepaper asks for (A00.FR.507); the message is one line."""


class KeyType(StrEnum):
    EC_P256 = "EC_P256"  # the default: short keys and fast handshakes, A00.FR.503
    RSA_2048 = "RSA_2048"  # A00.FR.502's minimum, for Central Systems that only offer TLS_RSA suites


class CertificateSignedStatus(StrEnum):
    """§6.2 CertificateSignedStatusEnumType."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class HashAlgorithm(StrEnum):
    """§6.12 HashAlgorithmEnumType."""

    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


_HASHES: dict[HashAlgorithm, type[hashes.HashAlgorithm]] = {
    HashAlgorithm.SHA256: hashes.SHA256,
    HashAlgorithm.SHA384: hashes.SHA384,
    HashAlgorithm.SHA512: hashes.SHA512,
}


# --- keys -----------------------------------------------------------------------------------------------------


def generate_key(kind: KeyType = KeyType.EC_P256) -> PrivateKey:
    """A fresh key pair made on the station (A02.FR.02/A03.FR.02); the private half never leaves it (A02.FR.05)."""
    if kind is KeyType.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise PemError(f"not an unencrypted PEM private key: {_first_line(error)}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PemError(f"unsupported private key type {type(key).__name__}: EC or RSA expected")
    return key


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write the key so that only the station's user can read it, from the first byte on (A02.FR.05).

    os.open with mode 0o600 creates the file owner-only, so there is no window in which it is world-readable;
    fchmod covers a file that already existed with a wider mode.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_key_pem(key))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private_key(path: Path) -> PrivateKey:
    """Load the station key, refusing a file that anyone but its owner could read (A02.FR.05)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path}: private key file has mode {mode:o}, only the owner may have access")
    return load_private_key_pem(path.read_bytes())


def public_key_der(key: Any) -> bytes:
    """The SubjectPublicKeyInfo DER of a key or certificate: equal bytes ⇔ equal public keys."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return bytes(public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


# --- CSR ------------------------------------------------------------------------------------------------------


def _looks_like_url_or_ip(text: str) -> bool:
    if "://" in text or "/" in text:
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def build_csr(key: PrivateKey, *, serial_number: str, cpo_name: str) -> str:
    """The PEM CSR of SignCertificate.req (A02.FR.03, RFC 2986), signed with SHA-256 (A00.FR.506).

    Subject: CN = the station's unique serial number (A00.FR.511, which the Central System checks by
    A00.FR.405; not a URL or IP address so that it cannot pass for a Central System certificate) and
    O = CpoName (A02.FR.13/A03.FR.13; CpoName MUST be set, A02/A03 prerequisite).
    """
    if not cpo_name.strip():
        raise ValueError("CpoName is not set: it is the CSR's organizationName (A02.FR.13)")
    if not serial_number.strip():
        raise ValueError("the CSR's commonName (the station's serial number) is empty (A00.FR.511)")
    if _looks_like_url_or_ip(serial_number):
        raise ValueError(f"commonName {serial_number!r} looks like a URL or IP address (A00.FR.511)")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, serial_number),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cpo_name),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- PEM ------------------------------------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def parse_certificates(text: str, *, max_chars: int = MAX_CHAIN_CHARS) -> list[x509.Certificate]:
    """All certificates of a PEM text, in order; nothing but whitespace may stand between the blocks."""
    if len(text) > max_chars:
        raise PemError(f"{len(text)} characters, more than the {max_chars} allowed")
    certificates: list[x509.Certificate] = []
    position = 0
    for number, match in enumerate(_PEM_BLOCK.finditer(text), start=1):
        if text[position : match.start()].strip():
            raise PemError(f"text outside the PEM blocks before block {number}")
        if match.group(1) != "CERTIFICATE":
            raise PemError(f"block {number} is a {match.group(1)}, not a CERTIFICATE")
        try:
            certificates.append(x509.load_pem_x509_certificate(match.group(0).encode("ascii")))
        except (ValueError, UnicodeEncodeError) as error:
            raise PemError(f"block {number} is not an X.509 certificate: {_first_line(error)}") from None
        position = match.end()
    if text[position:].strip():
        raise PemError("text outside the PEM blocks" if certificates else "no PEM certificate found")
    if not certificates:
        raise PemError("no PEM certificate found")
    return certificates


def parse_certificate(text: str, *, max_chars: int = MAX_CERTIFICATE_CHARS) -> x509.Certificate:
    """Exactly one PEM certificate (InstallCertificate.certificate, FirmwareType.signingCertificate)."""
    certificates = parse_certificates(text, max_chars=max_chars)
    if len(certificates) != 1:
        raise PemError(f"{len(certificates)} certificates where exactly one is expected")
    return certificates[0]


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- certificate checks ---------------------------------------------------------------------------------------


def _moment(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def _describe(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or f"serial {certificate.serial_number:X}"


def validity_problem(certificate: x509.Certificate, now: float) -> str | None:
    """Why the certificate is outside its validity period at `now` (A02.FR.06), or None."""
    moment = _moment(now)
    if moment < certificate.not_valid_before_utc:
        return f"{_describe(certificate)} is not valid before {certificate.not_valid_before_utc.isoformat()}"
    if moment > certificate.not_valid_after_utc:
        return f"{_describe(certificate)} expired at {certificate.not_valid_after_utc.isoformat()}"
    return None


def strength_problem(certificate: x509.Certificate) -> str | None:
    """Why the certificate's key or signature hash is too weak (A00.FR.501–504/506), or None."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"{_describe(certificate)} has a {key.key_size}-bit RSA key, at least {MIN_RSA_BITS} required"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"{_describe(certificate)} has a {key.curve.key_size}-bit EC key, at least {MIN_EC_BITS} required"
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return f"{_describe(certificate)} has an unsupported {type(key).__name__} key"
    algorithm = certificate.signature_hash_algorithm
    if algorithm is not None and algorithm.name in _WEAK_HASHES:
        return f"{_describe(certificate)} is signed with {algorithm.name.upper()}, SHA-256 or stronger required"
    return None


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The issuer's name matches and its key verifies the signature (RFC 5280 §6 for one link)."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def is_self_signed(certificate: x509.Certificate) -> bool:
    return issued_by(certificate, certificate)


def path_to_roots(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: float,
) -> tuple[list[x509.Certificate] | None, str]:
    """The path leaf → intermediates → installed root, every link and every certificate checked.

    Returns (path ending with the root, "") or (None, one-line reason). The intermediates may come in any
    order; each is used at most once, so a loop in them cannot make this run forever.
    """
    path = [leaf]
    unused = list(intermediates)
    current = leaf
    while True:
        problem = validity_problem(current, now) or strength_problem(current)
        if problem:
            return None, problem
        root = next((r for r in roots if issued_by(current, r)), None)
        if root is not None:
            problem = validity_problem(root, now) or strength_problem(root)
            if problem:
                return None, f"installed root {problem}"
            if root is not current:
                path.append(root)
            return path, ""
        issuer = next((c for c in unused if c is not current and issued_by(current, c)), None)
        if issuer is None:
            return None, f"{_describe(current)} does not chain to an installed root certificate"
        if not is_ca(issuer):
            return None, f"{_describe(issuer)} signs {_describe(current)} but is not a CA certificate"
        unused.remove(issuer)
        path.append(issuer)
        current = issuer


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The outcome of CertificateSigned.req's certificateChain (§5.2, A02.FR.06/07)."""

    status: CertificateSignedStatus
    reason: str
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status is CertificateSignedStatus.ACCEPTED

    @property
    def security_event(self) -> SecurityEvent | None:
        # A02.FR.07/A03.FR.07: a certificate that is not valid raises InvalidChargePointCertificate.
        return None if self.accepted else SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE


def verify_certificate_chain(
    chain_pem: str,
    *,
    roots: Sequence[x509.Certificate],
    station_key: Any,
    now: float,
    max_chain_size: int | None = None,
) -> ChainVerdict:
    """Check CertificateSigned.req's certificateChain: the station certificate first, sub-CAs after it.

    A02.FR.06: the validity period of every certificate, the Certificate Properties (key sizes and hashes,
    A00.FR.501–506), and membership of the CPO hierarchy, i.e. a path to an installed
    CentralSystemRootCertificate (the root "used by the CA to sign the Central System and Charge Point
    certificate", §6.4). The leaf must certify the key pair this station generated for its CSR.
    `max_chain_size` is CertificateSignedMaxChainSize: the size of the certificateChain field in characters
    (§7.3), which for PEM's ASCII are bytes; it is capped at the field's own 10.000 (§5.1).
    Logs one line for a rejection.
    """
    verdict = _verify_chain(chain_pem, roots, station_key, now, max_chain_size)
    if not verdict.accepted:
        log.warning("CertificateSigned rejected: %s", verdict.reason)
    return verdict


def _verify_chain(
    chain_pem: str, roots: Sequence[x509.Certificate], station_key: Any, now: float, max_chain_size: int | None
) -> ChainVerdict:
    limit = MAX_CHAIN_CHARS if max_chain_size is None else min(max_chain_size, MAX_CHAIN_CHARS)
    if len(chain_pem) > limit:
        size = len(chain_pem)
        return _rejected(f"certificateChain of {size} characters exceeds CertificateSignedMaxChainSize {limit}")
    try:
        certificates = parse_certificates(chain_pem, max_chars=limit)
    except PemError as error:
        return _rejected(f"malformed PEM: {error}")
    leaf, intermediates = certificates[0], certificates[1:]
    if public_key_der(leaf) != public_key_der(station_key):
        return _rejected(f"{_describe(leaf)} certifies another key than the station's")
    if is_ca(leaf):
        return _rejected(f"{_describe(leaf)} is a CA certificate, not a Charge Point certificate")
    path, reason = path_to_roots(leaf, intermediates, roots, now)
    if path is None:
        return _rejected(reason)
    return ChainVerdict(CertificateSignedStatus.ACCEPTED, f"{_describe(leaf)} accepted", tuple(certificates))


def _rejected(reason: str) -> ChainVerdict:
    return ChainVerdict(CertificateSignedStatus.REJECTED, reason)


# --- certificate hash data (§6.1) -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """§6.1 CertificateHashDataType, encoded as OCSP's CertID (RFC 6960 §4.1.1, edition 3 changelog)."""

    hash_algorithm: HashAlgorithm
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def as_payload(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm.value,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CertificateHashData:
        """From a schema-valid DeleteCertificate.req certificateHashData."""
        return cls(
            HashAlgorithm(payload["hashAlgorithm"]),
            str(payload["issuerNameHash"]),
            str(payload["issuerKeyHash"]),
            str(payload["serialNumber"]),
        )

    def matches(self, other: CertificateHashData) -> bool:
        """Equal as CiStrings (§6.5/6.6: case-insensitive); the serial compared as the number it denotes, so
        a Central System that sends a leading zero the edition forbids still finds its certificate."""
        if self.hash_algorithm is not other.hash_algorithm:
            return False
        if self.issuer_name_hash.lower() != other.issuer_name_hash.lower():
            return False
        if self.issuer_key_hash.lower() != other.issuer_key_hash.lower():
            return False
        return _serial_value(self.serial_number) == _serial_value(other.serial_number)


def _serial_value(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def issuer_key_bits(issuer: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value (no tag, length or unused-bits octet), as RFC 6960 hashes it."""
    key = issuer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise PemError(f"unsupported issuer key type {type(key).__name__}")


def certificate_hash_data(
    certificate: x509.Certificate,
    *,
    issuer_key: bytes | None = None,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
) -> CertificateHashData:
    """§6.1 for `certificate`: hexbinary hashes of the DER issuer name and of the issuer's key, and the serial
    as upper-case hex without leading zeroes (4095 → "FFF").

    `issuer_key` is `issuer_key_bits` of the issuing certificate; a self-signed root is its own issuer.
    """
    if issuer_key is None:
        issuer_key = issuer_key_bits(certificate)
    name_hash = hashes.Hash(_HASHES[algorithm]())
    name_hash.update(certificate.issuer.public_bytes())
    key_hash = hashes.Hash(_HASHES[algorithm]())
    key_hash.update(issuer_key)
    return CertificateHashData(
        algorithm,
        name_hash.finalize().hex(),
        key_hash.finalize().hex(),
        f"{certificate.serial_number:X}",
    )
