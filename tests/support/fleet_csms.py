"""A central system for fleet tests on 127.0.0.1: accepts any number of stations, answers every call the happy
way, counts calls per action, keeps every call it received (station, action, payload, which connection) and how
each connection ended, and notes when each station connected and with which Authorization header. It can stop
and start again on the same port (a CSMS restart), leave chosen calls unanswered (a central system that does not
answer), call a station (`call`: Reset, ChangeConfiguration, RemoteStartTransaction, ...) and react to what it
receives (`on_call`). With an `ssl_context` it serves wss:// (security profiles 2 and 3) and notes each
connection's TLS version and client certificate.
Tests wait on `wait_until(predicate)` (a condition, never a sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, CallError, CallResult, encode, parse_frame

# Any station, in `unanswered`.
ANY = "*"


@dataclass(frozen=True)
class Received:
    """One call from a station."""

    station: str
    action: str
    payload: dict[str, Any]
    connection: int  # the station's connection it came over: 1 for its first, 2 after a reconnection, ...


class StationCallError(Exception):
    """The station answered the central system's call with a CallError."""


@dataclass(frozen=True)
class TlsSeen:
    """What one wss:// connection showed: its TLS version and the client certificate's subject CN (or None)."""

    version: str | None
    client_cn: str | None


class FleetCsms:
    def __init__(self, heartbeat_interval: int = 10, ssl_context: ssl.SSLContext | None = None) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.ssl_context = ssl_context
        # Per station, in connection order: None for a plain connection, else what its TLS session showed.
        self.tls: dict[str, list[TlsSeen | None]] = {}
        self.calls: Counter[str] = Counter()
        self.received: list[Received] = []
        self.ids: set[str] = set()
        self.connected_at: list[tuple[str, float]] = []
        self.connections: Counter[str] = Counter()  # connections per station so far
        # The Authorization header of each connection (None: none), per station, in connection order.
        self.authorizations: dict[str, list[str | None]] = {}
        # How each connection ended: (station, close code as seen here; 1000 a normal closing handshake, 1006 a
        # connection dropped without one (RFC 6455 §7.1.5), e.g. a pulled cable or a hard reset).
        self.closes: list[tuple[str, int | None]] = []
        self.unanswered: set[tuple[str, str]] = set()  # (station or ANY, action): received, never answered
        # Called after each answer is sent (a test's central-system logic, e.g. a RemoteStartTransaction when a
        # cable is plugged in: it starts it with `spawn(csms.call(...))`).
        self.on_call: Callable[[FleetCsms, Received], None] | None = None
        self.port = 0
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self._tx = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._links: dict[str, ServerConnection] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.transaction_ids: dict[int, str] = {}  # every transactionId given, to whom

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol("ocpp1.6")],
            ping_interval=None,
            ssl=self.ssl_context,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl_context is not None else 'ws'}://127.0.0.1:{self.port}/ocpp"

    async def _handle(self, ws: ServerConnection) -> None:
        charge_box_id = ws.request.path.rsplit("/", 1)[-1] if ws.request is not None else "?"
        async with self._changed:
            self.ids.add(charge_box_id)
            self.connected_at.append((charge_box_id, time.monotonic()))
            self.connections[charge_box_id] += 1
            connection = self.connections[charge_box_id]
            headers = ws.request.headers if ws.request is not None else None
            authorization = None if headers is None else headers.get("Authorization")
            self.authorizations.setdefault(charge_box_id, []).append(authorization)
            self.tls.setdefault(charge_box_id, []).append(_tls_seen(ws))
            self._links[charge_box_id] = ws
            self._changed.notify_all()
        try:
            with contextlib.suppress(ConnectionClosed):
                async for text in ws:
                    await self._on_message(ws, charge_box_id, connection, text)
        finally:
            async with self._changed:
                if self._links.get(charge_box_id) is ws:
                    del self._links[charge_box_id]
                self.closes.append((charge_box_id, ws.close_code))
                self._changed.notify_all()

    async def _on_message(self, ws: ServerConnection, station: str, connection: int, text: str | bytes) -> None:
        message = parse_frame(text)
        if isinstance(message, CallResult | CallError):
            waiting = self._waiting.get(message.unique_id)
            if waiting is not None and not waiting.done():
                if isinstance(message, CallResult):
                    waiting.set_result(message.payload)
                else:
                    waiting.set_exception(StationCallError(f"{message.code}: {message.description}"))
            return
        received = Received(station, message.action, message.payload, connection)
        async with self._changed:
            self.calls[message.action] += 1  # counted as received, whether or not the answer gets out
            self.received.append(received)
            self._changed.notify_all()
        if (station, message.action) in self.unanswered or (ANY, message.action) in self.unanswered:
            return
        answer = self.answer(message.action, message.payload)
        if message.action == "StartTransaction":
            self.transaction_ids[answer["transactionId"]] = station
        await ws.send(encode(CallResult(message.unique_id, answer)))
        if self.on_call is not None:
            self.on_call(self, received)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = iso_utc(time.time())
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": self.heartbeat_interval}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action in ("Authorize", "StopTransaction"):
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            return {"transactionId": next(self._tx), "idTagInfo": {"status": "Accepted"}}
        if action == "SignCertificate":
            return {"status": "Accepted"}
        return {}

    # -- calling a station ---------------------------------------------------------------------------------
    async def call(self, station: str, action: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a CS→CP call over the station's current connection; its CallResult payload (a CallError raises)."""
        ws = self._links[station]
        unique_id = f"csms-{next(self._call_ids)}"
        answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[unique_id] = answered
        try:
            await ws.send(encode(Call(unique_id, action, payload)))
            async with asyncio.timeout(timeout):
                return await answered
        finally:
            del self._waiting[unique_id]

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a call from `on_call` (which cannot wait: the answer comes through the same connection)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def linked(self, station: str) -> bool:
        return station in self._links

    # -- what was received ---------------------------------------------------------------------------------
    def of(self, station: str, action: str | None = None) -> list[Received]:
        return [r for r in self.received if r.station == station and (action is None or r.action == action)]

    def statuses(self, station: str, connector_id: int) -> list[tuple[str, str]]:
        """(status, errorCode) of every StatusNotification of one connector, in order."""
        return [
            (r.payload["status"], r.payload["errorCode"])
            for r in self.of(station, "StatusNotification")
            if r.payload["connectorId"] == connector_id
        ]

    def closes_of(self, station: str) -> list[int | None]:
        return [code for s, code in self.closes if s == station]

    async def wait_until(self, predicate: Callable[[FleetCsms], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))


def _tls_seen(ws: ServerConnection) -> TlsSeen | None:
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()  # only a verified client certificate is given here
    names = [value for rdn in (peer or {}).get("subject", ()) for key, value in rdn if key == "commonName"]
    return TlsSeen(ssl_object.version(), names[0] if names else None)
