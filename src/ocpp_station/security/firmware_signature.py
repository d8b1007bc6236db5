"""Signed firmware (L01): the signing certificate against the ManufacturerRootCertificates, then the signature
over the whole downloaded file.

L01.FR.04 names RSA-PSS or "ECSchnorr" with SHA-256. RSA-PSS is verified with any salt length (signing tools
differ in the salt they pick). ECSchnorr has no standard encoding; what deployed signing tools produce for EC
keys is ECDSA, DER-encoded, which is what is accepted for an EC signing certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import PemError, is_ca, issued_by, parse_certificate, strength_problem, validity_problem

log = logging.getLogger("ocpp_station.security")

MAX_SIGNATURE_CHARS = 800  # §6.9 FirmwareType.signature string[0..800]
_CHUNK = 1 << 20


class CertificateStatus(StrEnum):
    """The SignedUpdateFirmware.conf statuses (§6.18) the certificate check decides."""

    ACCEPTED = "Accepted"
    INVALID_CERTIFICATE = "InvalidCertificate"


class SignatureStatus(StrEnum):
    """The SignedFirmwareStatusNotification statuses (§6.8) the signature check decides."""

    SIGNATURE_VERIFIED = "SignatureVerified"
    INVALID_SIGNATURE = "InvalidSignature"


@dataclass(frozen=True, slots=True)
class SigningCertificateVerdict:
    status: CertificateStatus
    reason: str
    certificate: x509.Certificate | None = None

    @property
    def security_event(self) -> SecurityEvent | None:
        # L01.FR.02: the Invalid Certificate state raises InvalidFirmwareSigningCertificate.
        if self.status is CertificateStatus.INVALID_CERTIFICATE:
            return SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE
        return None


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    status: SignatureStatus
    reason: str

    @property
    def security_event(self) -> SecurityEvent | None:
        # L01.FR.03: the Invalid Signature state raises InvalidFirmwareSignature.
        if self.status is SignatureStatus.INVALID_SIGNATURE:
            return SecurityEvent.INVALID_FIRMWARE_SIGNATURE
        return None


def verify_signing_certificate(
    pem: str, manufacturer_roots: Sequence[x509.Certificate], *, now: float
) -> SigningCertificateVerdict:
    """L01.FR.23/24: before accepting SignedUpdateFirmware.req. Logs one line for an invalid certificate."""
    verdict = _verify_signing_certificate(pem, manufacturer_roots, now)
    if verdict.status is not CertificateStatus.ACCEPTED:
        log.warning("SignedUpdateFirmware signing certificate invalid: %s", verdict.reason)
    return verdict


def _verify_signing_certificate(pem: str, roots: Sequence[x509.Certificate], now: float) -> SigningCertificateVerdict:
    try:
        certificate = parse_certificate(pem)
    except PemError as error:
        return _invalid(f"malformed PEM: {error}")
    problem = validity_problem(certificate, now) or strength_problem(certificate)
    if problem:
        return _invalid(problem)
    if is_ca(certificate):
        return _invalid("a CA certificate cannot be the firmware signing certificate")
    if not roots:
        return _invalid("no ManufacturerRootCertificate installed")
    # L01 remark: the manufacturer SHALL NOT use intermediates, so the root must have signed it directly.
    root = next((r for r in roots if issued_by(certificate, r)), None)
    if root is None:
        return _invalid("not signed by an installed ManufacturerRootCertificate")
    problem = validity_problem(root, now)
    if problem:
        return _invalid(f"ManufacturerRootCertificate {problem}")
    reason = "signed by an installed ManufacturerRootCertificate"
    return SigningCertificateVerdict(CertificateStatus.ACCEPTED, reason, certificate)


def _invalid(reason: str) -> SigningCertificateVerdict:
    return SigningCertificateVerdict(CertificateStatus.INVALID_CERTIFICATE, reason)


def sha256_of(image: bytes | Path) -> bytes:
    """The SHA-256 of the image, read in chunks so a large downloaded file is never held in memory."""
    if isinstance(image, bytes):
        return hashlib.sha256(image).digest()
    digest = hashlib.sha256()
    with image.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def verify_signature(image: bytes | Path, signature: str, certificate: x509.Certificate) -> SignatureVerdict:
    """L01.FR.04/12: `signature` (base64) over the whole file, with the signing certificate's key.

    Logs one line for an invalid signature; a missing signature is invalid too (L01 scenario step 5).
    """
    verdict = _verify_signature(image, signature, certificate)
    if verdict.status is not SignatureStatus.SIGNATURE_VERIFIED:
        log.warning("firmware signature invalid: %s", verdict.reason)
    return verdict


def _verify_signature(image: bytes | Path, signature: str, certificate: x509.Certificate) -> SignatureVerdict:
    if not signature.strip():
        return SignatureVerdict(SignatureStatus.INVALID_SIGNATURE, "no signature")
    if len(signature) > MAX_SIGNATURE_CHARS:
        return SignatureVerdict(SignatureStatus.INVALID_SIGNATURE, f"signature longer than {MAX_SIGNATURE_CHARS}")
    try:
        raw = base64.b64decode("".join(signature.split()), validate=True)
    except (binascii.Error, ValueError):
        return SignatureVerdict(SignatureStatus.INVALID_SIGNATURE, "signature is not base64")
    digest = sha256_of(image)
    prehashed = utils.Prehashed(hashes.SHA256())
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(raw, digest, pss, prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, digest, ec.ECDSA(prehashed))
        else:
            return SignatureVerdict(SignatureStatus.INVALID_SIGNATURE, f"unsupported key {type(key).__name__}")
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return SignatureVerdict(SignatureStatus.INVALID_SIGNATURE, "signature does not verify over the image")
    return SignatureVerdict(SignatureStatus.SIGNATURE_VERIFIED, "signature verified")
