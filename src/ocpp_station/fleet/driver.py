"""One station's connection in a fleet: the pure station core over websockets' sans-I/O protocol, no task.

The same duties as `shell/link.py` (OCPP-J 1.6 §3.1 connection with subprotocol ocpp1.6, one outbound CALL at a time
with a response timeout §4.1.1, inbound CALLs answered while waiting, pings every WebSocketPingInterval §7,
reconnection with capped exponential back-off and jitter, OCPP-J errata 3.4; a new connection at once when the core
asks for one, security whitepaper A01/A05; Firmware Management's file jobs, run by `fleet/file_jobs.py` while they
last; an installed firmware restarts the station like a Soft reset), but event-driven: bytes arrive in
`data_received`, every deadline (the core's timers, the response timeout, the ping, the reconnection, the scenario's
next step) is one entry in the fleet's shared heap (`timers.SharedTimers`). A driver owns no task, no lock, no event
and no logger; its connection is a small `_Connection` protocol object, replaced on each connect so that a late
callback of an old connection cannot reach the new one. The WebSocket layer is `wsframe`: websockets' opening
handshake, then a small frame codec of our own (the per-message cost of a fleet).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

from websockets.exceptions import InvalidHandshake
from websockets.typing import Subprotocol

from ocpp_station.fleet.context import FleetContext, Lane
from ocpp_station.fleet.trace import RECEIVED, SENT
from ocpp_station.fleet.wsframe import ClientCodec, ClientHandshake
from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import (
    Call,
    CallError,
    CallResult,
    FrameError,
    IgnoredFrame,
    MessageType,
    dumps_bytes,
    encode,
    parse_frame,
)
from ocpp_station.security.tls import TlsSetupError
from ocpp_station.shell.frame_events import FrameKind
from ocpp_station.shell.link import basic_authorization, peer_roots, report_failed_attempt
from ocpp_station.station.contract import Registration
from ocpp_station.station.hub import Station
from ocpp_station.station.outbox import OutboundCall

SUBPROTOCOL = Subprotocol("ocpp1.6")
OPEN_TIMEOUT_S = 10.0
# How long an accepted Reset lets the transaction messages out before the restart (as runtime.SOFT_RESET_DRAIN_S).
RESET_DRAIN_S = 10.0
_LATENESS_ACTIONS = ("Heartbeat", "MeterValues")

# Connection states. RECONNECTING: open, but the core asked for a new connection; it is closed once the call
# out (if any) is answered, as the runtime's link does.
IDLE, CONNECTING, OPEN, RECONNECTING = 0, 1, 2, 3


class _Connection(asyncio.Protocol):
    """The asyncio side of one TCP connection; forwards to its driver until detached."""

    __slots__ = ("codec", "driver", "handshake", "transport", "url")

    def __init__(self, driver: StationDriver, url: str) -> None:
        self.driver: StationDriver | None = driver
        self.url = url  # the station's URL in this connection's scheme (its SecurityProfile's)
        self.transport: asyncio.Transport | None = None
        self.handshake: ClientHandshake | None = None  # until the 101 response
        self.codec: ClientCodec | None = None  # once OPEN

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)
        if self.driver is None:
            self.transport.abort()
            return
        self.driver.on_transport(self)

    def data_received(self, data: bytes) -> None:
        if self.driver is not None:
            self.driver.on_data(self, data)

    def eof_received(self) -> bool | None:
        if self.handshake is not None and self.driver is not None:
            self.driver.on_handshake_eof(self)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.on_lost(self, exc)

    @property
    def is_open(self) -> bool:
        return self.codec is not None and not self.codec.closed

    def close(self, code: int) -> None:
        """Send a close frame, then close the TCP connection once it is written (as websockets' client did,
        without waiting for the server's close frame)."""
        if self.codec is not None:
            self.codec.send_close(code)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.driver = None
        if self.transport is not None:
            self.transport.abort()


class StationDriver:
    """Drives one `Station` core: its network, its timers, its scenario. See the module docstring."""

    __slots__ = (
        "_backoff",
        "_conn",
        "_connecting",
        "_dirty",
        "_fired",
        "_net_at",
        "_pending",
        "_pending_at",
        "_pending_until",
        "_pong_due",
        "_reset_at",
        "_starts",
        "_state",
        "booted",
        "connections",
        "controls",
        "core",
        "draws",
        "fleet",
        "hardware",
        "index",
        "jitter_draws",
        "manual",
        "online",
        "scenario_at",
        "scenario_lanes",
        "scheduled",
        "store",
    )

    def __init__(self, fleet: FleetContext, index: int, core: Station, built: object, store: object) -> None:
        self.fleet = fleet
        self.index = index
        self.core = core
        self.hardware = built  # assemble.BuiltHardware: outlives a reset, as the physical hardware does
        self.controls = getattr(built, "controls", None)
        self.store = store
        self.scheduled = math.inf  # SharedTimers' bookkeeping
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[Any] | None = None
        self._state = IDLE
        self._net_at = math.inf  # IDLE: reconnect at; CONNECTING: give up at; OPEN: next ping at
        self._pending: OutboundCall | None = None
        self._pending_at = 0.0
        self._pending_until = math.inf
        self._pong_due = False
        self._backoff = 0.0
        self._dirty = False
        self._fired: float | None = None  # the earliest core deadline fired whose message is not out yet
        self._reset_at = math.inf
        self._starts: dict[int, int] | None = None  # transactionId → meterStart, for the energy in the report
        self.online = True  # the simulated network cable
        self.booted = False
        self.connections = 0
        self.draws = 0  # how many random draws this station made: its seeded sequence (Fleet.rand)
        self.jitter_draws = 0  # the same for its reconnection jitter (Fleet.jitter)
        self.scenario_at = math.inf
        self.scenario_lanes: tuple[Lane, ...] = ()
        self.manual = False  # powered by hand (a test bench), not by the fleet: the scenario leaves it alone
        core.set_waker(self.wake)

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def charge_box_id(self) -> str:
        return self.core.charge_box_id

    @property
    def connected(self) -> bool:
        return self._state >= OPEN

    def start(self, connect_at: float) -> None:
        self.core.start()
        self._net_at = connect_at
        self._after()

    def stop(self) -> None:
        """Graceful power-off at the end of a run: a normal closing handshake (code 1000)."""
        self._net_at = math.inf
        self.online = False
        conn = self._conn
        if conn is not None and conn.is_open:
            conn.close(1000)
        elif conn is not None:
            conn.abort()
        if self._connecting is not None:
            self._connecting.cancel()
        self.fleet.timers.schedule(self, math.inf)

    def flush(self) -> None:
        """Called by the fleet once per loop turn after a wake: act on what the wakes announced."""
        if self._dirty:
            self._after()

    def wake(self) -> None:
        if not self._dirty:
            self._dirty = True
            self.fleet.mark_ready(self)

    def set_online(self, online: bool) -> None:
        if online == self.online:
            return
        self.online = online
        if not online:
            conn = self._conn
            if conn is not None:
                # A pulled network cable: no closing handshake reaches the other side.
                conn.abort()
                self._failed(None)
            if self._connecting is not None:
                self._connecting.cancel()
            self._net_at = math.inf
        else:
            self._backoff = 0.0
            self._net_at = self.fleet.now() + self.fleet.reconnect_spread() * self.fleet.jitter(self)
        self._after()

    # -- connecting --------------------------------------------------------------------------------------
    def _connect(self, now: float) -> None:
        fleet = self.fleet
        self._state = CONNECTING
        self._net_at = now + OPEN_TIMEOUT_S
        try:
            endpoint = fleet.endpoint(self.core)
        except TlsSetupError as exc:
            # A05.FR.03/04 prerequisites gone (a root deleted): an attempt that failed, as the link counts it.
            fleet.note_error("tls-setup", f"{type(exc).__name__}: {exc}")
            self._failed(None, exc)
            return
        conn = _Connection(self, endpoint.url)
        self._conn = conn
        future = asyncio.ensure_future(
            fleet.loop.create_connection(lambda: conn, endpoint.host, endpoint.port, ssl=endpoint.ssl_context)
        )
        self._connecting = future
        future.add_done_callback(lambda f: self._connect_done(conn, f))

    def _connect_done(self, conn: _Connection, future: asyncio.Future[Any]) -> None:
        if self._connecting is future:
            self._connecting = None
        if future.cancelled():
            if self._conn is conn and self._state == CONNECTING:
                self._failed("connect-timeout", TimeoutError("no connection within the open timeout"))
            return
        exc = future.exception()
        if exc is not None and self._conn is conn:
            self.fleet.note_error("connect", f"{type(exc).__name__}: {exc}")
            self._failed(None, exc)

    def on_transport(self, conn: _Connection) -> None:
        handshake = ClientHandshake(conn.url, [SUBPROTOCOL])
        conn.handshake = handshake
        assert conn.transport is not None
        conn.transport.write(handshake.request(basic_authorization(self.core, self.core.security.profile)))

    def _failed(self, kind: str | None, attempt_error: BaseException | None = None) -> None:
        """The connection attempt or the connection ended: back off, then try again. `attempt_error`: why an
        attempt failed, for the station's security profile (its events and the A05.FR.08 fallback count)."""
        if kind is not None:
            self.fleet.stats.errors[kind] += 1
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()
        was_open = self._state >= OPEN
        if not was_open and self.online:
            report_failed_attempt(self.core, attempt_error, "" if conn is None else conn.url)
        self._state = IDLE
        pending, self._pending = self._pending, None
        self._pending_until = math.inf
        if pending is not None:
            self.core.on_failure(pending, "disconnected")
        if was_open or self.core.connected:
            self.core.on_disconnected()
        if self.online and self.fleet.running:
            net = self.core.settings.network
            if was_open:
                # The connection was up: the central system (or the path to it) went away, and so did everyone
                # else's; the first retry is spread over the ramp's time so that it does not see all N at once.
                self._backoff = net.reconnect_min_s
                delay = self.fleet.reconnect_spread() * self.fleet.jitter(self)
            else:
                self._backoff = min(max(self._backoff * 2, net.reconnect_min_s), net.reconnect_max_s)
                delay = self._backoff * (0.5 + self.fleet.jitter(self) / 2)
            self._net_at = self.fleet.now() + delay
        else:
            self._net_at = math.inf
        self._after()

    def on_lost(self, conn: _Connection, exc: Exception | None) -> None:
        if conn is not self._conn:
            return
        self._failed("connection-lost" if self._state >= OPEN and self.online else None, exc)

    # -- receiving -------------------------------------------------------------------------------------
    def on_data(self, conn: _Connection, data: bytes) -> None:
        codec = conn.codec
        if codec is None:
            handshake = conn.handshake
            if handshake is not None and handshake.receive(data):
                self._on_handshake(conn, handshake)
            return
        for message in codec.receive(data):
            if conn is not self._conn:
                break
            self._on_text(conn, message)
        if codec.pong:
            codec.pong = False
            if conn is self._conn:
                self._pong_due = False
        if codec.closed:
            self._on_closed(conn, codec)
        if self._dirty:
            self._after()

    def on_handshake_eof(self, conn: _Connection) -> None:
        handshake = conn.handshake
        if handshake is not None and handshake.receive_eof():
            self._on_handshake(conn, handshake)

    def _on_closed(self, conn: _Connection, codec: ClientCodec) -> None:
        """The codec answered the server's close frame or failed the connection (RFC 6455 §7.1.7)."""
        transport = conn.transport
        if transport is not None:
            transport.close()
        if codec.failure is not None and conn is self._conn:
            code, reason = codec.failure
            self.fleet.note_error("protocol", f"closed with {code}: {reason}")
            # The close frame is on its way: the connection is detached, not aborted.
            conn.driver = None
            self._conn = None
            self._failed(None)

    def _on_handshake(self, conn: _Connection, handshake: ClientHandshake) -> None:
        conn.handshake = None
        if conn is not self._conn:
            return
        exc = handshake.error
        if exc is None and handshake.subprotocol != SUBPROTOCOL:
            # OCPP-J 1.6 §3.2: a server that does not select ocpp1.6 is a failed connection.
            exc = InvalidHandshake(f"server did not select subprotocol ocpp1.6 (got {handshake.subprotocol!r})")
        if exc is not None:
            self.fleet.note_error("handshake", f"{type(exc).__name__}: {exc}")
            self._failed(None, exc)
            return
        assert conn.transport is not None
        codec = ClientCodec(conn.transport.write, self.core.settings.network.max_frame_bytes)
        conn.codec = codec
        now = self.fleet.now()
        self._state = OPEN
        self._backoff = 0.0
        self.connections += 1
        self.fleet.stats.connects += 1
        if self.connections > 1:
            self.fleet.stats.reconnects += 1
        self._pong_due = False
        interval = self.core.config.get_int("WebSocketPingInterval")
        self._net_at = now + interval if interval > 0 else math.inf
        self.core.take_reconnect_request()  # this connection already uses what was asked for
        self.core.security.on_connection_established(peer_roots(self.core, conn.transport))
        self.core.on_connected()
        self._after()
        # A central system may send its first CALL in the same packet as the 101 response.
        if handshake.leftover and conn is self._conn:
            self.on_data(conn, handshake.leftover)

    def _send(self, conn: _Connection, text: str) -> None:
        codec = conn.codec
        if codec is not None:
            fleet = self.fleet
            if fleet.trace is not None or fleet.live.watches:
                self._observe("sent", text)
            codec.send_text(text.encode())

    def _observe(self, kind: FrameKind, frame: str | bytes) -> None:
        """A frame for the fleet's trace and for a live feed of this station, if either is there."""
        fleet = self.fleet
        if fleet.trace is not None:
            arrow = SENT if kind == "sent" else RECEIVED
            fleet.trace.record(self.core.clock.now(), self.core.charge_box_id, arrow, frame)
        if fleet.live.watches:
            fleet.live.observe(self.core.charge_box_id, kind, frame)

    def _on_text(self, conn: _Connection, data: str | bytes) -> None:
        fleet = self.fleet
        stats = fleet.stats
        if fleet.trace is not None or fleet.live.watches:
            self._observe("received", data)
        try:
            message = parse_frame(data)
        except IgnoredFrame:
            return
        except FrameError as exc:
            stats.errors["bad-frame"] += 1
            if exc.unique_id is not None:
                self._send(conn, encode(CallError(exc.unique_id, exc.code, exc.description)))
            return
        core = self.core
        if isinstance(message, Call):
            stats.received[message.action] += 1
            response = core.handle_call(message)
            if response is not None:
                self._send(conn, encode(response))
            core.after_response()
            if core.reset_request is not None:
                if self._reset_at == math.inf:
                    self._reset_at = self.fleet.now() + RESET_DRAIN_S
            elif core.reconnect_request is not None and self._state == OPEN:
                # New credentials, certificate or security profile take effect on the next connection (security
                # whitepaper A01, A02.FR.08, A05.FR.06/07): nothing more is sent on this one.
                self._state = RECONNECTING
            self.wake()
            return
        pending = self._pending
        if pending is None or pending.unique_id != message.unique_id:
            stats.errors["unexpected-response"] += 1
            return
        now = self.fleet.now()
        self._pending = None
        self._pending_until = math.inf
        action = pending.action
        stats.response(action, now - self._pending_at)
        if isinstance(message, CallError):
            stats.call_errors[action] += 1
            core.on_failure(pending, "error")
        else:
            assert isinstance(message, CallResult)
            try:
                schemas.validate_response(action, message.payload)
            except schemas.SchemaViolation:
                # OCPP 1.6 §3.7.1, OCPP-J errata 3.3: a CallResult that breaks the schema is a failure.
                stats.errors["invalid-response"] += 1
                core.on_failure(pending, "error")
            else:
                core.on_result(pending, message.payload)
                self._account(pending, message.payload)
        self.wake()

    def _account(self, call: OutboundCall, payload: dict[str, object]) -> None:
        action = call.action
        if action == "BootNotification":
            if not self.booted and self.core.registration == Registration.ACCEPTED:
                self.booted = True
                self.fleet.on_booted(self)
        elif action == "StartTransaction":
            tx = payload.get("transactionId")
            start = call.payload.get("meterStart")
            if isinstance(tx, int) and isinstance(start, int):
                if self._starts is None:
                    self._starts = {}
                self._starts[tx] = start
        elif action == "StopTransaction":
            stats = self.fleet.stats
            stats.sessions += 1
            tx_id = call.payload.get("transactionId")
            start = None if self._starts is None or not isinstance(tx_id, int) else self._starts.pop(tx_id, None)
            stop = call.payload.get("meterStop")
            if start is not None and isinstance(stop, int):
                stats.energy_wh += stop - start
            if not self._starts:
                self._starts = None

    # -- sending and timers ----------------------------------------------------------------------------
    def _after(self) -> None:
        """After anything happened: send the next call if the link is free, then reschedule the one deadline."""
        self._dirty = False
        core = self.core
        if self._pending is None:
            state = self._state
            if state == OPEN:
                call = core.next_call()
                if call is not None:
                    self._send_call(call)
            elif state == RECONNECTING:
                self._reconnect()
        if core.firmware.jobs:
            # Queuing a file job wakes the station, so this one test per wake finds every job (fleet/file_jobs.py).
            self.fleet.file_jobs.start(self)
        if core.reset_request is not None and self._reset_at != math.inf:
            now = self.fleet.now()
            if now >= self._reset_at or not core.online or not core.has_messages_to_send():
                self._restart(core.reset_request)
                return
        self.fleet.timers.schedule(self, self._next_deadline())

    def _next_deadline(self) -> float:
        core = self.core
        # While a call is out, a status that became eligible cannot go anyway: the response wakes us, so only the
        # core's own timers count (else a past status deadline would fire again and again).
        deadline = core.timers.next_deadline() if self._pending is not None else core.next_deadline()
        candidates = (self._net_at, self._pending_until, self.scenario_at, self._reset_at)
        best = min(candidates)
        return best if deadline is None or deadline > best else deadline

    def _send_call(self, call: OutboundCall) -> None:
        conn = self._conn
        if conn is None:
            return
        now = self.fleet.now()
        self._pending = call
        self._pending_at = now
        configured = self.core.config.get_int("MessageTimeout")
        timeout = configured if configured > 0 else self.core.settings.network.response_timeout_s
        self._pending_until = now + timeout
        action = call.action
        stats = self.fleet.stats
        stats.sent[action] += 1
        if self._fired is not None and action in _LATENESS_ACTIONS:
            stats.late(action, now - self._fired)
            self._fired = None
        codec = conn.codec
        if codec is not None:
            # The frame itself, without a `Call` object per message (OCPP-J 1.6 §4.2.1).
            frame = dumps_bytes([MessageType.CALL, call.unique_id, action, call.payload])
            fleet = self.fleet
            if fleet.trace is not None or fleet.live.watches:
                self._observe("sent", frame)
            codec.send_text(frame)

    def on_timer(self, now: float, deadline: float) -> None:
        core = self.core
        due = core.next_deadline()
        if due is not None and due <= now:
            if self._fired is None:
                self._fired = due
            core.tick()
        if self._pending is not None and now >= self._pending_until:
            pending, self._pending = self._pending, None
            self._pending_until = math.inf
            # Counted, not fatal: the station goes on as OCPP 1.6 §3.7 says (transaction messages are retried).
            self.fleet.stats.errors["timeout"] += 1
            core.on_failure(pending, "timeout")
        if now >= self._net_at:
            self._on_net_deadline(now)
        if now >= self.scenario_at:
            self.scenario_at = math.inf
            self.fleet.scenario.step(self, now)
        self._after()

    def _reconnect(self) -> None:
        """Close normally (1000) and connect again at once, without back-off: the connection the core asked for."""
        self.core.take_reconnect_request()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(1000)
            conn.driver = None
        self._state = IDLE
        self._pong_due = False
        self.core.on_disconnected()
        self._backoff = 0.0
        if self.online and self.fleet.running:
            self._connect(self.fleet.now())
        else:
            self._net_at = math.inf

    def on_file_job_ended(self) -> None:
        """A file job reported its outcome into the core. An installed firmware asks for a restart, to boot it
        before reporting Installed (OCPP 1.6 §5.19): like a Soft reset, the transaction messages go out first."""
        if self.core.reset_request is not None and self._reset_at == math.inf:
            self._reset_at = self.fleet.now() + RESET_DRAIN_S
        self.wake()

    def _on_net_deadline(self, now: float) -> None:
        state = self._state
        if state == IDLE:
            self._net_at = math.inf
            if self.online and self.fleet.running:
                self._connect(now)
        elif state == CONNECTING:
            if self._connecting is not None:
                self._connecting.cancel()
            self._failed("connect-timeout", TimeoutError("no connection within the open timeout"))
        else:
            interval = self.core.config.get_int("WebSocketPingInterval")
            conn = self._conn
            if self._pong_due and conn is not None:
                # OCPP-J 1.6 §7, errata 3.11: no pong within the interval: the link is dead; drop it now.
                self._failed("ping-timeout")
                return
            if interval <= 0 or conn is None or conn.codec is None:
                self._net_at = now + 5 if interval <= 0 else math.inf  # look again for a change of the key
                return
            conn.codec.send_ping()
            self._pong_due = True
            self._net_at = now + interval

    # -- the power switch (a test bench driving one station of the fleet) --------------------------------
    def power_off(self, graceful: bool) -> None:
        """Switch the station off: a graceful power-off closes the link normally (1000), a cut just drops it;
        either way nothing more is sent and no timer of the old core fires again."""
        self.online = False
        self._net_at = math.inf
        conn, self._conn = self._conn, None
        if conn is not None:
            if graceful and conn.is_open:
                conn.close(1000)
                conn.driver = None
            else:
                conn.abort()
        if self._connecting is not None:
            self._connecting.cancel()
        self._state = IDLE
        self._pending = None
        self._pending_until = math.inf
        self._reset_at = math.inf
        self.fleet.file_jobs.cancel(self.core.charge_box_id)
        self.core.timers.cancel_all()
        self.core.set_waker(lambda: None)
        if self.booted:
            self.booted = False
            self.fleet.on_reset()
        self.fleet.timers.schedule(self, math.inf)

    def power_on(self) -> None:
        """Switch the station on: a new core over the same store and hardware (as a power cycle leaves them),
        connecting at once."""
        self.online = True
        self.core = self.fleet.rebuild(self.core.charge_box_id, self.store, self.hardware)
        self.core.set_waker(self.wake)
        self.core.start()
        self._backoff = 0.0
        self._net_at = self.fleet.now()
        self._after()

    # -- reset -----------------------------------------------------------------------------------------
    def _restart(self, kind: str) -> None:
        """An accepted Reset (OCPP 1.6 §5.14): a new core over the same store and hardware, booting again."""
        self._reset_at = math.inf
        conn, self._conn = self._conn, None
        if conn is not None:
            if kind == "Soft" and conn.is_open:
                # A soft reset restarts the software: it closes the link normally (1000).
                conn.close(1000)
                conn.driver = None
            else:
                conn.abort()
        self._state = IDLE
        self._pending = None
        self._pending_until = math.inf
        # The runtime's restart cancels the old core's file jobs too: none reports into the core that follows.
        self.fleet.file_jobs.cancel(self.core.charge_box_id)
        self.core.timers.cancel_all()
        self.core.set_waker(lambda: None)
        self.core = self.fleet.rebuild(self.core.charge_box_id, self.store, self.hardware)
        self.core.set_waker(self.wake)
        self.booted = False
        self.fleet.on_reset()
        self.core.start()
        self._net_at = self.fleet.now()
        self._after()
