"""`security.certificates.CertificatePersistence` over the station's Store port: the installed root
certificates live in the store (its `certificates` table), as every other fact the station keeps."""

from __future__ import annotations

from ocpp_station.security.certificates import CertificateUse, StoredCertificate
from ocpp_station.station.ports import CertificateRecord, Store


class StorePersistence:
    def __init__(self, store: Store) -> None:
        self.store = store

    def certificates(self, use: CertificateUse | None = None) -> list[StoredCertificate]:
        stored = []
        for record in self.store.certificates():
            try:
                kind = CertificateUse(record.use)
            except ValueError:
                continue  # a kind a later release added: not ours to show or to use
            if use is None or kind is use:
                stored.append(
                    StoredCertificate(record.certificate_id, kind, record.pem, record.issuer_key, record.fallback)
                )
        return stored

    def put(self, certificate: StoredCertificate) -> None:
        self.store.put_certificate(
            CertificateRecord(
                certificate.certificate_id,
                certificate.use.value,
                certificate.pem,
                certificate.issuer_key,
                certificate.fallback,
            )
        )

    def delete(self, certificate_id: str) -> None:
        self.store.delete_certificate(certificate_id)
