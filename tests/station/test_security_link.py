"""Security profiles over real sockets: a StationRuntime against a ScriptedCsms serving wss:// on 127.0.0.1
(server-only and mutual TLS), real handshakes, the Charge Point certificate renewed over OCPP and used by the
next connection, refused handshakes turned into durable security events."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ocpp_station.security.demo_pki import CertificateAuthority, init_demo_pki, load_authority
from ocpp_station.security.pki import certificate_pem, generate_key, parse_certificates, write_private_key
from ocpp_station.security.tls import server_context
from ocpp_station.shell.provisioning import enrol, install_roots, key_store
from ocpp_station.shell.runtime import StationRuntime, store_path
from ocpp_station.stores.sqlite import SqliteStore
from ocpp_station.tools.harness.csms import ScriptedCsms
from ocpp_station.tools.harness.settings import HarnessSettings
from tests.support.link_bench import station_settings

CP = "CP-TLS"
DAY = timedelta(days=1)
KEY = "0123456789abcdef0123456789abcdef01234567"
SETTINGS = HarnessSettings(charge_box_id=CP)
TOLERATE = ("Heartbeat", "MeterValues", "StatusNotification", "SecurityEventNotification")


@pytest.fixture(scope="module")
def cpo() -> CertificateAuthority:
    return CertificateAuthority.new_root("Link CPO Root", "Link CPO")


def serving(
    ca: CertificateAuthority,
    directory: Path,
    *,
    clients: CertificateAuthority | None = None,
    not_before: datetime | None = None,
) -> ssl.SSLContext:
    """A Central System certificate for localhost/127.0.0.1 from `ca` (with `not_before`: valid for one day from
    then, a fast-expiring one); mutual TLS against `clients`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    if not_before is None:
        server = ca.issue(name, key.public_key(), server_names=["localhost", "127.0.0.1"])
    else:
        server = ca.issue(
            name, key.public_key(), server_names=["localhost", "127.0.0.1"], not_before=not_before, validity=DAY
        )
    (directory / "server.pem").write_text(certificate_pem(server) + ca.pem)
    write_private_key(directory / "server.key", key)
    roots = [clients.pem] if clients is not None else []
    return server_context(directory / "server.pem", directory / "server.key", client_roots=roots)


@asynccontextmanager
async def station(url: str, data_dir: Path, profile: int) -> AsyncIterator[StationRuntime]:
    overrides = {"SecurityProfile": str(profile), "AuthorizationKey": KEY, "CpoName": "Link CPO"}
    runtime = StationRuntime(
        csms_url=url,
        charge_box_id=CP,
        data_dir=data_dir,
        settings=station_settings(reconnect_min_s=0.1, reconnect_max_s=0.5),
        config_overrides={"WebSocketPingInterval": "0", "MeterValueSampleInterval": "0", **overrides},
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def queued_events(data_dir: Path) -> list[str]:
    store = SqliteStore(store_path(data_dir, CP))
    try:
        return [m.payload["type"] for m in store.queue_messages() if m.action == "SecurityEventNotification"]
    finally:
        store.close()


async def test_profile_2_connects_with_tls_and_basic_auth(cpo: CertificateAuthority, tmp_path: Path) -> None:
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server")) as csms:
        # The URL says ws://: profile 2 dials wss:// all the same (no unencrypted connection).
        async with station(csms.url.replace("wss://", "ws://"), tmp_path, 2):
            await csms.expect("BootNotification", tolerate=TOLERATE)
        (handshake,) = csms.handshakes
        assert handshake.tls_version in ("TLSv1.2", "TLSv1.3") and handshake.client_certificate is None
        expected = base64.b64encode(f"{CP}:{KEY}".encode()).decode()
        assert handshake.authorization == f"Basic {expected}"  # OCTT TC_086 step 5


async def test_profile_2_refuses_a_server_not_chaining_to_the_installed_root_and_reports_it_later(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    rogue = CertificateAuthority.new_root("Rogue Root", "Rogue")
    async with ScriptedCsms(SETTINGS, ssl_context=serving(rogue, tmp_path / "rogue")) as impostor:
        async with station(impostor.url, tmp_path, 2) as runtime:
            await runtime.wait_first_connection(10)
            assert runtime._link is not None and "CERTIFICATE_VERIFY_FAILED" in (runtime._link.last_error or "")
        assert impostor.connection_count == 0 and impostor.station_calls == []
    # A00.FR.309: the event waits in the durable queue, across the power-off ...
    assert "InvalidCentralSystemCertificate" in queued_events(tmp_path)
    # ... and is sent once a connection to the real Central System exists.
    csms = ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server"))
    async with csms, station(csms.url, tmp_path, 2):
        await csms.expect("BootNotification", tolerate=TOLERATE)
        await csms.expect(
            "SecurityEventNotification",
            {"type": "InvalidCentralSystemCertificate"},
            tolerate=("Heartbeat", "StatusNotification", "SecurityEventNotification"),
        )


async def test_profile_2_refuses_a_central_system_certificate_that_has_expired(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    """A00.FR.701: the Central System certificate is revoked by fast expiration (valid under 24 hours), so the
    charge point needs no revocation list: a certificate past its end is refused like one of the wrong root."""
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    two_days_ago = datetime.now(UTC) - 2 * DAY
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "old", not_before=two_days_ago)) as csms:
        async with station(csms.url, tmp_path, 2) as runtime:
            await runtime.wait_first_connection(10)
            assert runtime._link is not None and "certificate has expired" in (runtime._link.last_error or "")
        assert csms.connection_count == 0
    assert "InvalidCentralSystemCertificate" in queued_events(tmp_path)


async def test_profile_3_presents_its_certificate_and_no_password(cpo: CertificateAuthority, tmp_path: Path) -> None:
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    chain = enrol(tmp_path, CP, cpo, serial_number="SIM-0001", cpo_name="Link CPO")
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server", clients=cpo)) as csms:
        async with station(csms.url, tmp_path, 3):
            await csms.expect("BootNotification", tolerate=TOLERATE)
        (handshake,) = csms.handshakes
        assert handshake.authorization is None  # §2.5: the certificate authenticates the station
        assert handshake.client_certificate is not None
        presented = x509.load_der_x509_certificate(handshake.client_certificate)
        assert presented.serial_number == parse_certificates(chain)[0].serial_number  # OCTT TC_087


async def test_a_station_without_a_client_certificate_is_refused_by_a_mutual_tls_server(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server", clients=cpo)) as csms:
        # Profile 2 offers no client certificate: the server ends the handshake.
        async with station(csms.url, tmp_path, 2) as runtime:
            await runtime.wait_first_connection(10)
            assert runtime._link is not None and runtime._link.last_error is not None
        # Profile 3 with no certificate installed does not even try, and never falls back to ws://.
        install_roots(tmp_path / "no-cert", CP, central_system_roots=[cpo.pem])
        async with station(csms.url, tmp_path / "no-cert", 3) as runtime:
            await runtime.wait_first_connection(10)
            assert "no Charge Point certificate" in (runtime._link.last_error or "")  # type: ignore[union-attr]
        assert csms.connection_count == 0


async def renew_over_ocpp(csms: ScriptedCsms, ca: CertificateAuthority) -> str:
    """OCTT TC_074: ExtendedTriggerMessage → SignCertificate → CertificateSigned signed by `ca` (accepted by the
    station); the chain. The station then reconnects with it."""
    csms.respond_with("SignCertificate", {"status": "Accepted"})
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert await csms.call_result("ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    sign = await csms.expect("SignCertificate", tolerate=TOLERATE)
    chain = ca.sign_csr(sign.payload["csr"])
    assert await csms.call_result("CertificateSigned", {"certificateChain": chain}) == {"status": "Accepted"}
    return chain


async def test_a_certificate_renewed_over_ocpp_is_used_on_the_next_connection(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem])
    first = parse_certificates(enrol(tmp_path, CP, cpo, serial_number="SIM-0001", cpo_name="Link CPO"))[0]
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server", clients=cpo)) as csms:
        async with station(csms.url, tmp_path, 3):
            await csms.expect("BootNotification", tolerate=TOLERATE)
            chain = await renew_over_ocpp(csms, cpo)
            await csms.wait_connected(after=1)  # a reconnect, not a reboot: no BootNotification
        assert len(csms.handshakes) == 2
        renewed = x509.load_der_x509_certificate(csms.handshakes[1].client_certificate or b"")
        assert renewed.serial_number == parse_certificates(chain)[0].serial_number != first.serial_number
    key_file = key_store(tmp_path, CP).key_path
    assert key_file.stat().st_mode & 0o077 == 0  # A02.FR.05: owner-only


async def test_a_renewed_certificate_the_server_refuses_gives_way_to_the_previous_one(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    """A02.FR.10: the new certificate chains to a root the station trusts (so CertificateSigned accepts it,
    A02.FR.06), but the server takes client certificates of the first CPO only. After three refused attempts
    the station is back on its first certificate and reports why."""
    other = CertificateAuthority.new_root("Other CPO Root", "Link CPO")
    install_roots(tmp_path, CP, central_system_roots=[cpo.pem, other.pem])
    first_chain = enrol(tmp_path, CP, cpo, serial_number="SIM-0001", cpo_name="Link CPO")
    first = parse_certificates(first_chain)[0]
    async with ScriptedCsms(SETTINGS, ssl_context=serving(cpo, tmp_path / "server", clients=cpo)) as csms:
        async with station(csms.url, tmp_path, 3):
            await csms.expect("BootNotification", tolerate=TOLERATE)
            await renew_over_ocpp(csms, other)
            await csms.wait_connected(after=1)
            event = await csms.expect(
                "SecurityEventNotification", tolerate=("Heartbeat", "MeterValues", "StatusNotification")
            )
            assert event.payload["type"] == "InvalidChargePointCertificate"
            assert key_store(tmp_path, CP).previous_certificate_chain() is None
            assert key_store(tmp_path, CP).certificate_chain() == first_chain
        assert len(csms.handshakes) == 2  # the refused attempts never reached the WebSocket layer
        again = x509.load_der_x509_certificate(csms.handshakes[1].client_certificate or b"")
        assert again.serial_number == first.serial_number


async def test_the_demo_pki_serves_a_mutual_tls_connection(tmp_path: Path) -> None:
    pki = init_demo_pki(tmp_path / "pki")
    authority = load_authority(pki.central_system_root, pki.central_system_root_key)
    install_roots(tmp_path, CP, central_system_roots=[pki.central_system_root.read_text()])
    enrol(tmp_path, CP, authority, serial_number="SIM-0001", cpo_name="Demo CPO")
    context = server_context(
        pki.central_system_certificate, pki.central_system_key, client_roots=[pki.central_system_root.read_text()]
    )
    async with ScriptedCsms(SETTINGS, ssl_context=context) as csms, station(csms.url, tmp_path, 3):
        await csms.expect("BootNotification", tolerate=TOLERATE)
