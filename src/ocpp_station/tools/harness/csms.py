"""`ScriptedCsms`: the Central System half of a conformance case (the role OCTT plays).

A WebSocket server on 127.0.0.1 that accepts `/{chargeBoxId}` with subprotocol `ocpp1.6` (OCPP-J 1.6
§3.1), records every frame in both directions with a monotonic timestamp, validates every payload
against the official schemas (OCTT document §1.2: "All messages shall comply with the OCPP 1.6
schemas" — ours included, so a harness bug cannot pass as a station bug), answers the station's
requests automatically (defaults overridable per action) and lets a case

* `expect` the station's next request (anything else that arrives first fails, unless tolerated),
* `expect_unordered` a group of requests the document allows in any order,
* `expect_nothing` for a while,
* `call` the station and get its CallResult payload or CallError,

while collecting the timings of the certificate's performance table.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    IgnoredFrame,
    Message,
    Payload,
    dumps,
    encode,
    new_unique_id,
    parse_frame,
)
from ocpp_station.protocol.schemas import (
    CP_TO_CS_ACTIONS,
    SECURITY_CP_TO_CS_ACTIONS,
    SchemaViolation,
    validate_request,
    validate_response,
)
from ocpp_station.shell.link import station_url
from ocpp_station.tools.harness.faultproxy import FaultProxy
from ocpp_station.tools.harness.settings import HarnessSettings

SUBPROTOCOL = "ocpp1.6"

# Requests a Charge Point may send: the 1.6 CP→CS set plus the CP-initiated messages of the security
# whitepaper (edition 3, §2 / §4 / §5), which the official schema set also covers.
STATION_ACTIONS: frozenset[str] = CP_TO_CS_ACTIONS | SECURITY_CP_TO_CS_ACTIONS

_ERROR_CODES: frozenset[str] = frozenset(code.value for code in ErrorCode)

Direction = Literal["CP→CS", "CS→CP", "event"]
T = TypeVar("T")


class CaseFailure(AssertionError):
    """The station did not do what the OCTT document requires: the verdict of the case is Fail."""


class ProtocolViolation(CaseFailure):
    """A frame broke OCPP-J framing or the official schemas (recorded, fails the case)."""


class NoResponse(Enum):
    """Answer nothing: lets a case make the station's request time out."""

    TOKEN = 0


NO_RESPONSE = NoResponse.TOKEN

Reply: TypeAlias = Payload | CallError | NoResponse
Responder: TypeAlias = Callable[[Call], Reply]
Where: TypeAlias = Callable[[Payload], bool] | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class FrameRecord:
    time: float  # time.monotonic()
    direction: Direction
    text: str
    connection: int  # 1 = the first WebSocket connection of this run, 0 = none


@dataclass(frozen=True, slots=True)
class TimingRecord:
    """One measurement for the performance table.

    kind "response": our request sent → the station's CallResult/CallError received.
    kind "triggered": our request sent → a station request that resulted from it received.
    """

    kind: Literal["response", "triggered"]
    request: str
    result: str  # "CallResult" / "CallError" for responses, the station's action for triggered
    seconds: float


@dataclass(slots=True)
class StationCall:
    """A request the station sent, with what the tool answered."""

    call: Call
    received_at: float
    connection: int
    response: Payload | CallError | None = None
    responded_at: float | None = None

    @property
    def action(self) -> str:
        return self.call.action

    @property
    def payload(self) -> Payload:
        return self.call.payload

    @property
    def unique_id(self) -> str:
        return self.call.unique_id

    @property
    def response_payload(self) -> Payload:
        """What the tool answered; a CaseFailure when it answered with a CallError or not at all."""
        if not isinstance(self.response, dict):
            raise CaseFailure(f"the tool sent no CallResult to {self.action}")
        return self.response


@dataclass(frozen=True, slots=True)
class Expect:
    """One expected station request: its action and (optionally) conditions on its payload.

    `where` is either a mapping of top-level fields to required values (shown in failure messages) or a
    predicate; a predicate that raises KeyError/TypeError/... simply does not match.
    """

    action: str
    where: Where = None
    label: str = ""

    def matches(self, call: Call) -> bool:
        if call.action != self.action:
            return False
        if self.where is None:
            return True
        if isinstance(self.where, Mapping):
            return all(call.payload.get(key) == value for key, value in self.where.items())
        try:
            return bool(self.where(call.payload))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return False

    def describe(self) -> str:
        if self.label:
            return f"{self.action}.req ({self.label})"
        if isinstance(self.where, Mapping):
            fields = ", ".join(f"{key}={value!r}" for key, value in self.where.items())
            return f"{self.action}.req ({fields})"
        if self.where is not None:
            return f"{self.action}.req (matching a condition)"
        return f"{self.action}.req"


Tolerance: TypeAlias = str | Expect


@dataclass(slots=True)
class _PendingCall:
    action: str
    connection: int
    sent_at: float
    future: asyncio.Future[tuple[CallResult | CallError, float]]


@dataclass(slots=True)
class _Overrides:
    persistent: dict[str, Responder] = field(default_factory=dict)
    once: dict[str, deque[Responder]] = field(default_factory=dict)


def _as_responder(reply: Reply | Responder) -> Responder:
    if callable(reply):
        return reply
    value = reply
    return lambda _call: value


@dataclass(frozen=True, slots=True)
class HandshakeRecord:
    """What one accepted WebSocket handshake carried (security whitepaper §2, OCTT TC_085–TC_087)."""

    connection: int
    authorization: str | None  # the Authorization header as sent
    client_certificate: bytes | None  # DER of the TLS client certificate, None without one
    tls_version: str | None
    cipher: str | None


def _port(server: Server) -> int:
    return int(server.sockets[0].getsockname()[1])


class ScriptedCsms:
    """One Central System for one station under test; start() before use, stop() after.

    `ssl_context`: serve wss:// with it (security profiles 2 and 3: server-only or mutual TLS). With `plain_too`
    as well, one port serves both ws:// and wss:// (a `FaultProxy` routing by the first bytes to a plain and a TLS
    server): the station of TC_083 keeps its URL when it moves up from security profile 1 to 2."""

    def __init__(
        self,
        settings: HarnessSettings,
        *,
        charge_box_id: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        plain_too: bool = False,
    ) -> None:
        self.settings = settings
        self.ssl_context = ssl_context
        self.plain_too = plain_too and ssl_context is not None
        self.handshakes: list[HandshakeRecord] = []
        self.charge_box_id = settings.charge_box_id if charge_box_id is None else charge_box_id
        self.frames: list[FrameRecord] = []
        self.violations: list[str] = []
        self.timings: list[TimingRecord] = []
        self.station_calls: list[StationCall] = []  # every request the station sent, in arrival order
        self.connection_count = 0
        self.started_at = time.monotonic()
        self._server: Server | None = None
        self._plain_server: Server | None = None  # with plain_too: the ws:// side
        self._front: FaultProxy | None = None  # with plain_too: the one port the station dials
        self._connection: ServerConnection | None = None
        self._connection_no = 0
        self._inbox: deque[StationCall] = deque()
        self._pending: dict[str, _PendingCall] = {}
        self._call_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._overrides = _Overrides()
        self._refuse_status: HTTPStatus | None = None
        self._transaction_ids = itertools.count(1)
        self._last_sent: dict[str, float] = {}
        self._statuses: dict[int, str] = {}
        self._violations_reported = 0
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("ScriptedCsms already started")
        self.started_at = time.monotonic()
        self._server = await self._serve(self.ssl_context)
        if self.plain_too:
            self._plain_server = await self._serve(None)
            self._front = FaultProxy("127.0.0.1", _port(self._plain_server), tls_target_port=_port(self._server))
            await self._front.start()
        self._event("listening on " + self.url + (" (wss:// too)" if self.plain_too else ""))

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> Server:
        return await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            process_request=self._process_request,
            ssl=ssl_context,
            # OCTT does not ping; leaving pings to the station keeps the frame log to OCPP traffic.
            ping_interval=None,
            compression=None,
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for each in (server, self._plain_server):
            if each is not None:
                each.close()  # the closing handshakes still pass through the front
                await each.wait_closed()
        self._plain_server = None
        front, self._front = self._front, None
        if front is not None:
            await front.stop()
        for task in list(self._background):
            task.cancel()
        self._event("stopped")

    async def __aenter__(self) -> ScriptedCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedCsms not started")
        return self._front.port if self._front is not None else _port(self._server)

    @property
    def url(self) -> str:
        """The Central System endpoint; the station appends `/{chargeBoxId}` (OCPP-J 1.6 §3.1.1). Serving both
        schemes it is a ws:// URL: a station in profile 2 or 3 dials wss:// on the same port (`link.with_scheme`)."""
        tls = self.ssl_context is not None and not self.plain_too
        return f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}"

    @property
    def station_url(self) -> str:
        return station_url(self.url, self.charge_box_id)

    @property
    def connected(self) -> bool:
        return self._connection is not None

    # --- connection control ------------------------------------------------------------------------

    def refuse_connections(self, status: HTTPStatus | None = HTTPStatus.SERVICE_UNAVAILABLE) -> None:
        """Answer new WebSocket handshakes with `status` (None: accept again). Open connections stay."""
        self._refuse_status = status
        self._event(f"refusing connections with HTTP {int(status)}" if status else "accepting connections")

    async def close_connection(self, code: int = 1000, reason: str = "") -> None:
        """Close the station's current connection from the Central System side."""
        connection = self._connection
        if connection is not None:
            self._event(f"closing connection #{self._connection_no} (code {code})")
            await connection.close(code, reason)

    async def send_raw(self, text: str) -> None:
        """Send `text` as it is (a misbehaving Central System: stray or malformed frames); recorded, unchecked."""
        connection = self._connection
        if connection is None:
            raise CaseFailure("cannot send a raw frame: the station is not connected")
        self._record("CS→CP", text, self._connection_no, time.monotonic())
        await connection.send(text)

    async def wait_connected(self, timeout: float | None = None, *, after: int = 0) -> int:
        """Wait for an open connection whose number is > `after`; returns its number."""
        limit = self.settings.connect_timeout if timeout is None else timeout

        def check() -> int | None:
            if self._connection is not None and self._connection_no > after:
                return self._connection_no
            return None

        return await self._wait(check, limit, "a WebSocket connection from the station", raise_violations=False)

    async def wait_disconnected(self, timeout: float | None = None) -> None:
        limit = self.settings.message_timeout if timeout is None else timeout
        await self._wait(
            lambda: True if self._connection is None else None,
            limit,
            "the station to close its connection",
            raise_violations=False,
        )

    # --- responses to the station's requests ---------------------------------------------------------

    def respond_with(self, action: str, reply: Reply | Responder, *, once: bool = True) -> None:
        """Answer the station's next `action` request (once=True, queued in order) or all of them
        (once=False) with a payload, a CallError, NO_RESPONSE, or a callable computing one of those."""
        responder = _as_responder(reply)
        if once:
            self._overrides.once.setdefault(action, deque()).append(responder)
        else:
            self._overrides.persistent[action] = responder

    def reset_responses(self, action: str | None = None) -> None:
        if action is None:
            self._overrides = _Overrides()
        else:
            self._overrides.persistent.pop(action, None)
            self._overrides.once.pop(action, None)

    def default_response(self, call: Call) -> Payload:
        """The tool's automatic answers (happy path of every OCTT Charge Point case)."""
        now = iso_utc(time.time())
        payload = call.payload
        if call.action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": self.settings.heartbeat_interval}
        if call.action == "Heartbeat":
            return {"currentTime": now}
        if call.action == "Authorize":
            return {"idTagInfo": self.id_tag_info(str(payload.get("idTag", "")))}
        if call.action == "StartTransaction":
            return {
                "idTagInfo": self.id_tag_info(str(payload.get("idTag", ""))),
                "transactionId": next(self._transaction_ids),
            }
        if call.action == "StopTransaction":
            if "idTag" in payload:
                return {"idTagInfo": self.id_tag_info(str(payload["idTag"]))}
            return {}
        if call.action == "DataTransfer":
            # The tool has no vendor-specific extensions (OCPP 1.6 §4.3).
            return {"status": "UnknownVendorId"}
        if call.action == "SignCertificate":
            return {"status": "Rejected"}
        # StatusNotification, MeterValues, DiagnosticsStatusNotification, FirmwareStatusNotification and
        # the security notifications all have an empty .conf.
        return {}

    def id_tag_info(self, id_tag: str) -> Payload:
        """Accepted for the configured valid idTags, Invalid otherwise; no parentIdTag or expiryDate
        (cases about parentIdTag, e.g. TC_069, answer with their own responder)."""
        # IdToken is case-insensitive (OCPP 1.6 §3.9 / §7.28).
        valid = {tag.casefold() for tag in self.settings.valid_id_tags}
        return {"status": "Accepted" if id_tag.casefold() in valid else "Invalid"}

    # --- what the station reported ---------------------------------------------------------------------

    def last_status(self, connector_id: int) -> str | None:
        """The status of the station's latest StatusNotification for that connector (None: none yet)."""
        return self._statuses.get(connector_id)

    # --- expectations ---------------------------------------------------------------------------------

    async def expect(
        self,
        action: str,
        where: Where = None,
        *,
        timeout: float | None = None,
        tolerate: Iterable[Tolerance] | None = None,
        triggered_by: str | None = None,
        label: str = "",
    ) -> StationCall:
        """The station's next request must be `action` (matching `where`); tolerated requests that come
        first are skipped, anything else fails the case at once."""
        (found,) = await self.expect_unordered(
            [Expect(action, where, label)], timeout=timeout, tolerate=tolerate, triggered_by=triggered_by
        )
        return found

    async def expect_unordered(
        self,
        steps: Sequence[Expect],
        *,
        timeout: float | None = None,
        tolerate: Iterable[Tolerance] | None = None,
        triggered_by: str | None = None,
    ) -> list[StationCall]:
        """All `steps` in any order (OCTT §1.2: e.g. StartTransaction and StatusNotification(Charging)
        may be reversed); returns the matching requests in the order of `steps`."""
        limit = self.settings.message_timeout if timeout is None else timeout
        tolerated = self._tolerance(tolerate)
        pending = list(range(len(steps)))
        found: dict[int, StationCall] = {}

        def check() -> list[StationCall] | None:
            while pending and self._inbox:
                head = self._inbox[0]
                index = next((i for i in pending if steps[i].matches(head.call)), None)
                self._inbox.popleft()
                if index is not None:
                    found[index] = head
                    pending.remove(index)
                    if triggered_by is not None:
                        self._record_triggered(triggered_by, head)
                    continue
                if any(self._tolerates(t, head.call) for t in tolerated):
                    continue
                raise CaseFailure(
                    f"unexpected {head.action}.req {_short(head.payload)} while waiting for "
                    + " and ".join(steps[i].describe() for i in pending)
                )
            return None if pending else [found[i] for i in range(len(steps))]

        def what() -> str:
            return " and ".join(steps[i].describe() for i in pending)

        return await self._wait(check, limit, what)

    async def expect_one_of(
        self,
        steps: Sequence[Expect],
        *,
        timeout: float | None = None,
        tolerate: Iterable[Tolerance] | None = None,
        triggered_by: str | None = None,
    ) -> StationCall:
        """The station's next request must match one of `steps` (where the document allows alternatives,
        e.g. TC_015: StopTransaction before or after the reboot); returns it, the caller sees which."""
        limit = self.settings.message_timeout if timeout is None else timeout
        tolerated = self._tolerance(tolerate)

        def check() -> StationCall | None:
            while self._inbox:
                head = self._inbox.popleft()
                if any(step.matches(head.call) for step in steps):
                    if triggered_by is not None:
                        self._record_triggered(triggered_by, head)
                    return head
                if not any(self._tolerates(t, head.call) for t in tolerated):
                    raise CaseFailure(
                        f"unexpected {head.action}.req {_short(head.payload)} while waiting for "
                        + " or ".join(step.describe() for step in steps)
                    )
            return None

        return await self._wait(check, limit, lambda: " or ".join(step.describe() for step in steps))

    async def expect_nothing(
        self,
        action: str | None,
        for_seconds: float,
        where: Where = None,
        *,
        tolerate: Iterable[Tolerance] | None = None,
    ) -> None:
        """No `action` request (matching `where`) may arrive for `for_seconds` (action None: no request
        that is not tolerated). Other requests stay queued for the next expectation."""
        tolerated = self._tolerance(tolerate)
        forbidden = None if action is None else Expect(action, where)

        def offending() -> StationCall | None:
            for item in self._inbox:
                if forbidden is not None and forbidden.matches(item.call):
                    return item
                if forbidden is None and not any(self._tolerates(t, item.call) for t in tolerated):
                    return item
            return None

        loop = asyncio.get_running_loop()
        deadline = loop.time() + for_seconds
        while True:
            self.raise_if_violations()
            item = offending()
            if item is not None:
                what = action or "any request"
                raise CaseFailure(
                    f"{what} was not expected, but the station sent {item.action}.req {_short(item.payload)}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._next_change(remaining)

    def unconsumed(self) -> list[StationCall]:
        """Requests received but not (yet) matched or skipped by an expectation."""
        return list(self._inbox)

    # --- calls to the station -----------------------------------------------------------------------

    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Payload | CallError:
        """Send a request; return the station's CallResult payload or its CallError (both schema-checked)."""
        limit = self.settings.response_timeout if timeout is None else timeout
        try:
            validate_request(action, payload)
        except SchemaViolation as exc:
            self._violation(f"the tool's own {action}.req is invalid ({exc.code}: {exc.description})")
        except FileNotFoundError:
            pass  # deliberately unknown action (e.g. NotImplemented tests): nothing to validate against
        async with self._call_lock:
            # One outstanding request per direction (OCPP-J 1.6 §4.1.1).
            connection = self._connection
            if connection is None:
                raise CaseFailure(f"cannot send {action}.req: the station is not connected")
            loop = asyncio.get_running_loop()
            unique_id = new_unique_id()
            text = encode(Call(unique_id, action, payload))
            sent_at = time.monotonic()
            pending = _PendingCall(action, self._connection_no, sent_at, loop.create_future())
            self._pending[unique_id] = pending
            self._last_sent[action] = sent_at
            self._record("CS→CP", text, self._connection_no, sent_at)
            try:
                await connection.send(text)
                reply, received_at = await asyncio.wait_for(asyncio.shield(pending.future), limit)
            except TimeoutError:
                raise CaseFailure(f"no response to {action}.req within {limit:g} s") from None
            except ConnectionClosed:
                raise CaseFailure(f"the connection closed before {action}.req could be sent") from None
            finally:
                self._pending.pop(unique_id, None)
        kind = "CallResult" if isinstance(reply, CallResult) else "CallError"
        self.timings.append(TimingRecord("response", action, kind, received_at - sent_at))
        return reply.payload if isinstance(reply, CallResult) else reply

    async def call_result(self, action: str, payload: Payload, *, timeout: float | None = None) -> Payload:
        """`call`, where a CallError fails the case."""
        reply = await self.call(action, payload, timeout=timeout)
        if isinstance(reply, CallError):
            raise CaseFailure(
                f"{action}.req was answered with CallError {reply.code} {reply.description!r}, expected {action}.conf"
            )
        return reply

    # --- verdict helpers -----------------------------------------------------------------------------

    def raise_if_violations(self) -> None:
        if len(self.violations) > self._violations_reported:
            self._violations_reported = len(self.violations)
            raise ProtocolViolation("; ".join(self.violations))

    def format_log(self) -> str:
        return format_frames(self.frames, self.started_at)

    # --- internals: WebSocket side --------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._refuse_status is not None:
            self._event(f"refused a connection attempt to {request.path} (HTTP {int(self._refuse_status)})")
            return connection.respond(self._refuse_status, "refused by the test case\n")
        segments = urlsplit(request.path).path.split("/")
        identity = unquote(segments[1]) if len(segments) == 2 else ""
        if identity != self.charge_box_id:
            # OCPP-J 1.6 §3.1.1 / errata 3.4: an unknown identity may be refused with HTTP 404.
            self._event(f"refused a connection to {request.path}: expected /{self.charge_box_id}")
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point identity\n")
        offered = request.headers.get_all("Sec-WebSocket-Protocol")
        if not any(SUBPROTOCOL in [p.strip() for p in value.split(",")] for value in offered):
            # OCPP-J 1.6 §3.1.2: the client MUST offer ocpp1.6.
            self._violation(f"the WebSocket handshake did not offer subprotocol {SUBPROTOCOL} (offered {offered})")
            return connection.respond(HTTPStatus.BAD_REQUEST, "subprotocol ocpp1.6 required\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        previous = self._connection
        self.connection_count += 1
        number = self._connection_no = self.connection_count
        self._connection = connection
        self.handshakes.append(_handshake_record(number, connection))
        self._event(f"connection #{number} opened ({connection.request.path if connection.request else '?'})")
        self._notify()
        if previous is not None:
            # A new connection from the same identity replaces the old (half-open) one. Closed in the
            # background: a dead peer would hold the close handshake for close_timeout seconds.
            closing = asyncio.create_task(previous.close(1000, "replaced by a new connection"))
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        try:
            async for message in connection:
                received_at = time.monotonic()
                if isinstance(message, bytes):
                    self._record("CP→CS", repr(message), number, received_at)
                    self._violation("the station sent a binary frame; OCPP-J uses text frames (OCPP-J 1.6 §4.1)")
                    continue
                self._record("CP→CS", message, number, received_at)
                await self._on_text(connection, number, message, received_at)
        except ConnectionClosed:
            pass
        finally:
            code = connection.close_code
            self._event(f"connection #{number} closed (code {code})")
            if self._connection is connection:
                self._connection = None
            for unique_id, pending in list(self._pending.items()):
                if pending.connection == number and not pending.future.done():
                    pending.future.set_exception(
                        CaseFailure(f"the connection closed before the station answered {pending.action}.req")
                    )
                    self._pending.pop(unique_id, None)
            self._notify()

    async def _on_text(self, connection: ServerConnection, number: int, text: str, received_at: float) -> None:
        try:
            message: Message = parse_frame(text)
        except IgnoredFrame as exc:
            self._violation(f"the station sent a frame with an unknown MessageTypeId ({exc})")
            return
        except FrameError as exc:
            self._violation(f"the station sent a malformed frame: {exc.description}")
            if exc.unique_id is not None and text.lstrip().startswith("[2"):
                await self._send(connection, number, CallError(exc.unique_id, exc.code, exc.description))
            return
        if isinstance(message, Call):
            await self._on_call(connection, number, message, received_at)
        else:
            self._on_reply(message, received_at)

    async def _on_call(self, connection: ServerConnection, number: int, call: Call, received_at: float) -> None:
        item = StationCall(call, received_at, number)
        if call.action not in STATION_ACTIONS:
            self._violation(f"the station sent {call.action!r}, which is not a Charge Point request")
            await self._reply(connection, item, CallError(call.unique_id, ErrorCode.NOT_IMPLEMENTED, ""))
            return
        try:
            validate_request(call.action, call.payload)
        except SchemaViolation as exc:
            self._violation(f"{call.action}.req violates the schema ({exc.code}: {exc.description})")
            await self._reply(connection, item, CallError(call.unique_id, exc.code, exc.description))
            self._accept(item)
            return
        if call.action == "StatusNotification":
            self._statuses[int(call.payload["connectorId"])] = str(call.payload["status"])
        reply = self._responder(call.action)(call)
        if isinstance(reply, CallError):
            reply = CallError(call.unique_id, reply.code, reply.description, reply.details)
        elif isinstance(reply, dict):
            try:
                validate_response(call.action, reply)
            except SchemaViolation as exc:
                self._violation(f"the tool's own {call.action}.conf is invalid ({exc.code}: {exc.description})")
        self._accept(item)
        if not isinstance(reply, NoResponse):
            await self._reply(connection, item, reply)

    def _accept(self, item: StationCall) -> None:
        self.station_calls.append(item)
        self._inbox.append(item)
        self._notify()

    async def _reply(self, connection: ServerConnection, item: StationCall, reply: Payload | CallError) -> None:
        item.response = reply
        message: Message = reply if isinstance(reply, CallError) else CallResult(item.unique_id, reply)
        item.responded_at = await self._send(connection, item.connection, message)

    async def _send(self, connection: ServerConnection, number: int, message: Message) -> float:
        text = encode(message)
        sent_at = time.monotonic()
        self._record("CS→CP", text, number, sent_at)
        try:
            await connection.send(text)
        except ConnectionClosed:
            self._event(f"could not send on connection #{number}: closed")
        return sent_at

    def _on_reply(self, reply: CallResult | CallError, received_at: float) -> None:
        pending = self._pending.get(reply.unique_id)
        if pending is None or pending.future.done():
            self._violation(f"the station answered an unknown or already answered UniqueId {reply.unique_id!r}")
            return
        if isinstance(reply, CallResult):
            try:
                validate_response(pending.action, reply.payload)
            except SchemaViolation as exc:
                self._violation(f"{pending.action}.conf violates the schema ({exc.code}: {exc.description})")
        elif reply.code not in _ERROR_CODES:
            self._violation(f"CallError code {reply.code!r} is not an OCPP-J 1.6 error code (OCPP-J 1.6 §4.2.3)")
        pending.future.set_result((reply, received_at))

    def _responder(self, action: str) -> Responder:
        queued = self._overrides.once.get(action)
        if queued:
            return queued.popleft()
        return self._overrides.persistent.get(action, self.default_response)

    # --- internals: bookkeeping -----------------------------------------------------------------------

    def _tolerance(self, tolerate: Iterable[Tolerance] | None) -> tuple[Tolerance, ...]:
        return tuple(self.settings.tolerated_actions if tolerate is None else tolerate)

    @staticmethod
    def _tolerates(tolerance: Tolerance, call: Call) -> bool:
        return call.action == tolerance if isinstance(tolerance, str) else tolerance.matches(call)

    def _record_triggered(self, request: str, item: StationCall) -> None:
        sent_at = self._last_sent.get(request)
        if sent_at is not None and item.received_at >= sent_at:
            self.timings.append(TimingRecord("triggered", request, item.action, item.received_at - sent_at))

    def _record(self, direction: Direction, text: str, connection: int, at: float) -> None:
        self.frames.append(FrameRecord(at, direction, text, connection))

    def _event(self, text: str) -> None:
        self.frames.append(FrameRecord(time.monotonic(), "event", text, self._connection_no))

    def _violation(self, text: str) -> None:
        self.violations.append(text)
        self._event("VIOLATION: " + text)
        self._notify()

    def _notify(self) -> None:
        # Waiters hold the event they saw before checking; replacing it wakes them all exactly once.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _next_change(self, timeout: float) -> None:
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    async def _wait(
        self,
        check: Callable[[], T | None],
        timeout: float,
        what: str | Callable[[], str],
        *,
        raise_violations: bool = True,
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if raise_violations:
                self.raise_if_violations()
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                description = what() if callable(what) else what
                raise CaseFailure(f"timed out after {timeout:g} s waiting for {description}")
            await self._next_change(remaining)


def _handshake_record(number: int, connection: ServerConnection) -> HandshakeRecord:
    request = connection.request
    authorization = None if request is None else request.headers.get("Authorization")
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return HandshakeRecord(number, authorization, None, None, None)
    cipher = ssl_object.cipher()
    return HandshakeRecord(
        number,
        authorization,
        ssl_object.getpeercert(binary_form=True),
        ssl_object.version(),
        None if cipher is None else cipher[0],
    )


def _short(payload: Payload, limit: int = 300) -> str:
    text = dumps(payload)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_frames(frames: Sequence[FrameRecord], t0: float) -> str:
    """The frame log: one line per frame, seconds since the Central System started."""
    lines = []
    for frame in frames:
        where = f"#{frame.connection}" if frame.connection else "  "
        lines.append(f"{frame.time - t0:9.3f}s {where:>3} {frame.direction:<6} {frame.text}")
    return "\n".join(lines)
