"""The root-certificate store: InstallCertificate (M05), DeleteCertificate (M04), GetInstalledCertificateIds (M03).

Pure logic over `CertificatePersistence`, a small port the composition root maps onto the station's store.
The store holds the two CertificateUseEnumType kinds (§6.4); the Charge Point certificate lives elsewhere and
is never deletable through DeleteCertificate (M04.FR.05), so the caller names it via `protected`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    CertificateHashData,
    HashAlgorithm,
    PemError,
    certificate_hash_data,
    certificate_pem,
    is_ca,
    issued_by,
    issuer_key_bits,
    parse_certificate,
    strength_problem,
    validity_problem,
)

log = logging.getLogger("ocpp_station.security")


class CertificateUse(StrEnum):
    """§6.4 CertificateUseEnumType."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"


class InstallStatus(StrEnum):
    """§6.3 CertificateStatusEnumType (InstallCertificate.conf)."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    REJECTED = "Rejected"


class DeleteStatus(StrEnum):
    """§6.7 DeleteCertificateStatusEnumType; M04.FR.02's 'Success' is the enum's and schema's Accepted."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"


class GetInstalledStatus(StrEnum):
    """§6.11 GetInstalledCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """One installed certificate as persisted.

    `issuer_key` is the issuing certificate's key as RFC 6960 hashes it (`pki.issuer_key_bits`), kept because
    a replacement root installed under AdditionalRootCertificateCheck is signed by the old root (M05.FR.09),
    and its hash data must stay computable after that old root is gone (M05.FR.12).
    `fallback` marks the old CentralSystemRootCertificate kept by M05.FR.11 until M05.FR.12 removes it.
    """

    certificate_id: str
    use: CertificateUse
    pem: str
    issuer_key: bytes
    fallback: bool = False


class CertificatePersistence(Protocol):
    """Where installed certificates live. Each call is atomic; a failing call raises (OSError or other)."""

    def certificates(self, use: CertificateUse | None = None) -> list[StoredCertificate]:
        """Every stored certificate of `use` (all when None), in installation order."""
        ...

    def put(self, certificate: StoredCertificate) -> None:
        """Insert, or replace the certificate with the same certificate_id."""
        ...

    def delete(self, certificate_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class InstallResult:
    status: InstallStatus
    reason: str
    security_event: SecurityEvent | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    status: DeleteStatus
    reason: str


@dataclass(frozen=True, slots=True)
class InstalledIds:
    status: GetInstalledStatus
    hash_data: tuple[CertificateHashData, ...]

    def as_payload(self) -> dict[str, Any]:
        """GetInstalledCertificateIds.conf; the schema wants certificateHashData absent rather than empty."""
        payload: dict[str, Any] = {"status": self.status.value}
        if self.hash_data:
            payload["certificateHashData"] = [data.as_payload() for data in self.hash_data]
        return payload


def certificate_id(certificate: x509.Certificate) -> str:
    """A stable id: the SHA-256 fingerprint, so installing the same certificate twice stores it once."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def hash_data_of(stored: StoredCertificate, algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> CertificateHashData:
    return certificate_hash_data(parse_certificate(stored.pem), issuer_key=stored.issuer_key, algorithm=algorithm)


class CertificateStore:
    """M03/M04/M05 decisions; every refusal logs one line and leaves the persistence untouched."""

    def __init__(
        self,
        persistence: CertificatePersistence,
        *,
        max_length: int | None = None,
        additional_root_certificate_check: bool = False,
    ) -> None:
        self._persistence = persistence
        self.max_length = max_length  # CertificateStoreMaxLength (§7.4); None: no limit configured
        self.additional_root_certificate_check = additional_root_certificate_check  # §7.1

    # --- M05 InstallCertificate -------------------------------------------------------------------------------

    def install(self, use: CertificateUse, pem: str, *, now: float, log_refusal: bool = True) -> InstallResult:
        """`log_refusal=False`: the caller reports a refusal itself (provisioning raises it as one line)."""
        result = self._install(use, pem, now)
        if log_refusal and result.status is not InstallStatus.ACCEPTED:
            log.warning("InstallCertificate %s %s: %s", use.value, result.status.value, result.reason)
        return result

    def _install(self, use: CertificateUse, pem: str, now: float) -> InstallResult:
        # TC_078: an invalid CentralSystemRootCertificate is Rejected and raises InvalidCentralSystemCertificate.
        event = SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE if use is CertificateUse.CENTRAL_SYSTEM_ROOT else None
        try:
            certificate = parse_certificate(pem)
        except PemError as error:
            return InstallResult(InstallStatus.REJECTED, f"malformed PEM: {error}", event)
        # M05.FR.06: an invalid and/or incorrect certificate is Rejected.
        problem = validity_problem(certificate, now) or strength_problem(certificate)
        if problem is None and not is_ca(certificate):
            problem = "not a CA certificate (basicConstraints cA is not true)"
        if problem:
            return InstallResult(InstallStatus.REJECTED, problem, event)

        new_id = certificate_id(certificate)
        existing = self._persistence.certificates()
        if any(stored.certificate_id == new_id for stored in existing):
            return InstallResult(InstallStatus.ACCEPTED, "already installed")

        replacing = use is CertificateUse.CENTRAL_SYSTEM_ROOT and self.additional_root_certificate_check
        current = [s for s in existing if s.use is use and not s.fallback] if replacing else []
        issuer_key: bytes | None = None
        if replacing and current:
            # M05.FR.09/10: the new root must be signed by the old root it replaces.
            old = next((s for s in current if issued_by(certificate, parse_certificate(s.pem))), None)
            if old is None:
                return InstallResult(
                    InstallStatus.REJECTED, "AdditionalRootCertificateCheck: not signed by the installed root", event
                )
            issuer_key = issuer_key_bits(parse_certificate(old.pem))
        elif not issued_by(certificate, certificate):
            # InstallCertificate installs root certificates (M05 remark); only a self-signed one is its own
            # trust anchor, so anything else would leave its hash data (and its path) undefined.
            return InstallResult(InstallStatus.REJECTED, "not a self-signed root certificate", event)

        dropped = [s for s in existing if s.use is use and s.fallback] if replacing and current else []
        # M05.FR.03: no space left when the store is full; a replacement that drops the previous fallback
        # needs no extra room beyond what it frees.
        if self.max_length is not None and len(existing) - len(dropped) + 1 > self.max_length:
            return InstallResult(
                InstallStatus.REJECTED, f"CertificateStoreMaxLength {self.max_length} reached ({len(existing)})"
            )

        stored = StoredCertificate(
            new_id, use, certificate_pem(certificate), issuer_key or issuer_key_bits(certificate)
        )
        try:
            # M05.FR.11: the old root stays as the temporary fallback; a fallback older than it goes.
            for old_fallback in dropped:
                self._persistence.delete(old_fallback.certificate_id)
            for old in current:
                self._persistence.put(replace(old, fallback=True))
            self._persistence.put(stored)
        except Exception as error:  # M05.FR.04: valid and correct, but the installation did not succeed
            return InstallResult(InstallStatus.FAILED, f"could not store the certificate: {error}")
        return InstallResult(InstallStatus.ACCEPTED, "installed")

    def confirm_central_system_root(self) -> list[str]:
        """After a connection verified with the new root (M05.FR.12): remove the fallback roots; their ids."""
        removed = []
        for stored in self._persistence.certificates(CertificateUse.CENTRAL_SYSTEM_ROOT):
            if stored.fallback:
                self._persistence.delete(stored.certificate_id)
                removed.append(stored.certificate_id)
        return removed

    # --- M04 DeleteCertificate --------------------------------------------------------------------------------

    def delete(
        self,
        hash_data: CertificateHashData,
        *,
        in_use: Collection[str] = (),
        protected: Iterable[x509.Certificate] = (),
    ) -> DeleteResult:
        """`in_use`: ids of the CentralSystemRootCertificates validating the current connection (M04.FR.06,
        see `roots_in_use`); `protected`: the Charge Point certificate chain (M04.FR.05).

        Deleting the last CentralSystemRootCertificate or ManufacturerRootCertificate is allowed (M04
        remark); only the root the live connection was verified with is refused.
        """
        result = self._delete(hash_data, in_use, protected)
        if result.status is not DeleteStatus.ACCEPTED:
            log.warning("DeleteCertificate %s: %s", result.status.value, result.reason)
        return result

    def _delete(
        self, hash_data: CertificateHashData, in_use: Collection[str], protected: Iterable[x509.Certificate]
    ) -> DeleteResult:
        try:
            stored_all = self._persistence.certificates()
        except Exception as error:
            return DeleteResult(DeleteStatus.FAILED, f"could not read the certificate store: {error}")
        chain = list(protected)
        issuers = chain + [parse_certificate(s.pem) for s in stored_all]
        for certificate in chain:
            issuer = next((i for i in issuers if issued_by(certificate, i)), certificate)
            own = certificate_hash_data(
                certificate, issuer_key=issuer_key_bits(issuer), algorithm=hash_data.hash_algorithm
            )
            if own.matches(hash_data):
                return DeleteResult(DeleteStatus.FAILED, "the Charge Point certificate cannot be deleted (M04.FR.05)")
        found = next((s for s in stored_all if hash_data_of(s, hash_data.hash_algorithm).matches(hash_data)), None)
        if found is None:
            reason = f"no installed certificate with serial {hash_data.serial_number}"
            return DeleteResult(DeleteStatus.NOT_FOUND, reason)
        if found.use is CertificateUse.CENTRAL_SYSTEM_ROOT and found.certificate_id in in_use:
            return DeleteResult(DeleteStatus.FAILED, "the root validates the current connection (M04.FR.06)")
        try:
            self._persistence.delete(found.certificate_id)
        except Exception as error:  # M04.FR.03
            return DeleteResult(DeleteStatus.FAILED, f"could not delete the certificate: {error}")
        return DeleteResult(DeleteStatus.ACCEPTED, "deleted")

    def roots_in_use(self, peer_chain: Iterable[x509.Certificate]) -> frozenset[str]:
        """Ids of the CentralSystemRootCertificates that issued a certificate of the server's chain."""
        chain = list(peer_chain)
        return frozenset(
            stored.certificate_id
            for stored in self._persistence.certificates(CertificateUse.CENTRAL_SYSTEM_ROOT)
            if any(
                certificate_id(c) == stored.certificate_id or issued_by(c, parse_certificate(stored.pem)) for c in chain
            )
        )

    # --- M03 GetInstalledCertificateIds -----------------------------------------------------------------------

    def installed_ids(self, use: CertificateUse) -> InstalledIds:
        """M03.FR.02–04: NotFound without hash data, or Accepted with each matching certificate's."""
        stored = self._persistence.certificates(use)
        if not stored:
            return InstalledIds(GetInstalledStatus.NOT_FOUND, ())
        return InstalledIds(GetInstalledStatus.ACCEPTED, tuple(hash_data_of(s) for s in stored))

    def trust_anchors(self, use: CertificateUse) -> list[x509.Certificate]:
        """The certificates of `use`, current ones first and the M05.FR.13 fallback last."""
        stored = sorted(self._persistence.certificates(use), key=lambda s: s.fallback)
        return [parse_certificate(s.pem) for s in stored]


class MemoryPersistence:
    """A dict-backed `CertificatePersistence`, for tests and for a station without a store."""

    def __init__(self) -> None:
        self._certificates: dict[str, StoredCertificate] = {}

    def certificates(self, use: CertificateUse | None = None) -> list[StoredCertificate]:
        return [s for s in self._certificates.values() if use is None or s.use is use]

    def put(self, certificate: StoredCertificate) -> None:
        self._certificates[certificate.certificate_id] = certificate

    def delete(self, certificate_id: str) -> None:
        del self._certificates[certificate_id]
