"""Frames written by orjson (protocol/rpc.py) read back as the stdlib encoder's would, and what orjson refuses
still goes out."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocpp_station.protocol.rpc import Call, MessageType, dumps, dumps_bytes, parse_frame

STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=lambda d: float(d))


def read(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@given(values)
def test_the_same_json_value_as_the_stdlib_writes(value: Any) -> None:
    try:
        expected = STDLIB.encode(value).encode()
    except UnicodeEncodeError:
        # A lone surrogate is no UTF-8 (OCPP-J 1.6 §4.1.2): refused on both paths.
        with pytest.raises(UnicodeEncodeError):
            dumps(value).encode()
        with pytest.raises(UnicodeEncodeError):
            dumps_bytes(value)
        return
    assert read(dumps_bytes(value)) == read(expected)
    assert read(dumps(value)) == read(expected)


def test_a_frame_reads_back_as_written() -> None:
    payload = {"connectorId": 1, "limit": Decimal("16.1"), "whole": Decimal("32"), "name": "Zoë", "big": 2**70}
    frame = dumps_bytes([MessageType.CALL, "id-1", "DataTransfer", payload])
    assert frame.startswith(b'[2,"id-1","DataTransfer",{')
    call = cast(Call, parse_frame(frame))
    assert call.payload == {"connectorId": 1, "limit": Decimal("16.1"), "whole": 32, "name": "Zoë", "big": 2**70}


def test_keys_that_are_not_strings_are_written_as_the_stdlib_does() -> None:
    assert dumps({1: "a", "b": [True, None]}) == '{"1":"a","b":[true,null]}'
