"""The fleet's RFC 6455 client codec and handshake (fleet/wsframe.py), checked against websockets' own framing."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Generator
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidHeaderValue, InvalidMessage, InvalidStatus, NegotiationError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.speedups import apply_mask as apply_mask_c
from websockets.streams import StreamReader
from websockets.typing import Subprotocol
from websockets.utils import accept_key

from ocpp_station.fleet.wsframe import ClientCodec, ClientHandshake, apply_mask_py

OCPP = Subprotocol("ocpp1.6")
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]
T = TypeVar("T")


# -- helpers: the server's side, by websockets -----------------------------------------------------------------
def server_frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=False, extensions=[])


def run(gen: Generator[None, None, T]) -> T:
    """The value of a websockets parser fed everything it needs (it must not ask for more)."""
    try:
        next(gen)
    except StopIteration as stop:
        result: T = stop.value
        return result
    raise AssertionError("incomplete input")


def client_frames(chunks: list[bytes]) -> list[Frame]:
    """Parse what the codec wrote as a server would: each frame masked (RFC 6455 §5.3), one write per frame."""
    frames = []
    for chunk in chunks:
        reader = StreamReader()
        reader.feed_data(chunk)
        frames.append(run(Frame.parse(reader.read_exact, mask=True, max_size=None, extensions=[])))
        assert not reader.buffer, "one write, one frame"
    return frames


class Wire:
    def __init__(self, max_size: int | None = 1 << 20) -> None:
        self.out: list[bytes] = []
        self.codec = ClientCodec(self.out.append, max_size)

    def sent(self) -> list[Frame]:
        frames, self.out[:] = client_frames(self.out), []
        return frames

    def close_code(self) -> int:
        (frame,) = self.sent()
        assert frame.opcode is Opcode.CLOSE
        code: int = struct.unpack("!H", frame.data[:2])[0]
        return code


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


# -- sending -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", LENGTHS)
def test_sent_text_frames_are_masked_and_parse_back_at_every_length_boundary(length: int) -> None:
    wire = Wire()
    payload = bytes(i % 251 for i in range(length))
    wire.codec.send_text(payload)
    raw = wire.out[0]
    (frame,) = wire.sent()
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (Opcode.TEXT, True, payload)
    assert raw[1] & 0x80  # MASK
    # The length field is the shortest one (RFC 6455 §5.2).
    assert raw[1] & 0x7F == (length if length < 126 else 126 if length < 65536 else 127)


def test_masking_keys_differ_from_frame_to_frame() -> None:
    wire = Wire()
    for _ in range(8):
        wire.codec.send_text(b"same")
    keys = {chunk[2:6] for chunk in wire.out}
    assert len(keys) > 1
    assert {chunk[6:] for chunk in wire.out} != {b"same"}  # the payload is masked on the wire


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_the_pure_mask_matches_the_c_one(data: bytes, mask: bytes) -> None:
    assert apply_mask_py(data, mask) == apply_mask_c(data, mask)
    assert apply_mask_py(apply_mask_py(data, mask), mask) == data


def test_ping_and_close_frames() -> None:
    wire = Wire()
    wire.codec.send_ping(b"hi")
    wire.codec.send_close(1000)
    wire.codec.send_text(b"after close")  # nothing goes out after a close frame (RFC 6455 §5.5.1)
    ping, close = wire.sent()
    assert (ping.opcode, bytes(ping.data)) == (Opcode.PING, b"hi")
    assert (close.opcode, bytes(close.data)) == (Opcode.CLOSE, b"\x03\xe8")
    assert wire.codec.closed


# -- receiving -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", LENGTHS)
def test_received_frames_at_every_length_boundary(length: int) -> None:
    wire = Wire()
    text = "é" * (length // 2) + "a" * (length % 2)
    assert wire.codec.receive(server_frame(Opcode.TEXT, text.encode())) == [text]
    assert wire.codec.receive(server_frame(Opcode.BINARY, b"\x00" * length)) == [b"\x00" * length]
    assert not wire.out and not wire.codec.closed


messages = st.lists(
    st.one_of(st.text(max_size=200), st.binary(max_size=200), st.sampled_from(["x" * 126, "y" * 65536])),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    sent=messages,
    fragments=st.lists(st.integers(min_value=1, max_value=3), min_size=6, max_size=6),
    pings=st.lists(st.booleans(), min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_any_messages_fragmented_and_cut_anywhere_come_out_whole_and_in_order(
    sent: list[str | bytes], fragments: list[int], pings: list[bool], cuts: list[int]
) -> None:
    stream = b""
    for i, message in enumerate(sent):
        data = message.encode() if isinstance(message, str) else message
        opcode = Opcode.TEXT if isinstance(message, str) else Opcode.BINARY
        # Split into fragments (RFC 6455 §5.4): a text fragment may end inside a UTF-8 sequence.
        count = fragments[i]
        pieces = [data[k * len(data) // count : (k + 1) * len(data) // count] for k in range(count)]
        for k, piece in enumerate(pieces):
            stream += server_frame(opcode if k == 0 else Opcode.CONT, piece, fin=k == count - 1)
            if pings[i] and k == 0:
                stream += server_frame(Opcode.PING, b"p%d" % i)  # control frames may come between fragments
        if pings[i]:
            stream += server_frame(Opcode.PONG, b"")
    wire = Wire()
    received: list[str | bytes] = []
    for chunk in split(stream, cuts):
        received += wire.codec.receive(chunk)
    assert received == sent
    pongs = wire.sent()
    assert [bytes(f.data) for f in pongs] == [b"p%d" % i for i in range(len(sent)) if pings[i]]
    assert all(f.opcode is Opcode.PONG for f in pongs)
    assert wire.codec.pong == any(pings[: len(sent)])
    assert not wire.codec.closed


def test_byte_by_byte() -> None:
    wire = Wire()
    stream = server_frame(Opcode.TEXT, b'[2,"1","Heartbeat",{}]') + server_frame(Opcode.TEXT, b"z" * 300)
    received: list[str | bytes] = []
    for i in range(len(stream)):
        received += wire.codec.receive(stream[i : i + 1])
    assert received == ['[2,"1","Heartbeat",{}]', "z" * 300]


def test_a_close_frame_is_answered_and_nothing_after_it_is_read() -> None:
    wire = Wire()
    data = (
        server_frame(Opcode.TEXT, b"before")
        + server_frame(Opcode.CLOSE, b"\x03\xe9going")
        + server_frame(Opcode.TEXT, b"after")
    )
    assert wire.codec.receive(data) == ["before"]
    assert wire.codec.closed and wire.codec.close_received == (1001, "going") and wire.codec.failure is None
    assert wire.close_code() == 1001  # RFC 6455 §5.5.1: the status code echoed
    assert wire.codec.receive(server_frame(Opcode.TEXT, b"later")) == []


def test_an_empty_close_frame_is_answered_with_an_empty_one() -> None:
    wire = Wire()
    wire.codec.receive(server_frame(Opcode.CLOSE, b""))
    (frame,) = wire.sent()
    assert (frame.opcode, bytes(frame.data)) == (Opcode.CLOSE, b"")
    assert wire.codec.close_received == (1005, "")


def masked_server_frame() -> bytes:
    return Frame(Opcode.TEXT, b"masked").serialize(mask=True, extensions=[])


FAILURES = [
    ("masked frame from a server (RFC 6455 §5.1)", masked_server_frame(), 1002),
    ("RSV1 without an extension (§5.2)", b"\xc1\x01x", 1002),
    ("unknown opcode 0x3 (§5.2)", b"\x83\x00", 1002),
    ("continuation without a start (§5.4)", server_frame(Opcode.CONT, b"x"), 1002),
    (
        "a new message inside a fragmented one (§5.4)",
        server_frame(Opcode.TEXT, b"a", fin=False) + server_frame(Opcode.TEXT, b"b"),
        1002,
    ),
    ("fragmented ping (§5.5)", b"\x09\x01x", 1002),
    ("ping over 125 bytes (§5.5)", b"\x89\x7e\x00\x7e" + b"x" * 126, 1002),
    ("close with a 1-byte payload (§5.5.1)", b"\x88\x01\x03", 1002),
    ("close with a reserved code (§7.4.2)", b"\x88\x02\x03\xed", 1002),
    ("invalid UTF-8 text (§8.1)", server_frame(Opcode.TEXT, b"\xff\xfe"), 1007),
    (
        "invalid UTF-8 in a fragmented text (§8.1)",
        server_frame(Opcode.TEXT, b"\xc3", fin=False) + server_frame(Opcode.CONT, b"(", fin=True),
        1007,
    ),
    ("64-bit length with the high bit set (§5.2)", b"\x82\x7f\x80" + b"\x00" * 7, 1002),
]


@pytest.mark.parametrize("alone", [False, True], ids=["after a message", "alone"])
@pytest.mark.parametrize(("why", "data", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_protocol_violations_fail_the_connection_with_a_close_code(
    why: str, data: bytes, code: int, alone: bool
) -> None:
    wire = Wire()
    good = server_frame(Opcode.TEXT, b"first")
    if alone:
        assert wire.codec.receive(data) == []
    else:
        assert wire.codec.receive(good + data) == ["first"]
    assert wire.codec.closed and wire.codec.failure is not None and wire.codec.failure[0] == code
    assert wire.close_code() == code
    assert wire.codec.receive(server_frame(Opcode.TEXT, b"more")) == []
    assert not wire.out


def test_an_oversized_message_is_refused_from_its_header_alone() -> None:
    wire = Wire(max_size=1000)
    assert wire.codec.receive(server_frame(Opcode.TEXT, b"a" * 1000)) == ["a" * 1000]
    header = server_frame(Opcode.TEXT, b"a" * 1001)[:4]
    assert wire.codec.receive(header) == []
    assert wire.codec.failure is not None and wire.codec.failure[0] == 1009  # RFC 6455 §7.4.1
    assert wire.close_code() == 1009


def test_the_size_limit_counts_the_whole_fragmented_message() -> None:
    wire = Wire(max_size=1000)
    data = server_frame(Opcode.TEXT, b"a" * 600, fin=False) + server_frame(Opcode.CONT, b"a" * 401)
    assert wire.codec.receive(data) == []
    assert wire.close_code() == 1009


# -- handshake -----------------------------------------------------------------------------------------------
def parse_request(data: bytes) -> Request:
    reader = StreamReader()
    reader.feed_data(data)
    return run(Request.parse(reader.read_line))


def response(request: Request, protocol: str | None = "ocpp1.6", accept: str | None = None) -> bytes:
    key = request.headers["Sec-WebSocket-Key"]
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]
    lines.append(f"Sec-WebSocket-Accept: {accept if accept is not None else accept_key(key)}")
    if protocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_handshake_keeps_the_frames_sent_right_after_the_101() -> None:
    handshake = ClientHandshake("ws://127.0.0.1:9000/ocpp/CP-1", [OCPP])
    request = parse_request(handshake.request("Basic Q1AtMTpzZWNyZXQ="))
    assert request.path == "/ocpp/CP-1"
    assert request.headers["Sec-WebSocket-Protocol"] == "ocpp1.6"
    assert request.headers["Authorization"] == "Basic Q1AtMTpzZWNyZXQ="
    assert request.headers["Host"] == "127.0.0.1:9000"
    frame = server_frame(Opcode.TEXT, b'[2,"a","GetConfiguration",{}]')
    data = response(request) + frame
    done = [handshake.receive(data[i : i + 1]) for i in range(len(data) - len(frame))]
    assert done == [False] * (len(done) - 1) + [True]  # complete at the blank line, not before
    assert handshake.leftover == b""
    assert handshake.receive(frame)  # after the response: stays complete, the bytes are the codec's
    handshake = ClientHandshake("ws://127.0.0.1:9000/ocpp/CP-1", [OCPP])
    request = parse_request(handshake.request())
    assert "Authorization" not in request.headers
    assert handshake.receive(response(request) + frame[:5])
    assert handshake.error is None and handshake.subprotocol == "ocpp1.6"
    assert handshake.leftover == frame[:5]


def test_handshake_failures() -> None:
    def attempt(make: object) -> ClientHandshake:
        handshake = ClientHandshake("ws://127.0.0.1:9000/ocpp/CP-1", [OCPP])
        request = parse_request(handshake.request())
        assert callable(make)
        assert handshake.receive(make(request))
        return handshake

    assert isinstance(attempt(lambda r: response(r, accept="wrong")).error, InvalidHeaderValue)
    assert isinstance(attempt(lambda r: response(r, protocol="ocpp2.0.1")).error, NegotiationError)
    no_protocol = attempt(lambda r: response(r, protocol=None))
    assert no_protocol.error is None and no_protocol.subprotocol is None  # the driver refuses it (OCPP-J 1.6 §3.2)
    unauthorized = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope"
    assert isinstance(attempt(lambda r: unauthorized).error, InvalidStatus)
    assert isinstance(attempt(lambda r: b"SSH-2.0-OpenSSH\r\n\r\n").error, InvalidMessage)


def test_a_response_body_to_the_end_of_the_stream_completes_at_eof() -> None:
    handshake = ClientHandshake("ws://127.0.0.1:9000/ocpp/CP-1", [OCPP])
    handshake.request()
    assert not handshake.receive(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy")
    assert handshake.receive_eof()
    assert isinstance(handshake.error, InvalidStatus)
    cut = ClientHandshake("ws://127.0.0.1:9000/ocpp/CP-1", [OCPP])
    cut.request()
    assert not cut.receive(b"HTTP/1.1 101 Switching")
    assert not cut.receive_eof()  # an incomplete response: the connection just failed
