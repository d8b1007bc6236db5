"""A small RFC 6455 client for the fleet: websockets' opening handshake, then our own framing. No I/O, no event loop.

websockets' sans-I/O `ClientProtocol` costs a generator step, a `Frame` object, two `os.urandom` syscalls and a
queue of writes per message; a fleet of thousands of stations spends a large share of its CPU there. The opening
handshake happens once per connection, so it stays websockets' (request, Sec-WebSocket-Accept, subprotocol and
extension checks); once the connection is OPEN, `ClientCodec` frames and parses with as little as RFC 6455 allows
a client: no extensions, text and binary messages, fragmentation, ping/pong, the closing handshake.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidMessage, ProtocolError
from websockets.frames import Close
from websockets.http11 import Response
from websockets.streams import StreamReader
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

# RFC 6455 §7.4.1
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_FIN = 0x80

_NO_MESSAGES: list[str | bytes] = []  # never appended to: returned when a packet completes no message


def apply_mask_py(data: bytes | bytearray | memoryview, mask: bytes | bytearray) -> bytes:
    """RFC 6455 §5.3 masking (XOR with the 4-byte key repeated), as one big-integer XOR."""
    n = len(data)
    if n == 0:
        return b""
    key = (bytes(mask) * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


apply_mask: Callable[[bytes | bytearray | memoryview, bytes | bytearray], bytes]
try:
    from websockets.speedups import apply_mask  # the C version (websockets' wheels carry it)
except ImportError:  # pragma: no cover - only without websockets' compiled extension
    apply_mask = apply_mask_py

# RFC 6455 §5.3 asks for masking keys from a strong source of entropy, and §10.3 says why: masking keeps a
# malicious *browser script* from choosing the bytes on the wire, so that it cannot poison an intermediary's cache
# with frames that look like HTTP. A load-test client sends only what this program writes, no third party's
# script, so an unpredictable key protects nobody here; a Mersenne Twister seeded once from the OS saves the
# `os.urandom` syscall per frame that websockets makes for its key.
_RNG = random.Random(os.urandom(32))
_randbits = _RNG.getrandbits

# Frame headers, client side (MASK bit set), RFC 6455 §5.2: 7-bit length, 16-bit length (126), 64-bit length (127).
_HEAD_7 = struct.Struct("!BBI").pack
_HEAD_16 = struct.Struct("!BBHI").pack
_HEAD_64 = struct.Struct("!BBQI").pack
_UINT16 = struct.Struct("!H").unpack_from
_UINT64 = struct.Struct("!Q").unpack_from


def _frame(first: int, payload: bytes) -> bytes:
    """One masked client frame: `first` is FIN + opcode (RFC 6455 §5.2)."""
    n = len(payload)
    bits = _randbits(32)
    key = bits.to_bytes(4, "big")
    if n < 126:
        head = _HEAD_7(first, 0x80 | n, bits)
    elif n < 0x10000:
        head = _HEAD_16(first, 0x80 | 126, n, bits)
    else:
        head = _HEAD_64(first, 0x80 | 127, n, bits)
    return head + apply_mask(payload, key)


class ClientCodec:
    """RFC 6455 framing of an OPEN client connection.

    Frames go out through `write` (one call per frame). `receive` parses what the server sent, whatever the chunk
    boundaries, and returns the complete data messages (text as `str`, binary as `bytes`); control frames are
    handled here: a ping is answered, a pong sets `pong`, a close is answered and sets `closed`. A protocol
    violation fails the connection (§7.1.7): a close frame with the code goes out, `failure` says why and
    `closed` is set. Once `closed`, the owner closes the transport and nothing more is sent or parsed.
    """

    __slots__ = (
        "_binary",
        "_buf",
        "_parts",
        "_size",
        "_write",
        "close_received",
        "closed",
        "failure",
        "max_size",
        "pong",
    )

    def __init__(self, write: Callable[[bytes], object], max_size: int | None = None) -> None:
        self._write = write
        self.max_size = max_size
        self._buf = bytearray()  # bytes of a frame not complete yet
        self._parts: list[bytes] | None = None  # the fragments of a message being assembled (§5.4)
        self._binary = False
        self._size = 0  # bytes of the fragments so far, against max_size
        self.pong = False
        self.closed = False
        self.failure: tuple[int, str] | None = None
        self.close_received: tuple[int, str] | None = None

    # -- sending -----------------------------------------------------------------------------------------
    def send_text(self, data: bytes) -> None:
        """One unfragmented text message; `data` is UTF-8 already."""
        if not self.closed:
            self._write(_frame(_FIN | _TEXT, data))

    def send_binary(self, data: bytes) -> None:
        if not self.closed:
            self._write(_frame(_FIN | _BINARY, data))

    def send_ping(self, payload: bytes = b"") -> None:
        if not self.closed:
            self._write(_frame(_FIN | _PING, payload))

    def send_close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2); the owner then closes the transport."""
        if not self.closed:
            self.closed = True
            self._write(_frame(_FIN | _CLOSE, code.to_bytes(2, "big") + reason.encode()))

    def _fail(self, code: int, reason: str) -> list[str | bytes]:
        # RFC 6455 §7.1.7: send a close frame with the code, then process no more data.
        if not self.closed:
            self.send_close(code, reason)
            self.failure = (code, reason)
        self._buf.clear()
        self._parts = None
        return _NO_MESSAGES

    # -- receiving ---------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> list[str | bytes]:
        """Parse the bytes the server sent; returns the messages they complete (often none or one)."""
        if self.closed:
            return _NO_MESSAGES
        if not self._buf and len(data) > 3 and data[0] == _FIN | _TEXT and self._parts is None:
            # The common packet: exactly one whole unfragmented text frame under 64 KiB.
            n = data[1]
            if n < 126:
                start = 2
            elif n == 126:
                n = (data[2] << 8) | data[3]
                start = 4
            else:
                start = n = 0  # a masked frame or a 64-bit length: the general path
            if len(data) == start + n and (self.max_size is None or n <= self.max_size):
                try:
                    return [data[start:].decode()]
                except UnicodeDecodeError:
                    pass  # the general path below fails the connection
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        end = len(buf)
        pos = 0
        messages = _NO_MESSAGES
        while end - pos >= 2:
            first = buf[pos]
            second = buf[pos + 1]
            if second & 0x80:
                # RFC 6455 §5.1: a client MUST close the connection if it detects a masked frame.
                return messages + self._fail(CLOSE_PROTOCOL_ERROR, "masked frame from server")
            if first & 0x70:
                # §5.2: no extension was negotiated, so the RSV bits are 0.
                return messages + self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            opcode = first & 0x0F
            n = second & 0x7F
            start = pos + 2
            if n == 126:
                if end - pos < 4:
                    break
                (n,) = _UINT16(buf, start)
                start += 2
            elif n == 127:
                if end - pos < 10:
                    break
                (n,) = _UINT64(buf, start)
                start += 8
                if n >> 63:
                    return messages + self._fail(CLOSE_PROTOCOL_ERROR, "payload length with the high bit set")
            if opcode >= _CLOSE:
                # §5.5: control frames are short and never fragmented.
                if n > 125 or not first & _FIN:
                    return messages + self._fail(CLOSE_PROTOCOL_ERROR, "fragmented or long control frame")
            elif self.max_size is not None and self._size + n > self.max_size:
                # Refused before its payload is read (§10.4); websockets' max_size did the same.
                return messages + self._fail(CLOSE_MESSAGE_TOO_BIG, f"message over {self.max_size} bytes")
            stop = start + n
            if stop > end:
                break
            payload = bytes(buf[start:stop])
            pos = stop
            if opcode in (_TEXT, _BINARY):
                if self._parts is not None:
                    return messages + self._fail(CLOSE_PROTOCOL_ERROR, "expected a continuation frame")
                if first & _FIN:
                    if opcode == _TEXT:
                        try:
                            message: str | bytes = payload.decode()
                        except UnicodeDecodeError as exc:
                            # RFC 6455 §8.1: text that is not UTF-8 fails the connection (1007, §7.4.1).
                            return messages + self._fail(CLOSE_INVALID_DATA, f"invalid UTF-8: {exc.reason}")
                    else:
                        message = payload
                    if messages is _NO_MESSAGES:
                        messages = [message]
                    else:
                        messages.append(message)
                else:
                    self._parts = [payload]
                    self._binary = opcode == _BINARY
                    self._size = n
            elif opcode == _CONT:
                parts = self._parts
                if parts is None:
                    return messages + self._fail(CLOSE_PROTOCOL_ERROR, "unexpected continuation frame")
                parts.append(payload)
                self._size += n
                if first & _FIN:
                    whole = b"".join(parts)
                    self._parts = None
                    self._size = 0
                    if self._binary:
                        message = whole
                    else:
                        try:
                            message = whole.decode()
                        except UnicodeDecodeError as exc:
                            return messages + self._fail(CLOSE_INVALID_DATA, f"invalid UTF-8: {exc.reason}")
                    if messages is _NO_MESSAGES:
                        messages = [message]
                    else:
                        messages.append(message)
            elif opcode == _PING:
                # §5.5.2: a pong with the ping's application data.
                self._write(_frame(_FIN | _PONG, payload))
            elif opcode == _PONG:
                self.pong = True
            elif opcode == _CLOSE:
                try:
                    close = Close.parse(payload)
                except ProtocolError as exc:
                    return messages + self._fail(CLOSE_PROTOCOL_ERROR, str(exc))
                except UnicodeDecodeError as exc:
                    return messages + self._fail(CLOSE_INVALID_DATA, f"invalid UTF-8 close reason: {exc.reason}")
                # §5.5.1: answer with a close frame, echoing the status code; then the TCP connection ends.
                self.closed = True
                self.close_received = (close.code, close.reason)
                self._write(_frame(_FIN | _CLOSE, payload[:2]))
                self._buf.clear()
                self._parts = None
                return messages
            else:
                return messages + self._fail(CLOSE_PROTOCOL_ERROR, f"invalid opcode {opcode:#x}")
        if buf is self._buf:
            if pos:
                del self._buf[:pos]
        elif pos < end:
            self._buf += buf[pos:]
        return messages


class ClientHandshake:
    """The opening handshake of RFC 6455 §4.1 by websockets' `ClientProtocol`: its request (Host, key, version,
    subprotocols) and its checks of the response (101, Upgrade, Connection, Sec-WebSocket-Accept, extensions,
    subprotocol). The response is read here rather than by the protocol object so that bytes after it (frames a
    central system sends right after the 101) stay ours: `leftover`, for the `ClientCodec`."""

    __slots__ = ("_parser", "_protocol", "_reader", "done", "error", "leftover", "subprotocol")

    def __init__(self, url: str, subprotocols: list[Subprotocol]) -> None:
        self._protocol = ClientProtocol(parse_uri(url), subprotocols=subprotocols)
        self._reader = StreamReader()
        self._parser = Response.parse(self._reader.read_line, self._reader.read_exact, self._reader.read_to_eof)
        self.done = False
        self.error: InvalidHandshake | None = None
        self.leftover = b""
        self.subprotocol: Subprotocol | None = None

    def request(self, authorization: str | None = None) -> bytes:
        """The HTTP upgrade request to write; `authorization` is an Authorization header's value."""
        request = self._protocol.connect()
        if authorization is not None:
            request.headers["Authorization"] = authorization
        return request.serialize()

    def receive(self, data: bytes) -> bool:
        """Feed the server's bytes; True once the response is complete (see `error`, `subprotocol`, `leftover`)."""
        if self.done:
            return True
        self._reader.feed_data(data)
        return self._step()

    def receive_eof(self) -> bool:
        """The server closed its side: a response that runs to the end of the stream is complete now; True if a
        response was read (an incomplete one is not reported: the connection just failed)."""
        if self.done:
            return True
        self._reader.feed_eof()
        try:
            return self._step()
        except EOFError:
            return False

    def _step(self) -> bool:
        try:
            next(self._parser)
        except StopIteration as stop:
            response: Response = stop.value
        except EOFError:
            raise
        except Exception as exc:  # what Response.parse raises for a malformed response (its docstring's list)
            self.error = InvalidMessage("did not receive a valid HTTP response")
            self.error.__cause__ = exc
            self.done = True
            return True
        else:
            return False
        self.done = True
        self.leftover = bytes(self._reader.buffer)
        self._reader.buffer.clear()
        try:
            self._protocol.process_response(response)
        except InvalidHandshake as exc:
            self.error = exc
        else:
            self.subprotocol = self._protocol.subprotocol
        return True
