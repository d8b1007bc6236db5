"""`FaultProxy`: a seeded TCP proxy on 127.0.0.1 that sits between a station and its central system and
breaks the link the ways real networks do.

    proxy = FaultProxy("127.0.0.1", csms_port, seed=7)
    await proxy.start()                 # the station connects to proxy.url instead of the CSMS
    proxy.set_delay(0.2, jitter=0.1)    # every chunk waits 0.2 ± 0.1 s (order is kept)
    proxy.stall()                       # half-open: nothing is forwarded any more, no socket is closed
    proxy.heal()                        # forward again (new connections too)
    await proxy.cut()                   # close every connection cleanly (FIN on both sides)
    await proxy.reset()                 # abort every connection (RST on both sides)
    proxy.refuse(True)                  # new connections are reset as soon as they are accepted

The proxy forwards bytes, not frames: it knows nothing of WebSocket or OCPP, exactly like a NAT box or a
mobile network. With `tls_target_port` it also routes by protocol, as a multiplexer like sslh does: a connection
whose first bytes are a TLS record goes there, any other (an HTTP upgrade request) to `target_port`, so that one
URL serves ws:// and wss:// (the station of OCTT TC_083 keeps its Central System URL when it moves from
security profile 1 to 2). `seed` makes the jitter and the fragmentation (chunks split at random points when
`fragment=True`) reproducible. `accepted_at` records when each connection attempt arrived (back-off checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field

_CHUNK = 65536
# RFC 8446 §5.1 (and RFC 5246 §6.2.1): a TLS connection opens with a record of content type 22, handshake.
TLS_HANDSHAKE_RECORD = 0x16


@dataclass(slots=True)
class _Pipe:
    """One proxied connection: the station side (`down`) and the central-system side (`up`)."""

    number: int
    down: asyncio.StreamWriter
    up: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER on, timeout 0, then close (RFC 793 abort)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        seed: int = 0,
        fragment: bool = False,
        tls_target_port: int | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.tls_target_port = tls_target_port
        self.fragment = fragment
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._pipes: dict[int, _Pipe] = {}
        self._sniffing: set[asyncio.StreamWriter] = set()  # accepted, first bytes not read yet (tls_target_port)
        self._count = 0
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self._refusing = False
        self.delay = 0.0
        self.jitter = 0.0
        self.accepted_at: list[float] = []  # time.monotonic() of every connection attempt
        self.bytes_forwarded = 0

    # -- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.reset()
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FaultProxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """A ws:// URL for a station (the proxy forwards plain TCP, so wss:// works the same way)."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return sum(1 for p in self._pipes.values() if not p.closed)

    # -- faults ------------------------------------------------------------------------------------------
    def set_delay(self, seconds: float, jitter: float = 0.0) -> None:
        """Every chunk, in both directions, is held `seconds` ± `jitter` before it is forwarded (in order)."""
        self.delay, self.jitter = seconds, jitter

    def stall(self) -> None:
        """Half-open link: stop reading and forwarding in both directions, close nothing."""
        self._forwarding.clear()

    def heal(self) -> None:
        self._forwarding.set()
        self._refusing = False

    def refuse(self, refusing: bool = True) -> None:
        """New connection attempts are accepted and reset at once (a CSMS that is down behind a balancer)."""
        self._refusing = refusing

    async def cut(self) -> None:
        """Close every open connection cleanly (FIN) on both sides."""
        await self._close_all(abort=False)

    async def reset(self) -> None:
        """Abort every open connection (RST) on both sides."""
        await self._close_all(abort=True)

    # -- internals ---------------------------------------------------------------------------------------
    async def _close_all(self, *, abort: bool) -> None:
        for writer in list(self._sniffing):
            _abort(writer)
        pipes = list(self._pipes.values())
        for pipe in pipes:
            self._shut(pipe, abort=abort)
        for pipe in pipes:
            for task in pipe.tasks:
                task.cancel()
            await asyncio.gather(*pipe.tasks, return_exceptions=True)

    def _shut(self, pipe: _Pipe, *, abort: bool) -> None:
        if pipe.closed:
            return
        pipe.closed = True
        self._pipes.pop(pipe.number, None)
        for writer in (pipe.down, pipe.up):
            if abort:
                _abort(writer)
            else:
                with contextlib.suppress(Exception):
                    writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted_at.append(time.monotonic())
        if self._refusing:
            _abort(writer)
            return
        port, first = self.target_port, b""
        try:
            if self.tls_target_port is not None:
                self._sniffing.add(writer)
                try:
                    first = await reader.read(_CHUNK)
                finally:
                    self._sniffing.discard(writer)
                if not first:
                    writer.close()
                    return
                if first[0] == TLS_HANDSHAKE_RECORD:
                    port = self.tls_target_port
            up_reader, up_writer = await asyncio.open_connection(self.target_host, port)
        except OSError:
            _abort(writer)
            return
        up_writer.write(first)
        self._count += 1
        pipe = _Pipe(self._count, writer, up_writer)
        self._pipes[pipe.number] = pipe
        pipe.tasks = [
            asyncio.create_task(self._pump(pipe, reader, up_writer)),
            asyncio.create_task(self._pump(pipe, up_reader, writer)),
        ]

    async def _pump(self, pipe: _Pipe, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send_in_order(pipe, queue, writer))
        try:
            while True:
                await self._forwarding.wait()  # stalled: do not even read (the kernel buffers fill up)
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._forwarding.wait()
                due = time.monotonic() + max(0.0, self.delay + self._random.uniform(-self.jitter, self.jitter))
                for piece in self._pieces(data):
                    queue.put_nowait((due, piece))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            queue.put_nowait(None)  # the peer closed: forward what is left, then close
            if pipe.closed:
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            self._shut(pipe, abort=False)

    def _pieces(self, data: bytes) -> list[bytes]:
        if not self.fragment or len(data) < 2:
            return [data]
        cuts = sorted(self._random.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    async def _send_in_order(
        self, pipe: _Pipe, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (item := await queue.get()) is not None:
            due, piece = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._forwarding.wait()
            if pipe.closed:
                return
            writer.write(piece)
            self.bytes_forwarded += len(piece)
            try:
                await writer.drain()
            except (OSError, ConnectionError):
                return
