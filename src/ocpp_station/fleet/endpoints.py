"""Where a fleet station connects, and how: its URL, host, port and TLS context by its SecurityProfile.

The same rules as the single station's link (`shell.link`, security whitepaper §2): profile 0 dials the URL as
given (wss:// verified against `[network] ca_file`); profile 1 dials ws://; profiles 2 and 3 always dial wss://,
verifying the server against the station's installed CentralSystemRootCertificates, and profile 3 presents the
station's Charge Point certificate. There is no fallback to an unencrypted connection; a missing prerequisite is
a `TlsSetupError`, a failed attempt for the A05.FR.08 count.

What is shared: profile 2 contexts by the set of roots (a fleet usually installs one root everywhere), so ten
thousand stations upgraded to profile 2 hold one context. A profile 3 context carries the station's own key, so
it is the station's, kept until its roots or certificate change. A station whose key store is files (`--store
sqlite`) has them loaded where they lie; a key held in memory is written, for the load only, to an owner-only
temporary file (OpenSSL loads a key from a file only).
"""

from __future__ import annotations

import asyncio.sslproto
import os
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from ocpp_station.security.tls import SecurityProfile, TlsSetupError, profile2_context, profile3_context
from ocpp_station.shell.link import station_url, with_scheme

# A TLS record carries at most 16 KiB of data (RFC 8446 §5.1), and an OCPP frame is usually far smaller.
TLS_READ_BUFFER = 16 * 1024


class KeyFiles(NamedTuple):
    """A `FileKeyStore`'s certificate chain and private key files."""

    chain: Path
    key: Path


# The station's private key: its PEM (an in-memory key store) or the files of its key store.
ClientKey = bytes | KeyFiles


def shrink_tls_read_buffer() -> None:
    """asyncio gives every TLS connection a zero-filled 256 KiB receive buffer (`sslproto.SSLProtocol.max_size`):
    with it a profile 2 fleet station cost 320 KiB, without it 79 (bench/fleet_tls_memory.py). The fleet's process
    reads TLS in 16 KiB steps instead; a bigger frame takes a few more reads (the records are put together in
    OpenSSL's buffer). Process-wide, as the attribute is: any other TLS connection of the process (a file
    transfer) reads in 16 KiB steps too."""
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


class FleetInputError(ValueError):
    """Bad fleet input (count, id pattern, shard, ramp, URL); the message is one line for the operator."""


class Endpoint(NamedTuple):
    url: str  # the station's own URL (`<base>/<chargeBoxId>`), what the opening handshake asks for
    host: str
    port: int
    ssl_context: ssl.SSLContext | None


def parse_csms_url(url: str) -> tuple[str, int, bool]:
    """Host, port and whether it is wss://; a URL that is neither ws:// nor wss:// is a FleetInputError."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise FleetInputError(f"--csms {url!r}: need a ws:// or wss:// URL")
    try:
        port = parts.port
    except ValueError:
        raise FleetInputError(f"--csms {url!r}: the port is not a number from 0 to 65535") from None
    secure = parts.scheme == "wss"
    return parts.hostname, port or (443 if secure else 80), secure


class StationEndpoints:
    """The endpoints of a fleet's stations: the fleet's central system, or another one for some (a test bench's)."""

    def __init__(self, csms_url: str, ca_file: str | None, legacy_rsa: bool) -> None:
        self._ca_file = ca_file
        self._legacy_rsa = legacy_rsa
        self._base = csms_url.rstrip("/")
        self._host, self._port, secure = parse_csms_url(csms_url)
        # Profile 0 on the fleet's own wss:// URL: one context for every station.
        self._plain_tls = self._server_only() if secure else None
        self._elsewhere: dict[str, str] = {}
        self._profile2: dict[tuple[str, ...], ssl.SSLContext] = {}
        self._profile3: dict[str, tuple[tuple[str, ...], str, ClientKey, ssl.SSLContext]] = {}

    def redirect(self, charge_box_id: str, csms_url: str | None) -> None:
        """From its next connection on, the station talks to `csms_url` (None: back to the fleet's)."""
        if csms_url is None:
            self._elsewhere.pop(charge_box_id, None)
            return
        parse_csms_url(csms_url)
        self._elsewhere[charge_box_id] = csms_url.rstrip("/")

    def forget(self, charge_box_id: str) -> None:
        """A new unit in the station's place: its own TLS context (its key) goes."""
        self._profile3.pop(charge_box_id, None)

    def endpoint(
        self, charge_box_id: str, profile: int, roots: Sequence[str], chain: str | None, key: ClientKey | None
    ) -> Endpoint:
        """`chain`: the station's Charge Point certificate chain (PEM), `key` its private key, if it has them."""
        base = self._elsewhere.get(charge_box_id, self._base)
        if profile == SecurityProfile.NONE and base is self._base:
            return Endpoint(station_url(base, charge_box_id), self._host, self._port, self._plain_tls)
        url = station_url(with_scheme(base, profile), charge_box_id)
        host, port, secure = parse_csms_url(url)
        if profile >= SecurityProfile.TLS_BASIC:
            return Endpoint(url, host, port, self._client_context(charge_box_id, profile, roots, chain, key))
        return Endpoint(url, host, port, self._server_only() if secure else None)

    def _server_only(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_file)

    def _client_context(
        self, charge_box_id: str, profile: int, roots: Sequence[str], chain: str | None, key: ClientKey | None
    ) -> ssl.SSLContext:
        anchors = tuple(roots)
        if profile == SecurityProfile.TLS_BASIC:
            context = self._profile2.get(anchors)
            if context is None:
                context = profile2_context(anchors, legacy_rsa_key_exchange=self._legacy_rsa)
                self._profile2[anchors] = context
            return context
        if chain is None or key is None:
            raise TlsSetupError("no Charge Point certificate installed")  # A05.FR.04
        cached = self._profile3.get(charge_box_id)
        if cached is not None and cached[:3] == (anchors, chain, key):
            return cached[3]
        if isinstance(key, KeyFiles):
            # The chain's text is the cache key: a new key always comes with its own new certificate.
            try:
                context = profile3_context(anchors, key.chain, key.key, legacy_rsa_key_exchange=self._legacy_rsa)
            except OSError as exc:
                # A key file gone, or readable by others (A02.FR.05): a failed attempt, as the link counts it.
                raise TlsSetupError(f"Charge Point key: {exc}") from None
        else:
            context = self._load_client_certificate(anchors, chain, key)
        self._profile3[charge_box_id] = (anchors, chain, key, context)
        return context

    def _load_client_certificate(self, roots: tuple[str, ...], chain: str, key: bytes) -> ssl.SSLContext:
        # OpenSSL loads a certificate and key from files only: they exist for the load, in a directory only
        # this user can enter (mkdtemp makes it 0700), the key file owner-only from its first byte (A02.FR.05).
        directory = Path(tempfile.mkdtemp(prefix="ocpp-fleet-tls-"))
        try:
            chain_path = directory / "charge_point.pem"
            key_path = directory / "charge_point.key"
            chain_path.write_text(chain)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as key_file:
                key_file.write(key)
            return profile3_context(roots, chain_path, key_path, legacy_rsa_key_exchange=self._legacy_rsa)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
