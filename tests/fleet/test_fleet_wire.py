"""One fleet station against a raw TCP central system on 127.0.0.1 that writes WebSocket bytes by hand: what the
fleet's own frame codec (fleet/wsframe.py) does on the wire, in the cases a well-behaved server never shows."""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from ocpp_station.fleet.engine import Fleet, FleetOptions
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.fleet.wsframe import apply_mask_py
from ocpp_station.settings import parse_settings

TIMEOUT = 10.0


def server_frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=False, extensions=[])


@dataclass
class Peer:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def frame(self) -> tuple[int, bytes]:
        """The next frame the station sent: (opcode, unmasked payload); every client frame is masked."""
        async with asyncio.timeout(TIMEOUT):
            first, second = await self.reader.readexactly(2)
            assert second & 0x80, "a client frame is masked (RFC 6455 §5.3)"
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            key = await self.reader.readexactly(4)
            return first & 0x0F, apply_mask_py(await self.reader.readexactly(n), key)

    async def until(self, opcode: int, match: bytes = b"") -> bytes:
        while True:
            got, payload = await self.frame()
            if got == opcode and match in payload:
                return payload

    async def eof(self) -> None:
        async with asyncio.timeout(TIMEOUT):
            while await self.reader.read(4096):
                pass


@dataclass
class RawCsms:
    """Answers the upgrade with 101 ocpp1.6 and `after_101` in the same write; then the test talks."""

    after_101: bytes = b""
    port: int = 0
    peers: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", head)
        assert key is not None
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.group(1).decode()).encode() + b"\r\n"
            b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n" + self.after_101
        )
        await self.peers.put(Peer(reader, writer))

    async def next_peer(self) -> Peer:
        async with asyncio.timeout(TIMEOUT):
            return await self.peers.get()


@pytest.fixture
async def raw() -> AsyncIterator[RawCsms]:
    csms = RawCsms()
    await csms.start()
    yield csms
    assert csms.server is not None
    csms.server.close()
    while not csms.peers.empty():
        csms.peers.get_nowait().writer.close()


def one_station(port: int, **network: object) -> Fleet:
    settings = parse_settings({"hardware": {"connectors": 1}, "network": {"reconnect_min_s": 0.1, **network}})
    return Fleet(
        FleetOptions(
            csms_url=f"ws://127.0.0.1:{port}/ocpp",
            ids=["CP-1"],
            settings=settings,
            scenario=parse_scenario({"enabled": False, "configuration": {"WebSocketPingInterval": 0}}),
            seed=1,
            ramp_per_s=100,
        )
    )


async def test_a_call_and_a_ping_in_the_packet_of_the_101_are_answered(raw: RawCsms) -> None:
    raw.after_101 = server_frame(
        Opcode.TEXT, b'[2,"early","GetConfiguration",{"key":["HeartbeatInterval"]}]'
    ) + server_frame(Opcode.PING, b"hello")
    fleet = one_station(raw.port)
    fleet.start()
    try:
        peer = await raw.next_peer()
        seen: dict[int, list[bytes]] = {}
        while not (b'"early"' in b"".join(seen.get(0x1, [])) and seen.get(0xA)):
            opcode, payload = await peer.frame()
            seen.setdefault(opcode, []).append(payload)
        answer = next(json.loads(p) for p in seen[0x1] if b'"early"' in p)
        assert answer[:2] == [3, "early"]
        assert seen[0xA] == [b"hello"]  # RFC 6455 §5.5.2: the ping's payload echoed
    finally:
        fleet.stop()


async def test_a_close_from_the_server_is_answered_then_the_station_reconnects(raw: RawCsms) -> None:
    fleet = one_station(raw.port)
    fleet.start()
    try:
        peer = await raw.next_peer()
        await peer.until(0x1, b"BootNotification")
        peer.writer.write(server_frame(Opcode.CLOSE, b"\x03\xe9"))
        assert await peer.until(0x8) == b"\x03\xe9"  # RFC 6455 §5.5.1: the code echoed
        await peer.eof()
        await raw.next_peer()
        assert "protocol" not in fleet.stats.errors
    finally:
        fleet.stop()


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (server_frame(Opcode.TEXT, b'[2,"x","Heartbeat\xff",{}]'), 1007),  # RFC 6455 §8.1: invalid UTF-8
        (server_frame(Opcode.TEXT, b"[" * 3000), 1009),  # over [network] max_frame_bytes
        (Frame(Opcode.TEXT, b"[]").serialize(mask=True, extensions=[]), 1002),  # masked by the server (§5.1)
    ],
)
async def test_a_bad_frame_fails_the_connection_with_its_close_code_and_the_station_reconnects(
    raw: RawCsms, bad: bytes, code: int
) -> None:
    fleet = one_station(raw.port, max_frame_bytes=2000)
    fleet.start()
    try:
        peer = await raw.next_peer()
        await peer.until(0x1, b"BootNotification")
        peer.writer.write(bad)
        close = await peer.until(0x8)
        assert struct.unpack("!H", close[:2])[0] == code
        await peer.eof()
        await raw.next_peer()
        assert fleet.stats.errors["protocol"] == 1
    finally:
        fleet.stop()
