"""A central system for fleet tests on 127.0.0.1: accepts any number of stations, answers every call the happy
way, counts calls per action and notes when each station connected. It can stop and start again on the same
port (a CSMS restart). Tests wait on `wait_until(predicate)` (a condition, never a sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, CallResult, encode, parse_frame


class FleetCsms:
    def __init__(self, heartbeat_interval: int = 10) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.calls: Counter[str] = Counter()
        self.ids: set[str] = set()
        self.connected_at: list[tuple[str, float]] = []
        self.port = 0
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self._tx = itertools.count(1)

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, subprotocols=[Subprotocol("ocpp1.6")], ping_interval=None
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def _handle(self, ws: ServerConnection) -> None:
        charge_box_id = ws.request.path.rsplit("/", 1)[-1] if ws.request is not None else "?"
        async with self._changed:
            self.ids.add(charge_box_id)
            self.connected_at.append((charge_box_id, time.monotonic()))
            self._changed.notify_all()
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                message = parse_frame(text)
                if not isinstance(message, Call):
                    continue
                async with self._changed:
                    self.calls[message.action] += 1  # counted as received, whether or not the answer gets out
                    self._changed.notify_all()
                await ws.send(encode(CallResult(message.unique_id, self.answer(message.action, message.payload))))

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
        return {}

    async def wait_until(self, predicate: Callable[[FleetCsms], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))
