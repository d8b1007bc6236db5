"""OCPP-J 1.6 RPC framing, sans I/O: text frames in, typed messages out, and back.

Nothing here touches a socket; the link shell feeds frames in and writes frames out.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import orjson

Payload = dict[str, Any]


class MessageType(IntEnum):
    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


class ErrorCode(StrEnum):
    """CallError codes with the OCPP-J 1.6 wire spellings (OCPP-J 1.6 §4.2.3; OCPP-J errata 5.1, 5.2).

    1.6 keeps `FormationViolation` and the misspelt `OccurenceConstraintViolation`; the 2.0.1 names
    that the `ocpp` package uses must never reach the wire.
    """

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str = ""
    details: Payload = field(default_factory=dict)


Message = Call | CallResult | CallError


class FrameError(Exception):
    """A frame that cannot be turned into a message.

    `unique_id` is set when the id could be read, so that a Call can still be answered with a
    CallError, which must carry the Call's id (OCPP-J 1.6 §4.1.4, §4.2.3); when it is None the frame can only be
    logged and dropped (our choice: OCPP-J 1.6 defines no answer without an id).
    """

    def __init__(self, code: ErrorCode, description: str, unique_id: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


class IgnoredFrame(Exception):
    """A well-formed array whose MessageTypeId is not 2, 3 or 4: ignored (OCPP-J 1.6 §4.1.3)."""


MAX_UNIQUE_ID_LENGTH = 36


# OCPP-J errata 3.7: ids must be unique across reconnects to the same URL, so they are random (version 4) UUIDs.
# `uuid.uuid4()` reads 16 bytes from the kernel (a syscall) per id; a fleet sends thousands of calls a second, so
# the 122 random bits come from a generator seeded once from the kernel's, and reseeded in a forked child so
# that two processes never share a sequence. An id only has to be unique, not unpredictable.
_ID_RANDOM = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ID_RANDOM.seed(os.urandom(32)))
_UUID4_BITS = (0x4 << 76) | (0x8 << 60)  # RFC 4122 §4.4: version 4, variant 10x
_UUID4_MASK = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)


def new_unique_id() -> str:
    h = f"{(_ID_RANDOM.getrandbits(128) & _UUID4_MASK) | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# A \uD800-\uDFFF escape: fine in pairs, but a lone one decodes to a string that cannot be UTF-8 encoded.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _check_encodable(frame: Any) -> None:
    """OCPP-J 1.6 §4.1.2: the message MUST be valid UTF-8; a lone surrogate cannot be (found by fuzzing:
    echoing it in an answer crashed the link)."""
    try:
        dumps(frame).encode("utf-8")
    except UnicodeEncodeError:
        unique_id = None
        if isinstance(frame, list) and len(frame) > 1 and frame[0] == MessageType.CALL and isinstance(frame[1], str):
            with contextlib.suppress(UnicodeEncodeError):
                frame[1].encode("utf-8")
                unique_id = frame[1]
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "frame contains a lone UTF-16 surrogate", unique_id) from None


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)


def parse_frame(text: str | bytes) -> Message:
    """Decode one WebSocket text frame.

    Floats are read as Decimal so that `multipleOf: 0.1` in the schemas checks exactly what was sent
    (limit and minChargingRate carry one decimal, OCPP 1.6 §7.13–7.14) and no value is rounded on the way in.
    """
    try:
        # What json.loads does, with one decoder for the process instead of one per call.
        if isinstance(text, str):
            if text.startswith("\ufeff"):
                raise ValueError("Unexpected UTF-8 BOM")
        else:
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        frame = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack (found by fuzzing); NaN / Infinity are
        # not JSON (RFC 8259 §6) and OCPP-J 1.6 §4.1.2 requires valid JSON.
        raise FrameError(ErrorCode.FORMATION_VIOLATION, f"frame is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_encodable(frame)
    if not isinstance(frame, list) or not frame:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "frame is not a non-empty JSON array")
    type_id = frame[0]
    # Only a CALL can be answered with a CALLERROR (OCPP-J 1.6 §4.2.3), so only a CALL's id is kept.
    unique_id = frame[1] if type_id == MessageType.CALL and len(frame) > 1 and isinstance(frame[1], str) else None
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "MessageTypeId is not an integer", unique_id)
    if type_id not in (2, 3, 4):
        raise IgnoredFrame(f"MessageTypeId {type_id}")
    if type_id != MessageType.CALL:
        return _parse_response(frame)
    if unique_id is None:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "UniqueId missing or not a string")
    if len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, f"UniqueId longer than {MAX_UNIQUE_ID_LENGTH}", unique_id)
    if len(frame) != 4:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "a CALL has exactly 4 elements", unique_id)
    action, payload = frame[2], frame[3]
    if not isinstance(action, str):
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "Action is not a string", unique_id)
    if not isinstance(payload, dict):
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "Payload is not a JSON object", unique_id)
    return Call(unique_id, action, payload)


def _parse_response(frame: list[Any]) -> CallResult | CallError:
    # A malformed response cannot be answered (a CALLERROR only replies to a CALL): no id is kept.
    unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
    if unique_id is None:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "UniqueId missing or not a string")
    if frame[0] == MessageType.CALL_RESULT:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(ErrorCode.FORMATION_VIOLATION, f"malformed CALLRESULT {unique_id}")
        return CallResult(unique_id, frame[2])
    if len(frame) != 5 or not isinstance(frame[2], str) or not isinstance(frame[3], str):
        raise FrameError(ErrorCode.FORMATION_VIOLATION, f"malformed CALLERROR {unique_id}")
    details = frame[4] if isinstance(frame[4], dict) else {}
    return CallError(unique_id, frame[2], frame[3], details)


def _encode_default(value: object) -> object:
    if isinstance(value, Decimal):
        # Keep the value as sent: never round (the `ocpp` 2.1.0 package's `_DecimalEncoder` in `ocpp/messages.py`
        # writes every Decimal with one digit).
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# The stdlib encoder, for what orjson refuses: integers beyond 64 bits, keys that are not strings, lone surrogates
# (which then fail at `.encode()`, as `_check_encodable` expects). One for the process: `json.dumps` with options
# builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_encode_default)


def dumps_bytes(value: object) -> bytes:
    """Compact UTF-8 JSON, as a frame goes on the wire. orjson writes it about ten times faster than the stdlib (a
    fleet writes thousands of frames a second). The value is the stdlib's; the text differs only in how a float's
    exponent is spelt, and a NaN or infinity (which JSON cannot hold, RFC 8259 §6) is written null, not NaN."""
    try:
        return orjson.dumps(value, default=_encode_default)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value).encode()


def dumps(value: object) -> str:
    try:
        return orjson.dumps(value, default=_encode_default).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)


def encode(message: Message) -> str:
    if isinstance(message, Call):
        return dumps([MessageType.CALL, message.unique_id, message.action, message.payload])
    if isinstance(message, CallResult):
        return dumps([MessageType.CALL_RESULT, message.unique_id, message.payload])
    return dumps([MessageType.CALL_ERROR, message.unique_id, message.code, message.description, message.details])
