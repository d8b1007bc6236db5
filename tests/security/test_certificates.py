"""security.certificates: InstallCertificate (M05), DeleteCertificate (M04), GetInstalledCertificateIds (M03)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ocpp_station.protocol.schemas import validate_response
from ocpp_station.security.certificates import (
    CertificateStore,
    CertificateUse,
    DeleteStatus,
    GetInstalledStatus,
    InstallStatus,
    MemoryPersistence,
    StoredCertificate,
    certificate_id,
)
from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    CertificateHashData,
    HashAlgorithm,
    KeyType,
    certificate_hash_data,
    certificate_pem,
    generate_key,
    issuer_key_bits,
)

from .conftest import name

CS = CertificateUse.CENTRAL_SYSTEM_ROOT
MF = CertificateUse.MANUFACTURER_ROOT
DAY = timedelta(days=1)


class FailingPersistence(MemoryPersistence):
    """Reads work, writes fail: the store is full or the disk read-only."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def put(self, certificate: StoredCertificate) -> None:
        if self.fail:
            raise OSError("disk full")
        super().put(certificate)

    def delete(self, certificate_id: str) -> None:
        if self.fail:
            raise OSError("read-only file system")
        super().delete(certificate_id)


@pytest.fixture
def persistence() -> FailingPersistence:
    return FailingPersistence()


@pytest.fixture
def store(persistence: FailingPersistence) -> CertificateStore:
    return CertificateStore(persistence)


def root(cn: str = "Root", **kwargs: object) -> CertificateAuthority:
    return CertificateAuthority.new_root(cn, "Test CPO", **kwargs)  # type: ignore[arg-type]


# --- M05 InstallCertificate + M03 GetInstalledCertificateIds --------------------------------------------------


@pytest.mark.parametrize("use", list(CertificateUse))
def test_install_then_get_ids_reports_its_hash_data(store: CertificateStore, use: CertificateUse, now: float) -> None:
    ca = root()
    result = store.install(use, ca.pem, now=now)
    assert result.status is InstallStatus.ACCEPTED and result.security_event is None
    ids = store.installed_ids(use)
    assert ids.status is GetInstalledStatus.ACCEPTED
    assert ids.hash_data == (certificate_hash_data(ca.certificate),)
    validate_response("GetInstalledCertificateIds", ids.as_payload())
    other = MF if use is CS else CS
    assert store.installed_ids(other).status is GetInstalledStatus.NOT_FOUND


def test_get_ids_not_found_has_no_hash_data(store: CertificateStore) -> None:
    ids = store.installed_ids(CS)
    assert ids.as_payload() == {"status": "NotFound"}  # the schema has minItems 1
    validate_response("GetInstalledCertificateIds", ids.as_payload())


def test_several_certificates_of_one_type_are_allowed(store: CertificateStore, now: float) -> None:
    first, second = root("A"), root("B")
    assert store.install(CS, first.pem, now=now).status is InstallStatus.ACCEPTED
    assert store.install(CS, second.pem, now=now).status is InstallStatus.ACCEPTED
    assert len(store.installed_ids(CS).hash_data) == 2


def test_installing_the_same_certificate_twice_stores_it_once(store: CertificateStore, now: float) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    assert store.install(CS, ca.pem, now=now).status is InstallStatus.ACCEPTED
    assert len(store.installed_ids(CS).hash_data) == 1


def _refused(
    store: CertificateStore, persistence: FailingPersistence, warnings: Callable[[], list[str]], text: str
) -> None:
    assert persistence.certificates() == []  # nothing else changes
    lines = warnings()
    assert len(lines) == 1 and text in lines[0], lines


def test_malformed_pem_is_rejected_with_the_event(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    result = store.install(CS, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", now=now)
    assert result.status is InstallStatus.REJECTED
    assert result.security_event is SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE  # TC_078
    _refused(store, persistence, warnings, "malformed PEM")


def test_expired_root_is_rejected_with_the_event(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    ca = root(not_before=datetime.fromtimestamp(now, UTC) - 30 * DAY, validity=DAY)
    result = store.install(CS, ca.pem, now=now)
    assert result.status is InstallStatus.REJECTED
    assert result.security_event is SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE
    _refused(store, persistence, warnings, "expired")


def test_not_yet_valid_root_is_rejected(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    ca = root(not_before=datetime.fromtimestamp(now, UTC) + DAY)
    assert store.install(MF, ca.pem, now=now).status is InstallStatus.REJECTED
    assert store.install(MF, ca.pem, now=now).security_event is None  # §8 has no event for a manufacturer root
    assert persistence.certificates() == []
    assert len(warnings()) == 2 and "not valid before" in warnings()[0]


def test_huge_certificate_is_rejected(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    ca = root()
    huge = ca.issue(
        name("big"), generate_key().public_key(), ca=True, server_names=[f"h{i}.example" for i in range(300)]
    )
    assert store.install(CS, certificate_pem(huge), now=now).status is InstallStatus.REJECTED
    _refused(store, persistence, warnings, "more than the 5500")


def test_end_entity_certificate_is_rejected(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    leaf = root().issue(name("server"), generate_key().public_key(), server_names=["localhost"])
    assert store.install(CS, certificate_pem(leaf), now=now).status is InstallStatus.REJECTED
    _refused(store, persistence, warnings, "not a CA certificate")


def test_intermediate_ca_is_rejected(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    sub = root().issue(name("Sub"), generate_key().public_key(), ca=True)
    assert store.install(CS, certificate_pem(sub), now=now).status is InstallStatus.REJECTED
    _refused(store, persistence, warnings, "not a self-signed root")


def test_store_max_length_rejects_the_next_one(
    store: CertificateStore, now: float, warnings: Callable[[], list[str]]
) -> None:
    store.max_length = 2  # counts both types: "Root/CA certificates" (§7.4)
    assert store.install(CS, root("A").pem, now=now).status is InstallStatus.ACCEPTED
    assert store.install(MF, root("B").pem, now=now).status is InstallStatus.ACCEPTED
    result = store.install(CS, root("C").pem, now=now)
    assert result.status is InstallStatus.REJECTED and result.security_event is None  # M05.FR.03: valid, no room
    assert len(store.installed_ids(CS).hash_data) == 1
    assert len(warnings()) == 1 and "CertificateStoreMaxLength 2" in warnings()[0]


def test_failed_write_is_failed(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    persistence.fail = True
    result = store.install(CS, root().pem, now=now)
    assert result.status is InstallStatus.FAILED  # M05.FR.04
    _refused(store, persistence, warnings, "disk full")


# --- AdditionalRootCertificateCheck (M05.FR.08–13) ------------------------------------------------------------


def rollover(old: CertificateAuthority) -> tuple[CertificateAuthority, str]:
    """A new root key certified by the old root: what M05.FR.09 asks the Central System to send."""
    key = generate_key()
    certificate = old.issue(name("Root 2"), key.public_key(), ca=True)
    return CertificateAuthority(certificate, key), certificate_pem(certificate)


def test_additional_check_replaces_and_keeps_a_fallback(store: CertificateStore, now: float) -> None:
    store.additional_root_certificate_check = True
    old = root("Root 1")
    assert store.install(CS, old.pem, now=now).status is InstallStatus.ACCEPTED  # nothing to replace yet
    new, pem = rollover(old)
    assert store.install(CS, pem, now=now).status is InstallStatus.ACCEPTED  # M05.FR.11
    anchors = store.trust_anchors(CS)
    assert [a.subject for a in anchors] == [new.certificate.subject, old.certificate.subject]  # new first
    # The replacement's hash data names the old root as its issuer (RFC 6960 CertID).
    expected = certificate_hash_data(new.certificate, issuer_key=issuer_key_bits(old.certificate))
    assert expected in store.installed_ids(CS).hash_data

    assert store.confirm_central_system_root() == [certificate_id(old.certificate)]  # M05.FR.12
    assert store.trust_anchors(CS) == [new.certificate]
    # ... and stays computable with the old root gone.
    assert store.installed_ids(CS).hash_data == (expected,)

    newer, newer_pem = rollover(new)
    assert store.install(CS, newer_pem, now=now).status is InstallStatus.ACCEPTED
    assert [a.subject for a in store.trust_anchors(CS)] == [newer.certificate.subject, new.certificate.subject]


def test_additional_check_rejects_a_root_not_signed_by_the_old_one(
    store: CertificateStore, now: float, warnings: Callable[[], list[str]]
) -> None:
    store.additional_root_certificate_check = True
    old = root("Root 1")
    store.install(CS, old.pem, now=now)
    result = store.install(CS, root("Unrelated").pem, now=now)
    assert result.status is InstallStatus.REJECTED  # M05.FR.10
    assert store.trust_anchors(CS) == [old.certificate]
    assert len(warnings()) == 1 and "not signed by the installed root" in warnings()[0]


def test_additional_check_drops_the_previous_fallback(store: CertificateStore, now: float) -> None:
    store.additional_root_certificate_check = True
    store.max_length = 2  # one root plus its fallback (M05.FR.08)
    first = root("Root 1")
    store.install(CS, first.pem, now=now)
    second, second_pem = rollover(first)
    assert store.install(CS, second_pem, now=now).status is InstallStatus.ACCEPTED
    third, third_pem = rollover(second)
    assert store.install(CS, third_pem, now=now).status is InstallStatus.ACCEPTED
    assert [a.subject for a in store.trust_anchors(CS)] == [third.certificate.subject, second.certificate.subject]


def test_additional_check_leaves_manufacturer_roots_alone(store: CertificateStore, now: float) -> None:
    store.additional_root_certificate_check = True
    store.install(MF, root("M1").pem, now=now)
    assert store.install(MF, root("M2").pem, now=now).status is InstallStatus.ACCEPTED
    assert len(store.trust_anchors(MF)) == 2


# --- M04 DeleteCertificate ------------------------------------------------------------------------------------


def test_delete_then_gone(store: CertificateStore, now: float, warnings: Callable[[], list[str]]) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    (data,) = store.installed_ids(CS).hash_data
    assert store.delete(data).status is DeleteStatus.ACCEPTED
    assert store.installed_ids(CS).status is GetInstalledStatus.NOT_FOUND
    assert warnings() == []


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_delete_with_the_algorithm_the_central_system_uses(
    store: CertificateStore, now: float, algorithm: HashAlgorithm
) -> None:
    ca = root(key_type=KeyType.RSA_2048)
    store.install(MF, ca.pem, now=now)
    data = certificate_hash_data(ca.certificate, algorithm=algorithm)  # M04.FR.07
    assert store.delete(data).status is DeleteStatus.ACCEPTED


def test_delete_unknown_is_not_found(store: CertificateStore, now: float, warnings: Callable[[], list[str]]) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    data = certificate_hash_data(root("Other").certificate)
    assert store.delete(data).status is DeleteStatus.NOT_FOUND  # M04.FR.04
    assert len(store.installed_ids(CS).hash_data) == 1
    assert len(warnings()) == 1 and "no installed certificate" in warnings()[0]


def test_deleting_the_last_root_is_allowed(store: CertificateStore, now: float) -> None:
    # M04 remark: "It is possible to delete the last (every) installed CentralSystemRootCertificates".
    ca = root()
    store.install(CS, ca.pem, now=now)
    assert store.delete(certificate_hash_data(ca.certificate)).status is DeleteStatus.ACCEPTED


def test_root_in_use_for_the_connection_is_not_deleted(
    store: CertificateStore, now: float, warnings: Callable[[], list[str]]
) -> None:
    ca, spare = root("In use"), root("Spare")
    store.install(CS, ca.pem, now=now)
    store.install(CS, spare.pem, now=now)
    server = ca.issue(name("localhost"), generate_key().public_key(), server_names=["localhost"])
    in_use = store.roots_in_use([server])
    assert in_use == {certificate_id(ca.certificate)}
    assert store.delete(certificate_hash_data(ca.certificate), in_use=in_use).status is DeleteStatus.FAILED  # M04.FR.06
    assert len(warnings()) == 1 and "M04.FR.06" in warnings()[0]
    assert store.delete(certificate_hash_data(spare.certificate), in_use=in_use).status is DeleteStatus.ACCEPTED


def test_charge_point_certificate_cannot_be_deleted(store: CertificateStore, now: float) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    station = ca.issue(name("CP-0001"), generate_key().public_key(), client=True)
    data = certificate_hash_data(station, issuer_key=issuer_key_bits(ca.certificate))
    assert store.delete(data, protected=[station]).status is DeleteStatus.FAILED  # M04.FR.05
    assert len(store.installed_ids(CS).hash_data) == 1


def test_failed_delete_is_failed(
    store: CertificateStore, persistence: FailingPersistence, now: float, warnings: Callable[[], list[str]]
) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    persistence.fail = True
    assert store.delete(certificate_hash_data(ca.certificate)).status is DeleteStatus.FAILED  # M04.FR.03
    assert len(store.installed_ids(CS).hash_data) == 1
    assert len(warnings()) == 1 and "read-only" in warnings()[0]


def test_delete_statuses_fit_the_schema() -> None:
    for status in DeleteStatus:
        validate_response("DeleteCertificate", {"status": status.value})
    for install in InstallStatus:
        validate_response("InstallCertificate", {"status": install.value})


def test_hash_data_with_different_serial_does_not_delete(store: CertificateStore, now: float) -> None:
    ca = root()
    store.install(CS, ca.pem, now=now)
    data = certificate_hash_data(ca.certificate)
    wrong = CertificateHashData(data.hash_algorithm, data.issuer_name_hash, data.issuer_key_hash, "ABCDEF")
    assert store.delete(wrong).status is DeleteStatus.NOT_FOUND
