"""security.tls: real TLS handshakes over 127.0.0.1 for security profiles 2 and 3."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    KeyType,
    PrivateKey,
    build_csr,
    certificate_pem,
    generate_key,
    write_private_key,
)
from ocpp_station.security.tls import (
    FORWARD_SECRET_CIPHERS_TLS12,
    WHITEPAPER_CIPHERS_TLS12,
    SecurityProfile,
    TlsSetupError,
    client_context,
    handshake_security_event,
    profile2_context,
    profile3_context,
)

from .conftest import name


@dataclass
class Server:
    port: int
    accepted: list[str]  # what each accepted connection saw: the client certificate's CN or "-"


def server_context(
    ca: CertificateAuthority, tmp_path: Path, *, require_client: CertificateAuthority | None = None
) -> ssl.SSLContext:
    key = generate_key()
    certificate = ca.issue(name("localhost"), key.public_key(), server_names=["localhost", "127.0.0.1"])
    (tmp_path / "server.pem").write_text(certificate_pem(certificate) + ca.pem)
    write_private_key(tmp_path / "server.key", key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    if require_client is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=require_client.pem)
    return context


@asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[Server]:
    accepted: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        subject = dict(pair[0] for pair in peer["subject"]) if peer else {}
        accepted.append(str(subject.get("commonName", "-")))
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield Server(server.sockets[0].getsockname()[1], accepted)
    finally:
        server.close()
        await server.wait_closed()


@contextmanager
def blocking_tls_server(context: ssl.SSLContext) -> Iterator[int]:
    """One handshake in a thread with a blocking socket: unlike asyncio's server, OpenSSL's alert for a
    failed handshake (protocol_version, handshake_failure) reaches the client before the socket closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10.0)  # a test that fails before connecting must not hang in join()

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join()
        listener.close()


async def exchange(port: int, context: ssl.SSLContext, host: str = "localhost") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host)
    try:
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


@dataclass
class Station:
    key: PrivateKey
    chain: Path
    key_file: Path


def enrol(cpo: CertificateAuthority, tmp_path: Path) -> Station:
    """The station's side of A02: own key, CSR, CA-signed certificate written next to the 0600 key."""
    key = generate_key()
    chain_pem = cpo.sign_csr(build_csr(key, serial_number="CP-0001", cpo_name="Test CPO"))
    (tmp_path / "station.pem").write_text(chain_pem)
    write_private_key(tmp_path / "station.key", key)
    return Station(key, tmp_path / "station.pem", tmp_path / "station.key")


async def refused(connect: Awaitable[bytes]) -> BaseException:
    """The handshake fails, or the server's refusal shows up on the first read (TLS 1.3 sends it later)."""
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)) as raised:
        data = await connect
        if not data:
            raise ConnectionResetError("closed without data")
    return raised.value


# --- profile 2 ------------------------------------------------------------------------------------------------


async def test_profile2_accepts_a_server_chaining_to_the_installed_root(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    async with tls_server(server_context(cpo, tmp_path)) as server:
        assert await exchange(server.port, profile2_context([cpo.pem])) == b"hello\n"
        assert server.accepted == ["-"]  # no client certificate in profile 2


async def test_profile2_refuses_a_server_from_another_root(
    cpo: CertificateAuthority, other_cpo: CertificateAuthority, tmp_path: Path
) -> None:
    async with tls_server(server_context(other_cpo, tmp_path)) as server:
        error = await refused(exchange(server.port, profile2_context([cpo.pem])))
        assert isinstance(error, ssl.SSLCertVerificationError)
        assert handshake_security_event(error) is SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE  # A00.FR.309
        assert server.accepted == []


async def test_profile2_checks_the_host_name(cpo: CertificateAuthority, tmp_path: Path) -> None:
    async with tls_server(server_context(cpo, tmp_path)) as server:
        error = await refused(exchange(server.port, profile2_context([cpo.pem]), host="cs.example.com"))
        assert isinstance(error, ssl.SSLCertVerificationError) and "hostname" in str(error).lower()


async def test_profile2_uses_the_fallback_root_too(
    cpo: CertificateAuthority, other_cpo: CertificateAuthority, tmp_path: Path
) -> None:
    # M05.FR.13: with the new root and the old (fallback) one installed, a server of either verifies.
    async with tls_server(server_context(cpo, tmp_path)) as server:
        assert await exchange(server.port, profile2_context([other_cpo.pem, cpo.pem])) == b"hello\n"


async def test_a_rollover_root_anchors_alone(cpo: CertificateAuthority, tmp_path: Path) -> None:
    # §7.1 note: the replacement root is signed by the old root; once the old one is removed it must
    # still verify the server (partial chain).
    new_key = generate_key()
    new_root = CertificateAuthority(cpo.issue(name("Root 2"), new_key.public_key(), ca=True), new_key)
    async with tls_server(server_context(new_root, tmp_path)) as server:
        assert await exchange(server.port, profile2_context([new_root.pem])) == b"hello\n"


async def test_tls_12_offers_only_forward_secret_suites_unless_legacy_rsa_is_asked_for(
    cpo: CertificateAuthority,
) -> None:
    context = profile2_context([cpo.pem])
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(FORWARD_SECRET_CIPHERS_TLS12)
    assert all(name.startswith("ECDHE-") for name in tls12)  # A00.FR.318 note: TLS_RSA has no forward secrecy
    legacy = profile2_context([cpo.pem], legacy_rsa_key_exchange=True)
    offered = {c["name"] for c in legacy.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert set(WHITEPAPER_CIPHERS_TLS12) <= offered
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.options & ssl.OP_NO_COMPRESSION


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"])
async def test_tls_12_handshake_with_each_ecdsa_suite(cpo: CertificateAuthority, tmp_path: Path, cipher: str) -> None:
    server = server_context(cpo, tmp_path)
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    server.set_ciphers(cipher)
    async with tls_server(server) as running:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", running.port, ssl=profile2_context([cpo.pem]), server_hostname="localhost"
        )
        try:
            assert await reader.readline() == b"hello\n"
            negotiated = writer.get_extra_info("ssl_object")
            assert negotiated.version() == "TLSv1.2" and negotiated.cipher()[0] == cipher
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize("cipher", ["AES128-GCM-SHA256", "AES256-GCM-SHA384"])
async def test_tls_12_handshake_with_each_rsa_suite(tmp_path: Path, cipher: str) -> None:
    # An RSA Central System certificate: TLS_RSA_WITH_AES_*_GCM (A00.FR.317), not disabled by OpenSSL's level.
    rsa_root = CertificateAuthority.new_root("RSA Root", "Test CPO", key_type=KeyType.RSA_2048)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key = generate_key(KeyType.RSA_2048)
    certificate = rsa_root.issue(name("localhost"), key.public_key(), server_names=["localhost"])
    (tmp_path / "rsa.pem").write_text(certificate_pem(certificate))
    write_private_key(tmp_path / "rsa.key", key)
    server.load_cert_chain(tmp_path / "rsa.pem", tmp_path / "rsa.key")
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    server.set_ciphers(cipher)
    async with tls_server(server) as running:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            running.port,
            ssl=profile2_context([rsa_root.pem], legacy_rsa_key_exchange=True),
            server_hostname="localhost",
        )
        try:
            assert await reader.readline() == b"hello\n"
            assert writer.get_extra_info("ssl_object").cipher()[0] == cipher
        finally:
            writer.close()
            await writer.wait_closed()


async def test_an_rsa_only_server_gets_forward_secrecy_by_default(tmp_path: Path) -> None:
    rsa_root = CertificateAuthority.new_root("RSA Root", "Test CPO", key_type=KeyType.RSA_2048)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key = generate_key(KeyType.RSA_2048)
    certificate = rsa_root.issue(name("localhost"), key.public_key(), server_names=["localhost"])
    (tmp_path / "rsa.pem").write_text(certificate_pem(certificate))
    write_private_key(tmp_path / "rsa.key", key)
    server.load_cert_chain(tmp_path / "rsa.pem", tmp_path / "rsa.key")
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    async with tls_server(server) as running:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", running.port, ssl=profile2_context([rsa_root.pem]), server_hostname="localhost"
        )
        try:
            assert await reader.readline() == b"hello\n"
            assert writer.get_extra_info("ssl_object").cipher()[0].startswith("ECDHE-RSA-AES")
        finally:
            writer.close()
            await writer.wait_closed()
    # A server that offers only static RSA is refused unless legacy RSA is configured.
    server.set_ciphers("AES128-GCM-SHA256")
    with blocking_tls_server(server) as port:
        error = await refused(exchange(port, profile2_context([rsa_root.pem])))
        assert handshake_security_event(error) is SecurityEvent.INVALID_TLS_CIPHER_SUITE


async def test_a_server_offering_only_other_suites_raises_invalid_cipher_suite(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    server = server_context(cpo, tmp_path)
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    server.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
    with blocking_tls_server(server) as port:
        error = await refused(exchange(port, profile2_context([cpo.pem])))
        assert handshake_security_event(error) is SecurityEvent.INVALID_TLS_CIPHER_SUITE  # A00.FR.322


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")  # the old versions are the point
async def test_a_server_offering_only_old_tls_raises_invalid_tls_version(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    server = server_context(cpo, tmp_path)
    server.minimum_version = ssl.TLSVersion.TLSv1
    server.maximum_version = ssl.TLSVersion.TLSv1_1
    server.set_ciphers("ALL:@SECLEVEL=0")
    with blocking_tls_server(server) as port:
        error = await refused(exchange(port, profile2_context([cpo.pem])))
        assert handshake_security_event(error) is SecurityEvent.INVALID_TLS_VERSION  # A00.FR.315


def test_no_installed_root_is_a_setup_error() -> None:
    with pytest.raises(TlsSetupError, match="no CentralSystemRootCertificate"):
        profile2_context([])
    with pytest.raises(TlsSetupError, match="unusable"):
        profile2_context(["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])


# --- profile 3 ------------------------------------------------------------------------------------------------


async def test_profile3_with_the_ca_signed_station_certificate_works(cpo: CertificateAuthority, tmp_path: Path) -> None:
    station = enrol(cpo, tmp_path)
    async with tls_server(server_context(cpo, tmp_path, require_client=cpo)) as server:
        context = profile3_context([cpo.pem], station.chain, station.key_file)
        assert await exchange(server.port, context) == b"hello\n"
        assert server.accepted == ["CP-0001"]  # the server saw the CN of the CSR (A00.FR.405)


async def test_without_a_client_certificate_a_mutual_tls_server_refuses(
    cpo: CertificateAuthority, tmp_path: Path
) -> None:
    async with tls_server(server_context(cpo, tmp_path, require_client=cpo)) as server:
        await refused(exchange(server.port, profile2_context([cpo.pem])))
        assert server.accepted == []


async def test_a_station_certificate_from_another_ca_is_refused_by_the_server(
    cpo: CertificateAuthority, other_cpo: CertificateAuthority, tmp_path: Path
) -> None:
    station = enrol(other_cpo, tmp_path)
    async with tls_server(server_context(cpo, tmp_path, require_client=cpo)) as server:
        await refused(exchange(server.port, profile3_context([cpo.pem], station.chain, station.key_file)))
        assert server.accepted == []


def test_profile3_refuses_a_key_file_others_can_read(cpo: CertificateAuthority, tmp_path: Path) -> None:
    station = enrol(cpo, tmp_path)
    station.key_file.chmod(0o644)
    with pytest.raises(PermissionError):
        profile3_context([cpo.pem], station.chain, station.key_file)


def test_profile3_refuses_a_certificate_for_another_key(cpo: CertificateAuthority, tmp_path: Path) -> None:
    station = enrol(cpo, tmp_path)
    write_private_key(station.key_file, generate_key())
    with pytest.raises(TlsSetupError, match="Charge Point certificate or key"):
        profile3_context([cpo.pem], station.chain, station.key_file)


def test_client_context_per_profile(cpo: CertificateAuthority, tmp_path: Path) -> None:
    station = enrol(cpo, tmp_path)
    assert client_context(SecurityProfile.NONE, [cpo.pem]) is None
    assert client_context(SecurityProfile.BASIC, [cpo.pem]) is None
    assert isinstance(client_context(SecurityProfile.TLS_BASIC, [cpo.pem]), ssl.SSLContext)
    with pytest.raises(TlsSetupError, match="no Charge Point certificate"):
        client_context(SecurityProfile.TLS_CLIENT_CERTIFICATE, [cpo.pem])
    three = client_context(
        SecurityProfile.TLS_CLIENT_CERTIFICATE, [cpo.pem], certificate_chain=station.chain, private_key=station.key_file
    )
    assert isinstance(three, ssl.SSLContext)


def test_other_errors_raise_no_security_event() -> None:
    assert handshake_security_event(ConnectionRefusedError()) is None
    assert handshake_security_event(ssl.SSLError(1, "something else")) is None
