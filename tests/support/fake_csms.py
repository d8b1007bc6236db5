"""A minimal central system on 127.0.0.1 for tests of a whole StationRuntime: it accepts the station,
answers every call the happy way, records what it got, and sends calls of its own.

Tests wait on what was received with `wait_for(predicate)` (a condition, never a sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, CallError, CallResult, FrameError, IgnoredFrame, encode, parse_frame

Received = list[tuple[str, dict[str, Any]]]


class FakeCsms:
    def __init__(self) -> None:
        self.received: Received = []
        self.connections = 0
        self._server: Server | None = None
        self._ws: ServerConnection | None = None
        self._changed = asyncio.Condition()
        self._pending: dict[str, asyncio.Future[CallResult | CallError]] = {}
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def _handle(self, ws: ServerConnection) -> None:
        self._ws = ws
        self.connections += 1
        with contextlib.suppress(ConnectionClosed):  # a station restarting or powered off
            await self._serve(ws)

    async def _serve(self, ws: ServerConnection) -> None:
        async for text in ws:
            try:
                message = parse_frame(str(text))
            except (FrameError, IgnoredFrame):
                continue
            if isinstance(message, Call):
                await ws.send(encode(CallResult(message.unique_id, self.answer(message.action, message.payload))))
                async with self._changed:
                    self.received.append((message.action, message.payload))
                    self._changed.notify_all()
            else:
                future = self._pending.pop(message.unique_id, None)
                if future is not None and not future.done():
                    future.set_result(message)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = iso_utc(time.time())
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action == "StartTransaction":
            return {"transactionId": next(self._ids), "idTagInfo": {"status": "Accepted"}}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        return {}

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a CS→CP call over the current connection and return the CallResult payload."""
        ws = self._ws
        assert ws is not None, "no station connected"
        unique_id = f"csms-{next(self._ids)}"
        future: asyncio.Future[CallResult | CallError] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await ws.send(encode(Call(unique_id, action, payload)))
        answer = await asyncio.wait_for(future, timeout)
        assert isinstance(answer, CallResult), answer
        return answer.payload

    async def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.received)), timeout)
            except TimeoutError:
                raise AssertionError(f"not received within {timeout} s; got {self.received}") from None
            return list(self.received)

    async def wait_for_message(self, action: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The first message `action` whose payload has `fields` (waiting for it if need be)."""

        def match(received: Received) -> bool:
            return any(a == action and all(p.get(k) == v for k, v in fields.items()) for a, p in received)

        received = await self.wait_for(match, timeout)
        return next(p for a, p in received if a == action and all(p.get(k) == v for k, v in fields.items()))
