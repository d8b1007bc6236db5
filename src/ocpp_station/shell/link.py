"""The OCPP-J link: the thin asyncio shell between one Station and its central system.

Connects to `<csms-url>/<chargeBoxId>` offering subprotocol `ocpp1.6` (OCPP-J 1.6 §3.1), keeps one
outbound CALL outstanding at a time with a response timeout (§4.1.1), answers inbound CALLs while it
waits, pings every WebSocketPingInterval (§7), and reconnects with capped exponential back-off and jitter.

Each connection uses the configured SecurityProfile (security whitepaper §2): 0 as configured (the URL's
scheme, Basic only when a password is set); 1 HTTP Basic with the AuthorizationKey over ws://; 2 TLS with the
server verified against the installed CentralSystemRootCertificates, plus Basic; 3 TLS with the Charge Point
certificate as client certificate (`security.tls`). Profiles 2 and 3 always dial wss://: there is no fallback to
an unencrypted connection. A refused handshake becomes a security event, queued durably (A00.FR.309/413, ...).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import ssl
from urllib.parse import quote

from cryptography import x509
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import Call, CallError, CallResult, FrameError, IgnoredFrame, encode, parse_frame
from ocpp_station.security.tls import SecurityProfile, TlsSetupError, client_context, handshake_security_event
from ocpp_station.shell.frame_events import FrameEvent, FrameKind, FrameObserver
from ocpp_station.shell.logs import redact
from ocpp_station.station.hub import Station
from ocpp_station.station.outbox import OutboundCall
from ocpp_station.stores.key_files import FileKeyStore

log = logging.getLogger("ocpp_station.link")
SUBPROTOCOL = Subprotocol("ocpp1.6")


class LinkError(Exception):
    pass


class Reconnect(Exception):
    """The station asked for a new connection (new credentials, certificate or security profile)."""


def with_scheme(url: str, profile: int) -> str:
    """The URL dialled in `profile`: wss:// for TLS (2, 3), ws:// for Basic over plain TCP (1), else as given."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("ws", "wss") or profile == 0:
        return url
    return f"{'wss' if profile >= 2 else 'ws'}://{rest}"


def station_url(csms_url: str, charge_box_id: str) -> str:
    # OCPP-J 1.6 §3.1.1: the identity is appended as one percent-encoded path segment.
    return f"{csms_url.rstrip('/')}/{quote(charge_box_id, safe='')}"


# What a connection in a security profile presents and reports: the link's rules, which a fleet's driver
# (fleet/driver.py) follows too.


def basic_authorization(station: Station, profile: int) -> str | None:
    """The Authorization header of a connection in `profile`, or None when it sends none."""
    if profile == SecurityProfile.TLS_CLIENT_CERTIFICATE:
        return None  # §2.5: the client certificate authenticates the station, not a password
    configured = station.settings.network.basic_auth_password
    key = station.config.get("AuthorizationKey")
    # Profiles 1 and 2 use the AuthorizationKey (§2.3, §2.4, A01.FR.01); profile 0 whatever is configured.
    password = (key or configured) if profile else (configured or key)
    if not password:
        return None
    # OCPP-J 1.6 §6.2.2: HTTP Basic with the charge point identity as user name.
    token = base64.b64encode(f"{station.charge_box_id}:{password}".encode()).decode()
    return f"Basic {token}"


def report_failed_attempt(station: Station, error: BaseException | None, url: str) -> None:
    """What a failed connection attempt tells the station: a TLS refusal is a security event (queued durably,
    sent once connected); a 401 a refused login (§8); each counts for the A05.FR.08 fallback. `error` None: the
    connection was lost before it opened, for no reason given."""
    if isinstance(error, InvalidStatus) and error.response.status_code in (401, 403):
        station.security.on_authentication_rejected(f"HTTP {error.response.status_code} from {url}")
    if error is None:
        station.security.on_connection_failed(None, "connection lost", certificate_suspect=True)
    else:
        station.security.on_connection_failed(
            handshake_security_event(error),
            f"{type(error).__name__}: {error}",
            certificate_suspect=certificate_may_be_the_cause(error),
        )


def certificate_may_be_the_cause(error: BaseException | None) -> bool:
    """The attempt reached the server and failed in TLS or in the WebSocket opening handshake (a TLS 1.3 server
    refuses a client certificate only after the client's handshake is done: the refusal arrives as the 101 is
    awaited), or the station's certificate could not be loaded: what a new Charge Point certificate may be the
    cause of (A02.FR.10). A connection refused, a network unreachable or a timeout tells nothing of it. `error`
    None: the connection was lost after it was made."""
    return error is None or isinstance(
        error, (ssl.SSLError, TlsSetupError, InvalidHandshake, ConnectionResetError, EOFError)
    )


def peer_roots(station: Station, transport: asyncio.BaseTransport) -> frozenset[str]:
    """Which installed roots verified the server of a connection (M05.FR.12); empty for a plain one."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = None if ssl_object is None else ssl_object.getpeercert(binary_form=True)
    if not der:
        return frozenset()
    return station.certificates.roots_in_use([x509.load_der_x509_certificate(der)])


class Link:
    def __init__(
        self,
        station: Station,
        csms_url: str,
        trace: logging.Logger | None = None,
        *,
        rng: random.Random | None = None,
        key_files: FileKeyStore | None = None,
    ) -> None:
        self.st = station
        # Where the Charge Point certificate and key are (security profile 3); None: the station has none.
        self.key_files = key_files
        # The reconnection jitter's source: seeded by a test or a fleet for runs that repeat.
        self._rng = rng or random.Random()
        self.base_url = station_url(csms_url, station.charge_box_id)
        self.url = with_scheme(self.base_url, station.security.profile)
        self.trace = trace or logging.getLogger("ocpp_station.trace")
        self._send_wake = asyncio.Event()
        self._online = asyncio.Event()
        self._online.set()
        self._ws: ClientConnection | None = None
        self._pending: dict[str, tuple[OutboundCall, asyncio.Future[CallResult | CallError]]] = {}
        self.last_error: str | None = None
        self.connected_once = asyncio.Event()
        self.first_attempt = asyncio.Event()
        self.frame_observers: list[FrameObserver] = []

    def _observe(self, kind: FrameKind, text: str = "") -> None:
        # The observers feed the panel and the control API (/api/frames): the AuthorizationKey is write-only
        # there too (security whitepaper A01.FR.12; found by the secrets test, it was served in clear).
        event = FrameEvent(self.st.charge_box_id, kind, redact(text))
        for observer in self.frame_observers:
            try:
                observer(event)
            except Exception:
                # Watching the link must never break it.
                log.exception("%s: frame observer failed", self.st.charge_box_id)

    def wake(self) -> None:
        self._send_wake.set()

    def set_online(self, online: bool) -> None:
        if online:
            self._online.set()
        else:
            self._online.clear()
            ws = self._ws
            if ws is not None:
                # A pulled network cable: no closing handshake reaches the other side.
                ws.transport.abort()

    async def close(self) -> None:
        """Graceful power-off: a normal closing handshake (code 1000)."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close()

    def abort(self) -> None:
        """Power cut: the connection just disappears, as a TCP peer sees it."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    # -- connection loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        net = self.st.settings.network
        backoff = net.reconnect_min_s
        while True:
            await self._online.wait()
            reconnect_now = False
            connected = False
            try:
                profile = self.st.security.profile
                self.url = with_scheme(self.base_url, profile)
                context = self._ssl_context(profile)
                async with connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],
                    additional_headers=self._headers(profile),
                    ssl=context,
                    ping_interval=None,  # pings follow WebSocketPingInterval, see _pinger
                    open_timeout=10,
                    close_timeout=2,
                    max_size=net.max_frame_bytes,  # bigger: closed with 1009 (README "Reliability")
                ) as ws:
                    if ws.subprotocol != SUBPROTOCOL:
                        # OCPP-J 1.6 §3.2: a server that does not select ocpp1.6 is a failed connection.
                        raise LinkError(f"server did not select subprotocol ocpp1.6 (got {ws.subprotocol!r})")
                    backoff = net.reconnect_min_s
                    self.last_error = None
                    connected = True
                    self.st.take_reconnect_request()  # this connection already uses what was asked for
                    log.info("%s: connected to %s (security profile %d)", self.st.charge_box_id, self.url, profile)
                    self.st.security.on_connection_established(peer_roots(self.st, ws.transport))
                    try:
                        await self._session(ws)
                    except Reconnect:
                        # A closure the core asked for is a normal one (RFC 6455 §7.4.1: 1000), not the internal
                        # error (1011) websockets' context manager reports for any exception leaving it.
                        await ws.close()
                        raise
            except asyncio.CancelledError:
                raise
            except Reconnect as request:
                log.info("%s: reconnecting: %s", self.st.charge_box_id, request)
                reconnect_now = True
            except (
                OSError,
                InvalidHandshake,
                InvalidURI,
                LinkError,
                ConnectionClosed,
                TimeoutError,
                TlsSetupError,
            ) as exc:
                self._note_error(f"{type(exc).__name__}: {exc}")
                if not connected:
                    report_failed_attempt(self.st, exc, self.url)
            except Exception as exc:
                # A bug must cost one connection, never the link for good: log it and reconnect.
                log.exception("%s: link failed unexpectedly, reconnecting", self.st.charge_box_id)
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.first_attempt.set()
                self._ws = None
                self._fail_pending()
                if self.st.connected:
                    self._observe("disconnected")
                    self.st.on_disconnected()
                    log.info("%s: disconnected", self.st.charge_box_id)
            if reconnect_now:
                continue
            # Capped exponential back-off with jitter (OCPP-J errata 3.4: do not overload the CS).
            delay = backoff * (0.5 + self._rng.random() / 2)
            backoff = min(backoff * 2, net.reconnect_max_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wait_offline_change()

    async def _wait_offline_change(self) -> None:
        # Returning to online ends the back-off at once; otherwise wait out the delay.
        if self._online.is_set():
            await asyncio.Event().wait()
        await self._online.wait()

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s: link to %s failed: %s", self.st.charge_box_id, self.url, message)
        self.last_error = message

    def _headers(self, profile: int) -> dict[str, str]:
        authorization = basic_authorization(self.st, profile)
        return {} if authorization is None else {"Authorization": authorization}

    def _ssl_context(self, profile: int) -> ssl.SSLContext | None:
        if profile >= SecurityProfile.TLS_BASIC:
            files = self.key_files
            chain = None if files is None or not files.chain_path.exists() else files.chain_path
            return client_context(
                SecurityProfile(profile),
                self.st.security.central_system_roots(),
                certificate_chain=chain,
                private_key=None if files is None else files.key_path,
                legacy_rsa_key_exchange=self.st.settings.network.tls_legacy_rsa,
            )
        if not self.url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.st.settings.network.ca_file)

    # -- one connected session ----------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.st.on_connected()
        self._observe("connected")
        self.connected_once.set()
        self.first_attempt.set()
        tasks = [
            asyncio.create_task(self._reader(ws)),
            asyncio.create_task(self._writer(ws)),
            asyncio.create_task(self._pinger(ws)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        errors = [exc for task in done if (exc := task.exception()) is not None]
        # The pinger's verdict (a dead link) explains the end better than the reader's closed socket.
        for exc in sorted(errors, key=lambda e: not isinstance(e, LinkError)):
            raise exc

    async def _send_text(self, ws: ClientConnection, text: str) -> None:
        self.trace.info("%s → %s", self.st.charge_box_id, text)
        self._observe("sent", text)
        await ws.send(text)

    async def _reader(self, ws: ClientConnection) -> None:
        async for text in ws:
            self.trace.info("%s ← %s", self.st.charge_box_id, text)
            self._observe("received", str(text))
            try:
                message = parse_frame(text)
            except IgnoredFrame as exc:
                log.info("%s: ignored frame (%s)", self.st.charge_box_id, exc)
                continue
            except FrameError as exc:
                if exc.unique_id is None:
                    log.warning("%s: dropped unreadable frame: %s", self.st.charge_box_id, exc.description)
                    continue
                await self._send_text(ws, encode(CallError(exc.unique_id, exc.code, exc.description)))
                continue
            if isinstance(message, Call):
                response = self.st.handle_call(message)
                if response is not None:
                    await self._send_text(ws, encode(response))
                self.st.after_response()
                continue
            pending = self._pending.pop(message.unique_id, None)
            if pending is None:
                log.warning(
                    "%s: %s with unknown id %s ignored (no call of ours is waiting for it)",
                    self.st.charge_box_id,
                    type(message).__name__,
                    message.unique_id,
                )
                continue
            # Applied before the next frame is read: a call the central system sends right behind this
            # response (RemoteStopTransaction just after the StartTransaction.conf) must find its effect.
            self._deliver(pending[0], message)
            if not pending[1].done():
                pending[1].set_result(message)

    async def _writer(self, ws: ClientConnection) -> None:
        timeout = self.st.settings.network.response_timeout_s
        while True:
            self._send_wake.clear()
            reason = self.st.take_reconnect_request()
            if reason is not None:
                raise Reconnect(reason)
            call = self.st.next_call()
            if call is None:
                await self._send_wake.wait()
                continue
            future: asyncio.Future[CallResult | CallError] = asyncio.get_running_loop().create_future()
            self._pending[call.unique_id] = (call, future)
            try:
                await self._send_text(ws, encode(Call(call.unique_id, call.action, call.payload)))
                configured = self.st.config.get_int("MessageTimeout")
                async with asyncio.timeout(configured if configured > 0 else timeout):
                    await future  # the reader has delivered the response
            except TimeoutError:
                if self._pending.pop(call.unique_id, None) is None:
                    continue  # the reader delivered the response as the timeout struck
                self._observe("timeout", encode(Call(call.unique_id, call.action, call.payload)))
                outcome = self.st.on_failure(call, "timeout")
                log.warning(
                    "%s: no response to %s %s within %g s (MessageTimeout): %s",
                    self.st.charge_box_id,
                    call.action,
                    call.unique_id,
                    configured if configured > 0 else timeout,
                    outcome,
                )
                continue
            except BaseException:
                if self._pending.pop(call.unique_id, None) is not None:
                    self.st.on_failure(call, "disconnected")
                raise

    def _deliver(self, call: OutboundCall, response: CallResult | CallError) -> None:
        if isinstance(response, CallError):
            outcome = self.st.on_failure(call, "error")
            log.warning(
                "%s: %s %s answered with CallError %s %r: %s",
                self.st.charge_box_id,
                call.action,
                call.unique_id,
                response.code,
                response.description,
                outcome,
            )
            return
        try:
            schemas.validate_response(call.action, response.payload)
        except schemas.SchemaViolation as exc:
            # A CallResult that breaks the schema was not processed as it should be: a failure (OCPP 1.6 §3.7.1;
            # OCPP-J errata 3.3).
            outcome = self.st.on_failure(call, "error")
            log.warning(
                "%s: %s %s answered with an invalid CallResult (%s): %s",
                self.st.charge_box_id,
                call.action,
                call.unique_id,
                exc.description,
                outcome,
            )
            return
        self.st.on_result(call, response.payload)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for _, future in pending.values():
            if not future.done():
                future.cancel()

    async def _pinger(self, ws: ClientConnection) -> None:
        while True:
            interval = self.st.config.get_int("WebSocketPingInterval")
            # 0 = the station sends no pings (OCPP-J 1.6 §7); check again later for a change.
            await asyncio.sleep(interval if interval > 0 else 5)
            if interval <= 0:
                continue
            try:
                # The ping is sent inside the timeout too: on a half-open link the send itself can block
                # once the socket buffer is full (OCPP-J 1.6 §7; OCPP-J errata 3.11).
                async with asyncio.timeout(interval):
                    pong = await ws.ping()
                    await pong
            except TimeoutError:
                # A dead peer cannot complete a closing handshake: drop the TCP connection at once so that
                # the station goes offline now, not after close_timeout.
                ws.transport.abort()
                raise LinkError(f"no pong within {interval} s: link considered dead") from None
