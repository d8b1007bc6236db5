"""The Security whitepaper profile in the core (no sockets, no files): certificates, the Charge Point key pair,
SecurityProfile changes, security events through the durable queue, signed firmware and GetLog, with the file
jobs completed by hand. The real TLS handshakes are in tests/station/test_security_link.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ocpp_station.clock import ManualClock, iso_utc
from ocpp_station.protocol.rpc import CallError
from ocpp_station.security.demo_pki import CertificateAuthority, sign_firmware
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    certificate_hash_data,
    certificate_pem,
    generate_key,
    parse_certificate,
    private_key_pem,
)
from ocpp_station.station.profiles.firmware_management import FileJob, JobKind, LogKind
from ocpp_station.station.profiles.security import UPGRADE_ATTEMPTS
from ocpp_station.stores.memory import MemoryKeyStore, MemoryStore
from tests.support.core_driver import CoreDriver, result

KEY = "0123456789abcdef0123456789abcdef01234567"
Sent = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def cpo() -> CertificateAuthority:
    return CertificateAuthority.new_root("Core CPO Root", "Core CPO")


@pytest.fixture(scope="module")
def maker() -> CertificateAuthority:
    return CertificateAuthority.new_root("Core Maker Root", "Core Maker")


@pytest.fixture
def cp() -> Iterator[CoreDriver]:
    # The certificates are made for the real time, so the station's clock starts there.
    driver = CoreDriver({"CpoName": "Core CPO"}, clock=ManualClock(time.time()))
    driver.connect()
    driver.take()
    yield driver
    driver.close()


def events(sent: Sent) -> list[str]:
    return [p["type"] for a, p in sent if a == "SecurityEventNotification"]


def keys(cp: CoreDriver) -> MemoryKeyStore:
    store = cp.station.security.keys
    assert isinstance(store, MemoryKeyStore)
    return store


def install(cp: CoreDriver, use: str, pem: str) -> str:
    return str(result(cp.call("InstallCertificate", {"certificateType": use, "certificate": pem}))["status"])


def renew(cp: CoreDriver, ca: CertificateAuthority) -> tuple[str, dict[str, Any]]:
    """ExtendedTriggerMessage(SignChargePointCertificate) → SignCertificate → CertificateSigned signed by `ca`."""
    cp.respond("SignCertificate", lambda a, p: {"status": "Accepted"})
    answer = result(cp.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}))
    assert answer == {"status": "Accepted"}
    csr = next(p["csr"] for a, p in cp.take() if a == "SignCertificate")
    chain = ca.sign_csr(csr)
    return csr, result(cp.call("CertificateSigned", {"certificateChain": chain}))


# -- M03–M05 -------------------------------------------------------------------------------------------------


def test_install_list_and_delete_root_certificates_persist_in_the_store(
    cp: CoreDriver, cpo: CertificateAuthority, maker: CertificateAuthority
) -> None:
    assert install(cp, "ManufacturerRootCertificate", maker.pem) == "Accepted"  # OCTT TC_075_1
    assert install(cp, "CentralSystemRootCertificate", cpo.pem) == "Accepted"  # OCTT TC_075_2
    listed = result(cp.call("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}))
    own = certificate_hash_data(cpo.certificate).as_payload()
    assert listed == {"status": "Accepted", "certificateHashData": [own]}
    # A restart on the same store still has them (the Store port's certificates table).
    again = CoreDriver(store=cp.store, clock=cp.clock)
    again.connect()
    ids = result(again.call("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}))
    assert ids["status"] == "Accepted" and len(ids["certificateHashData"]) == 1
    assert result(again.call("DeleteCertificate", {"certificateHashData": own})) == {"status": "Accepted"}  # TC_076
    gone = result(again.call("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}))
    assert gone == {"status": "NotFound"}
    assert result(again.call("DeleteCertificate", {"certificateHashData": own})) == {"status": "NotFound"}


def test_an_expired_central_system_root_is_rejected_with_a_security_event_after_the_conf(cp: CoreDriver) -> None:
    old = CertificateAuthority.new_root(
        "Old Root", "Old", not_before=datetime.now(UTC) - timedelta(days=30), validity=timedelta(days=1)
    )
    assert install(cp, "CentralSystemRootCertificate", old.pem) == "Rejected"  # OCTT TC_078
    sent = cp.take()
    assert events(sent) == ["InvalidCentralSystemCertificate"]
    assert install(cp, "CentralSystemRootCertificate", "-----BEGIN CERTIFICATE-----\nnope\n") == "Rejected"
    assert result(cp.call("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})) == {
        "status": "NotFound"
    }


# -- A02: the Charge Point certificate ---------------------------------------------------------------------


def test_sign_charge_point_certificate_makes_a_key_and_a_csr_with_cpo_name(
    cp: CoreDriver, cpo: CertificateAuthority
) -> None:
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    csr_pem, answer = renew(cp, cpo)  # OCTT TC_074
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Core CPO"  # A02.FR.13
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cp.settings.identity.serial_number
    assert answer == {"status": "Accepted"}
    store = keys(cp)
    assert store.pending_key() is None and store.chain is not None and store.key is not None
    leaf = parse_certificate(store.chain)
    assert leaf.public_key().public_numbers() == csr.public_key().public_numbers()  # type: ignore[union-attr]
    # Profile 0: the certificate waits for profile 3, no reconnect.
    assert cp.station.take_reconnect_request() is None


def test_a_chain_from_another_ca_is_rejected_and_raises_invalid_charge_point_certificate(
    cp: CoreDriver, cpo: CertificateAuthority
) -> None:
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    rogue = CertificateAuthority.new_root("Rogue", "Rogue")
    _, answer = renew(cp, rogue)  # OCTT TC_077
    assert answer == {"status": "Rejected"}
    assert events(cp.take()) == ["InvalidChargePointCertificate"]
    assert keys(cp).chain is None  # nothing else changed
    # A certificate for another key than the CSR's is refused the same way.
    other = cpo.issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]), generate_key().public_key(), client=True
    )
    assert result(cp.call("CertificateSigned", {"certificateChain": certificate_pem(other)})) == {"status": "Rejected"}


def test_sign_charge_point_certificate_needs_cpo_name() -> None:
    cp = CoreDriver(clock=ManualClock(time.time()))
    cp.connect()
    answer = result(cp.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}))
    assert answer == {"status": "Rejected"}
    assert "SignCertificate" not in cp.actions()


def test_a_chain_longer_than_certificate_signed_max_chain_size_is_rejected(cpo: CertificateAuthority) -> None:
    cp = CoreDriver({"CpoName": "Core CPO"}, clock=ManualClock(time.time()))
    cp.config.set_internal("CertificateSignedMaxChainSize", "300")
    cp.connect()
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    _, answer = renew(cp, cpo)
    assert answer == {"status": "Rejected"}


# -- A05: SecurityProfile --------------------------------------------------------------------------------------


def change(cp: CoreDriver, key: str, value: str) -> str:
    return str(result(cp.call("ChangeConfiguration", {"key": key, "value": value}))["status"])


def test_security_profile_goes_up_only_with_its_prerequisites(cp: CoreDriver, cpo: CertificateAuthority) -> None:
    assert change(cp, "SecurityProfile", "1") == "Rejected"  # A05.FR.02: no AuthorizationKey
    assert change(cp, "AuthorizationKey", KEY) == "Accepted"
    assert cp.station.take_reconnect_request() is None  # profile 0: the key is used from the next connection
    assert change(cp, "SecurityProfile", "2") == "Rejected"  # A05.FR.03: no CentralSystemRootCertificate
    assert change(cp, "SecurityProfile", "1") == "Accepted"
    assert cp.station.take_reconnect_request() is not None  # A05.FR.06
    assert change(cp, "SecurityProfile", "1") == "Rejected"  # A05.FR.01: equal
    assert change(cp, "SecurityProfile", "0") == "Rejected"  # OCTT TC_084: lower
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    assert change(cp, "SecurityProfile", "3") == "Rejected"  # A05.FR.04: no Charge Point certificate
    assert change(cp, "SecurityProfile", "2") == "Accepted"
    renew(cp, cpo)
    assert change(cp, "SecurityProfile", "3") == "Accepted"
    assert cp.config.get("SecurityProfile") == "3"
    # In profile 3 a renewed certificate reconnects at once (TC_074 step 7).
    cp.station.take_reconnect_request()
    renew(cp, cpo)
    assert cp.station.take_reconnect_request() == "Charge Point certificate renewed"


def test_an_upgrade_that_cannot_connect_falls_back_to_the_previous_profile(cp: CoreDriver) -> None:
    change(cp, "AuthorizationKey", KEY)
    assert change(cp, "SecurityProfile", "1") == "Accepted"
    cp.disconnect()
    for _ in range(UPGRADE_ATTEMPTS - 1):
        cp.station.security.on_connection_failed(None, "refused")
        assert cp.config.get("SecurityProfile") == "1"
    cp.station.security.on_connection_failed(None, "refused")
    assert cp.config.get("SecurityProfile") == "0"  # A05.FR.08


def test_a_connected_upgrade_holds(cp: CoreDriver) -> None:
    change(cp, "AuthorizationKey", KEY)
    change(cp, "SecurityProfile", "1")
    cp.station.security.on_connection_established(frozenset())  # A05.FR.09
    for _ in range(UPGRADE_ATTEMPTS + 1):
        cp.station.security.on_connection_failed(None, "refused")
    assert cp.config.get("SecurityProfile") == "1"


def in_profile_3_with_a_renewed_certificate(cp: CoreDriver, cpo: CertificateAuthority) -> tuple[str, str]:
    """A station in profile 3 on a first certificate that has connected, then renewed over OCPP (A02):
    (the first chain, the new chain)."""
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    assert renew(cp, cpo)[1] == {"status": "Accepted"}
    first = keys(cp).chain
    assert first is not None and keys(cp).previous_certificate_chain() is None  # nothing to fall back to yet
    assert change(cp, "SecurityProfile", "3") == "Accepted"
    cp.station.security.on_connection_established(frozenset())
    assert renew(cp, cpo)[1] == {"status": "Accepted"}
    new = keys(cp).chain
    assert new is not None and new != first
    assert keys(cp).previous_certificate_chain() == first  # A02.FR.10: kept as the fallback
    cp.take()
    return first, new


def test_a_new_certificate_that_never_connects_gives_way_to_the_previous_one(
    cp: CoreDriver, cpo: CertificateAuthority
) -> None:
    first, new = in_profile_3_with_a_renewed_certificate(cp, cpo)
    cp.disconnect()
    security = cp.station.security
    for _ in range(2 * UPGRADE_ATTEMPTS):
        # A server that cannot be reached says nothing about the certificate.
        security.on_connection_failed(None, "ConnectionRefusedError", certificate_suspect=False)
    for _ in range(UPGRADE_ATTEMPTS - 1):
        security.on_connection_failed(None, "SSLError: tlsv13 alert certificate required", certificate_suspect=True)
        assert keys(cp).chain == new
    security.on_connection_failed(None, "SSLError: tlsv13 alert certificate required", certificate_suspect=True)
    assert keys(cp).chain == first and keys(cp).previous_certificate_chain() is None  # A02.FR.10
    assert cp.config.get("SecurityProfile") == "3"
    # The trial is over: later failures change nothing, and the event goes out once connected.
    for _ in range(UPGRADE_ATTEMPTS):
        security.on_connection_failed(None, "SSLError", certificate_suspect=True)
    assert keys(cp).chain == first
    cp.connect()
    assert events(cp.take()) == ["InvalidChargePointCertificate"]


def test_a_new_certificate_that_connects_lets_the_previous_one_go(cp: CoreDriver, cpo: CertificateAuthority) -> None:
    _, new = in_profile_3_with_a_renewed_certificate(cp, cpo)
    cp.station.security.on_connection_established(frozenset())
    assert keys(cp).chain == new and keys(cp).previous_certificate_chain() is None
    for _ in range(UPGRADE_ATTEMPTS):
        cp.station.security.on_connection_failed(None, "SSLError", certificate_suspect=True)
    assert keys(cp).chain == new


def test_a_second_renewal_before_the_first_connected_keeps_the_certificate_known_to_work(
    cp: CoreDriver, cpo: CertificateAuthority
) -> None:
    first, _ = in_profile_3_with_a_renewed_certificate(cp, cpo)
    assert renew(cp, cpo)[1] == {"status": "Accepted"}
    assert keys(cp).previous_certificate_chain() == first


def test_the_authorization_key_is_write_only_and_logged_without_its_value(
    cp: CoreDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    assert change(cp, "AuthorizationKey", KEY) == "Accepted"
    listed = result(cp.call("GetConfiguration", {}))["configurationKey"]
    assert "AuthorizationKey" not in [k["key"] for k in listed]
    assert result(cp.call("GetConfiguration", {"key": ["AuthorizationKey"]}))["unknownKey"] == ["AuthorizationKey"]
    assert [e.event for e in cp.store.security_log()][-1] == "ReconfigurationOfSecurityParameters"  # A01.FR.11
    assert all(KEY not in e.tech_info for e in cp.store.security_log())  # A01.FR.12
    assert KEY not in caplog.text


# -- A04: security events --------------------------------------------------------------------------------------


def test_security_events_are_durable_in_order_and_sent_after_the_reconnect(cp: CoreDriver) -> None:
    cp.disconnect()
    cp.station.security.on_connection_failed(SecurityEvent.INVALID_TLS_VERSION, "TLSv1.1 offered")
    again = CoreDriver(store=cp.store, clock=cp.clock)  # a restart before the link came back
    again.connect()
    sent = again.take()
    assert events(sent) == ["InvalidTLSVersion"]
    assert [a for a, _ in sent].index("BootNotification") < [a for a, _ in sent].index("SecurityEventNotification")


def test_a_security_event_answered_with_a_call_error_is_retried(cp: CoreDriver) -> None:
    cp.config.set_internal("TransactionMessageAttempts", "3")
    cp.config.set_internal("TransactionMessageRetryInterval", "10")
    cp.respond("SecurityEventNotification", lambda a, p: "error")
    cp.station.security_log.record(SecurityEvent.INVALID_FIRMWARE_SIGNATURE, "test")
    assert events(cp.take()) == ["InvalidFirmwareSignature"]
    cp.advance(11)
    assert events(cp.take()) == ["InvalidFirmwareSignature"]
    assert cp.store.queue_length() == 0


def test_boot_events_are_sent_once_a_security_profile_is_configured() -> None:
    store = MemoryStore()
    plain = CoreDriver(store=store, clock=ManualClock(time.time()))
    plain.connect()
    assert events(plain.take()) == []  # profile 0: a plain OCPP 1.6 central system is not bothered
    assert [e.event for e in store.security_log()] == ["StartupOfTheDevice"]  # but it is in the log
    plain.config.set_internal("AuthorizationKey", KEY)
    plain.config.set_internal("SecurityProfile", "1")
    result(plain.call("Reset", {"type": "Soft"}))
    secure = CoreDriver(store=store, clock=plain.clock)
    secure.connect()
    assert events(secure.take()) == ["ResetOrReboot", "StartupOfTheDevice"]


# -- L01: signed firmware ---------------------------------------------------------------------------------------


def signing(maker: CertificateAuthority) -> tuple[str, Any]:
    key = generate_key()
    cert = maker.issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Maker Firmware Signing")]),
        key.public_key(),
        code_signing=True,
    )
    return certificate_pem(cert), key


def signed_update(cp: CoreDriver, certificate: str, signature: str, request_id: int = 7) -> str:
    firmware = {
        "location": "ftp://fw.example/cp-2.0.0.fwi",
        "retrieveDateTime": iso_utc(cp.clock.now()),
        "signingCertificate": certificate,
        "signature": signature,
    }
    payload = {"requestId": request_id, "firmware": firmware}
    return str(result(cp.call("SignedUpdateFirmware", payload))["status"])


def fw(sent: Sent) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("requestId")) for a, p in sent if a == "SignedFirmwareStatusNotification"]


def next_job(cp: CoreDriver, kind: JobKind) -> FileJob:
    cp.advance(0)
    job = cp.station.firmware.next_job()
    assert job is not None and job.kind == kind, job
    return job


def test_signed_firmware_from_another_root_is_an_invalid_certificate(
    cp: CoreDriver, maker: CertificateAuthority
) -> None:
    install(cp, "ManufacturerRootCertificate", maker.pem)
    certificate, key = signing(CertificateAuthority.new_root("Other Maker", "Other"))
    assert signed_update(cp, certificate, sign_firmware(b"x", key)) == "InvalidCertificate"  # L01.FR.24
    sent = cp.take()
    assert events(sent) == ["InvalidFirmwareSigningCertificate"]  # L01.FR.02
    assert fw(sent) == [] and cp.station.firmware.next_job() is None


def test_signed_firmware_with_a_bad_signature_never_installs(cp: CoreDriver, maker: CertificateAuthority) -> None:
    install(cp, "ManufacturerRootCertificate", maker.pem)
    certificate, key = signing(maker)
    assert signed_update(cp, certificate, sign_firmware(b"other bytes", key)) == "Accepted"
    download = next_job(cp, JobKind.DOWNLOAD)
    cp.station.firmware.job_succeeded(download.job_id, "/images/fw.bin")
    verify = next_job(cp, JobKind.VERIFY)
    assert (verify.image, verify.certificate) == ("/images/fw.bin", certificate)
    cp.station.firmware.job_failed(verify.job_id, "signature does not verify over the image")
    sent = cp.take()
    assert fw(sent) == [("Downloading", 7), ("Downloaded", 7), ("InvalidSignature", 7)]  # OCTT TC_081
    assert events(sent) == ["InvalidFirmwareSignature"]  # L01.FR.03
    cp.advance(60)
    assert cp.station.firmware.next_job() is None  # never an INSTALL job


def test_signed_firmware_happy_flow(cp: CoreDriver, maker: CertificateAuthority) -> None:
    install(cp, "ManufacturerRootCertificate", maker.pem)
    certificate, key = signing(maker)
    assert signed_update(cp, certificate, sign_firmware(b"image", key), request_id=9) == "Accepted"
    cp.station.firmware.job_succeeded(next_job(cp, JobKind.DOWNLOAD).job_id, "/images/fw.bin")
    cp.station.firmware.job_succeeded(next_job(cp, JobKind.VERIFY).job_id, "signature verified")
    cp.station.firmware.job_succeeded(next_job(cp, JobKind.INSTALL).job_id, "2.0.0")
    sent = cp.take()
    statuses = fw(sent)
    assert statuses == [("Downloading", 9), ("Downloaded", 9), ("SignatureVerified", 9), ("Installing", 9)]
    assert cp.station.reset_request == "Soft"
    rebooted = CoreDriver(store=cp.store, clock=cp.clock)
    rebooted.connect()
    after = rebooted.take()
    assert fw(after) == [("Installed", 9)]  # OCTT TC_080 step 17
    assert events(after) == ["FirmwareUpdated"]  # step 13
    # L01.FR.28: triggered after Installed it is Idle, without requestId (L01.FR.21).
    trig = rebooted.call("ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert result(trig) == {"status": "Accepted"}
    assert fw(rebooted.take()) == [("Idle", None)]


def test_a_new_signed_update_cancels_the_one_in_progress(cp: CoreDriver, maker: CertificateAuthority) -> None:
    install(cp, "ManufacturerRootCertificate", maker.pem)
    certificate, key = signing(maker)
    assert signed_update(cp, certificate, sign_firmware(b"a", key), request_id=1) == "Accepted"
    assert signed_update(cp, certificate, sign_firmware(b"b", key), request_id=2) == "AcceptedCanceled"  # L01.FR.26


def test_update_firmware_is_not_supported_once_a_manufacturer_root_is_installed(
    cp: CoreDriver, maker: CertificateAuthority
) -> None:
    install(cp, "ManufacturerRootCertificate", maker.pem)
    answer = cp.call("UpdateFirmware", {"location": "ftp://x/y", "retrieveDate": iso_utc(cp.clock.now())})
    assert isinstance(answer, CallError) and answer.code == "NotSupported"  # L01.FR.20


# -- N01: GetLog --------------------------------------------------------------------------------------------------


def logs(sent: Sent) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("requestId")) for a, p in sent if a == "LogStatusNotification"]


def test_get_log_uploads_the_security_log_and_reports_with_the_request_id(cp: CoreDriver) -> None:
    request = {"logType": "SecurityLog", "requestId": 42, "log": {"remoteLocation": "ftp://logs.example/up"}}
    answer = result(cp.call("GetLog", request))
    assert answer["status"] == "Accepted" and answer["filename"].startswith("security-log-")
    job = next_job(cp, JobKind.UPLOAD)
    assert job.log_kind is LogKind.SECURITY and job.file_name == answer["filename"]
    trig = result(cp.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}))
    assert trig == {"status": "Accepted"}
    cp.station.firmware.job_succeeded(job.job_id)
    assert logs(cp.take()) == [("Uploading", 42), ("Uploading", 42), ("Uploaded", 42)]  # TC_079
    cp.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"})
    assert logs(cp.take()) == [("Idle", None)]  # N01.FR.12


def test_a_new_get_log_cancels_the_upload_in_progress(cp: CoreDriver) -> None:
    request = {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "ftp://logs.example/up"}}
    assert result(cp.call("GetLog", request))["status"] == "Accepted"
    first = next_job(cp, JobKind.UPLOAD)
    assert result(cp.call("GetLog", {**request, "requestId": 2}))["status"] == "AcceptedCanceled"  # N01.FR.11
    second = next_job(cp, JobKind.UPLOAD)
    cp.station.firmware.job_succeeded(first.job_id)  # the cancelled one: ignored
    cp.station.firmware.job_succeeded(second.job_id)
    assert logs(cp.take()) == [("Uploading", 1), ("Uploading", 2), ("Uploaded", 2)]


def test_extended_trigger_message_covers_the_1_6_messages(cp: CoreDriver) -> None:
    for message in ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification"):
        payload = {"requestedMessage": message}
        assert result(cp.call("ExtendedTriggerMessage", payload))["status"] in ("Accepted", "Rejected")
    assert "Heartbeat" in cp.actions() and "MeterValues" in cp.actions()
    bad = result(cp.call("ExtendedTriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 9}))
    assert bad == {"status": "Rejected"}


def test_the_private_key_is_never_in_the_store(cp: CoreDriver, cpo: CertificateAuthority) -> None:
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    renew(cp, cpo)
    key = keys(cp).key
    assert key is not None and b"PRIVATE KEY" in key
    dumped = repr(cp.store.certificates()) + repr(cp.store.security_log()) + repr(cp.store.queue_messages())
    assert "PRIVATE KEY" not in dumped and private_key_pem(generate_key()) not in dumped.encode()


def test_a_certificate_expiring_within_a_month_is_renewed_by_the_station(cpo: CertificateAuthority) -> None:
    cp = CoreDriver({"CpoName": "Core CPO"}, clock=ManualClock(time.time()))
    cp.connect()
    install(cp, "CentralSystemRootCertificate", cpo.pem)
    cp.respond("SignCertificate", lambda a, p: {"status": "Accepted"})
    cp.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    csr = next(p["csr"] for a, p in cp.take() if a == "SignCertificate")
    short = cpo.sign_csr(csr, validity=timedelta(days=20))
    assert result(cp.call("CertificateSigned", {"certificateChain": short})) == {"status": "Accepted"}
    cp.respond("SignCertificate", lambda a, p: {"status": "Accepted"})
    cp.station.security.on_connection_established(frozenset())  # A03.FR.02: expires in 20 days
    assert [a for a, _ in cp.take()].count("SignCertificate") == 1
    cp.station.security.on_connection_established(frozenset())  # not again the same day
    assert "SignCertificate" not in [a for a, _ in cp.take()]
