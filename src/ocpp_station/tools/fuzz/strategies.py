"""Hypothesis strategies built from the official OCPP 1.6 JSON schemas (the `ocpp` package's
`ocpp/v16/schemas`), and from the OCPP-J framing rules, each frame paired with the answer it must get.

Three tiers of payloads per CS→CP action:

- valid: what the schema allows, values in everyday ranges;
- boundary: still valid, at the edges (strings at maxLength, astral characters, 32/64-bit integer limits,
  empty and long arrays, far-away dates, optional fields all present or all absent);
- invalid: a valid payload with exactly one violation, whose CallError code follows the mapping of
  `schemas.py` (our choice among the codes of OCPP-J 1.6 §4.2.3): missing required property → ProtocolError;
  wrong JSON type or too-long string → TypeConstraintViolation; value outside an enum, a multipleOf or a
  date-time format → PropertyConstraintViolation; unknown property → FormationViolation.

Raw frames cover the framing (OCPP-J 1.6 §4): not JSON, not an array, wrong element types, ids longer
than 36 characters, unknown and wrong-direction actions, unknown MessageTypeIds, stray responses, binary
frames, lone surrogates, deep nesting, NaN.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from hypothesis import strategies as st

from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.protocol.schemas import (
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    SECURITY_ACTIONS,
    SECURITY_CP_TO_CS_ACTIONS,
)

RESULT = "CallResult"
ID = "\x00id\x00"  # replaced by the runner with a fresh unique id
LONG_ID = "\x00long-id\x00"  # replaced by a fresh id longer than 36 characters

# A valid call may still be refused on its merits: these are the CallErrors a handler may give it
# (e.g. GetConfiguration with more keys than GetConfigurationMaxKeys; a value the station cannot use).
MERIT_ERRORS = frozenset(
    {ErrorCode.PROPERTY_CONSTRAINT_VIOLATION.value, ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION.value}
)

Json = Any


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """One frame to send and what must come back.

    `frame`: a JSON value with ID / LONG_ID placeholders, or `raw` text/bytes sent as they are.
    `expected`: None = no answer at all; otherwise the allowed outcomes (RESULT and/or CallError codes).
    """

    label: str
    frame: Json = None
    raw: str | bytes | None = None
    expected: frozenset[str] | None = None
    action: str | None = None  # whose Response schema a CallResult must satisfy
    binary: bool = False


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files("ocpp.v16.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text, parse_float=Decimal)
    # The security whitepaper's schemas name their types in "definitions" ({"$ref": "#/definitions/X"}); the
    # generators walk plain nodes, so every reference is replaced by what it names.
    return _inline(loaded, loaded.get("definitions", {}))  # type: ignore[no-any-return]


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/definitions/"):
            return _inline(definitions[reference.rsplit("/", 1)[1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items() if key != "definitions"}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


# -- leaves ----------------------------------------------------------------------------------------------
_SAFE_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
_PRINTABLE = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/ ", max_size=30)


def _text(max_length: int | None, boundary: bool) -> st.SearchStrategy[str]:
    limit = max_length if max_length is not None else (600 if boundary else 40)
    if boundary and max_length is not None:
        edges = [st.just(""), st.just("\U0001f50c" * limit), st.just("x" * limit)]
        if limit <= 50:
            edges.append(st.text(alphabet=st.characters(codec="utf-8"), min_size=limit, max_size=limit))
        return st.one_of(edges)
    return st.one_of(_PRINTABLE.map(lambda s: s[:limit]), _SAFE_TEXT.map(lambda s: s[:limit]))


def _datetime(boundary: bool) -> st.SearchStrategy[str]:
    if boundary:
        return st.sampled_from(
            [
                "1970-01-01T00:00:00Z",
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999Z",
                "2038-01-19T03:14:08+00:00",
                "2026-02-28T23:59:60Z".replace(":60", ":59"),
                "2026-06-30T12:00:00.123456-12:00",
                "2026-06-30T12:00:00+14:00",
            ]
        )
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
    return moments.map(lambda d: d.isoformat().replace("+00:00", "Z"))


def _uri(boundary: bool) -> st.SearchStrategy[str]:
    host = st.sampled_from(["127.0.0.1", "localhost", "files.example.invalid"])
    path = st.text(alphabet=string.ascii_lowercase + "/._-", max_size=20)
    scheme = st.sampled_from(["ftp", "ftps", "http", "https", "sftp", "gopher"])
    plain = st.builds(lambda s, h, p: f"{s}://{h}/{p}", scheme, host, path)
    with_user = st.builds(lambda s, h, p: f"{s}://user:secret@{h}/{p}", scheme, host, path)
    odd = st.sampled_from(["", "not a uri", "ftp://", "://x", "ftp://[::1", "http://" + "a" * 300])
    return st.one_of(plain, with_user, odd) if boundary else st.one_of(plain, with_user)


def _integer(boundary: bool) -> st.SearchStrategy[int]:
    if boundary:
        return st.sampled_from([0, -1, 1, 2**31 - 1, -(2**31), 2**31, 2**53, 2**63 - 1, 2**63, -(2**63), 10**30])
    return st.integers(min_value=-3, max_value=1000) | st.integers(min_value=0, max_value=2**31 - 1)


def _number(node: dict[str, Any], boundary: bool) -> st.SearchStrategy[Decimal]:
    places = 1 if "multipleOf" in node else 3
    if boundary:
        return st.sampled_from([Decimal("0"), Decimal("0.1"), Decimal("-0.1"), Decimal("99999999.9"), Decimal("1E+3")])
    return st.decimals(min_value=-10, max_value=100_000, places=places, allow_nan=False, allow_infinity=False)


# -- payloads ----------------------------------------------------------------------------------------------
def instances(node: dict[str, Any], boundary: bool = False) -> st.SearchStrategy[Json]:
    """Values valid against the schema `node` (draft 4 subset the OCPP 1.6 schemas use)."""
    if "enum" in node:
        return st.sampled_from(list(node["enum"]))
    kind = node.get("type")
    if kind == "object":
        props: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        fixed = {k: instances(v, boundary) for k, v in props.items() if k in required}
        optional = {k: instances(v, boundary) for k, v in props.items() if k not in required}
        if boundary:
            every = st.fixed_dictionaries({**fixed, **optional})
            return st.one_of(st.fixed_dictionaries(fixed), every)
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        low = int(node.get("minItems", 0))
        high = int(node.get("maxItems", low + (40 if boundary else 4)))
        items = instances(node.get("items", {}), boundary)
        if boundary:
            return st.one_of(st.lists(items, min_size=low, max_size=low), st.lists(items, min_size=high, max_size=high))
        return st.lists(items, min_size=low, max_size=min(high, low + 4))
    if kind == "string":
        if node.get("format") == "date-time":
            return _datetime(boundary)
        if node.get("format") == "uri":
            return _uri(boundary)
        return _text(node.get("maxLength"), boundary)
    if kind == "integer":
        return _integer(boundary)
    if kind == "number":
        return _number(node, boundary)
    if kind == "boolean":
        return st.booleans()
    return st.none()


def _paths(
    node: dict[str, Any], value: Json, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every (path, schema node) present in `value`."""
    found = [(path, node)]
    if node.get("type") == "object" and isinstance(value, dict):
        for key, sub in node.get("properties", {}).items():
            if key in value:
                found += _paths(sub, value[key], (*path, key))
    elif node.get("type") == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(node.get("items", {}), item, (*path, index))
    return found


def _replace(value: Json, path: tuple[Any, ...], new: Json) -> Json:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _remove(value: Json, path: tuple[Any, ...]) -> Json:
    parent = path[:-1]

    def drop(obj: Json) -> Json:
        return {k: v for k, v in obj.items() if k != path[-1]}

    return _replace(value, parent, drop(_get(value, parent)))


def _get(value: Json, path: tuple[Any, ...]) -> Json:
    for step in path:
        value = value[step]
    return value


_WRONG_TYPES: dict[str, list[Json]] = {
    "object": ["{}", 1, [], None, True],
    "array": [{}, "[]", 1, None],
    "string": [1, Decimal("1.5"), True, None, [], {}],
    "integer": ["1", Decimal("1.5"), True, None, [], {}],
    "number": ["1.0", True, None, [], {}],
    "boolean": ["true", 1, None, [], {}],
}


@st.composite
def invalid_payload(draw: st.DrawFn, action: str) -> tuple[Json, str, str]:
    """(payload, expected CallError code, what was broken): one violation of a valid payload."""
    root = schema(action)
    value = draw(instances(root))
    options: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for path, node in _paths(root, value):
        kind = node.get("type")
        if kind == "object":
            if node.get("additionalProperties") is False:
                options.append(("extra", path, node))
            options += [("missing", (*path, key), node) for key in node.get("required", [])]
        if path:
            options.append(("type", path, node))
        if kind == "string" and "enum" in node:
            options.append(("enum", path, node))
        if kind == "string" and "maxLength" in node:
            options.append(("long", path, node))
        if kind == "string" and node.get("format") == "date-time":
            options.append(("date", path, node))
        if kind == "number" and "multipleOf" in node:
            options.append(("multiple", path, node))
        if kind == "array" and "maxItems" in node:
            options.append(("items", path, node))
    how, path, node = draw(st.sampled_from(options))
    if how == "extra":
        name = draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=12))
        target = _get(value, path)
        name = name if name not in node.get("properties", {}) else name + "X"
        return _replace(value, path, {**target, name: draw(_SAFE_TEXT)}), ErrorCode.FORMATION_VIOLATION, how
    if how == "missing":
        return _remove(value, path), ErrorCode.PROTOCOL_ERROR, how
    if how == "type":
        wrong = draw(st.sampled_from(_WRONG_TYPES[str(node.get("type"))]))
        return _replace(value, path, wrong), ErrorCode.TYPE_CONSTRAINT_VIOLATION, how
    if how == "enum":
        word = draw(st.text(alphabet=string.ascii_letters, max_size=20).filter(lambda w: w not in node["enum"]))
        return _replace(value, path, word), ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, how
    if how == "long":
        extra = draw(st.integers(min_value=1, max_value=100))
        return _replace(value, path, "L" * (int(node["maxLength"]) + extra)), ErrorCode.TYPE_CONSTRAINT_VIOLATION, how
    if how == "date":
        bad = draw(st.sampled_from(["yesterday", "2026-13-01T00:00:00Z", "2026-01-01T25:00:00Z", "", "1700000000"]))
        return _replace(value, path, bad), ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, how
    if how == "multiple":
        return _replace(value, path, Decimal("16.05")), ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, how
    items = _get(value, path)
    over = [items[0] if items else draw(instances(node.get("items", {})))] * (int(node["maxItems"]) + 1)
    return _replace(value, path, over), ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, how


# -- frames ------------------------------------------------------------------------------------------------
# The OCPP 1.6 actions and the security whitepaper's (§5), all handled by the station.
CS_ACTIONS = sorted(CS_TO_CP_ACTIONS.keys() | SECURITY_ACTIONS)


def _valid_call(action: str, boundary: bool) -> st.SearchStrategy[FrameSpec]:
    label = f"{action} ({'boundary' if boundary else 'valid'})"
    return instances(schema(action), boundary).map(
        lambda p: FrameSpec(label, [2, ID, action, p], expected=MERIT_ERRORS | {RESULT}, action=action)
    )


def _invalid_call(action: str) -> st.SearchStrategy[FrameSpec]:
    return invalid_payload(action).map(
        lambda t: FrameSpec(f"{action} (invalid: {t[2]})", [2, ID, action, t[0]], expected=frozenset({t[1]}))
    )


def calls() -> st.SearchStrategy[FrameSpec]:
    """A CS→CP call of any action: valid, boundary or with one violation."""
    return st.sampled_from(CS_ACTIONS).flatmap(
        lambda a: st.one_of(_valid_call(a, False), _valid_call(a, True), _invalid_call(a))
    )


def _answered(code: ErrorCode) -> frozenset[str]:
    return frozenset({code.value})


_FV = _answered(ErrorCode.FORMATION_VIOLATION)


def garbage() -> st.SearchStrategy[FrameSpec]:
    """Frames that break OCPP-J framing (OCPP-J 1.6 §4), each with the answer it must (not) get."""
    silent = [
        st.text(max_size=40).filter(lambda t: not _is_json(t)).map(lambda t: FrameSpec("not JSON", raw=t)),
        st.binary(max_size=40).map(lambda b: FrameSpec("binary garbage", raw=b + b"\xff", binary=True)),
        st.sampled_from(["1", '"x"', "{}", "null", "true", "[]", '{"2": 1}']).map(
            lambda t: FrameSpec("not an array", raw=t)
        ),
        st.sampled_from(['["2","a","Heartbeat",{}]', "[true]", "[null]", '[{"a":1}]', "[2]", '[2,5,"Reset",{}]']).map(
            lambda t: FrameSpec("unusable MessageTypeId or id", raw=t)
        ),
        st.sampled_from([0, 1, 5, 6, -2, 99, 2**40]).map(
            lambda n: FrameSpec("unknown MessageTypeId", frame=[n, ID, "Heartbeat", {}])
        ),
        st.sampled_from([[3, ID, {}], [4, ID, "GenericError", "", {}], [3, ID], [4, ID, 5], [3, ID, []]]).map(
            lambda f: FrameSpec("stray or malformed response", frame=f)
        ),
        st.integers(min_value=2000, max_value=6000).map(lambda n: FrameSpec("deep nesting", raw="[" * n + "]" * n)),
        st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
            lambda c: FrameSpec("NaN", raw=f'[2,"nan-id","SetChargingProfile",{{"connectorId":{c}}}]')
        ),
        st.just(FrameSpec("lone surrogate in the id", raw='[2,"\\ud800","GetConfiguration",{}]')),
        st.just(FrameSpec("huge integer literal", raw='[2,"big","Reset",{"type":' + "9" * 5000 + "}]")),
    ]
    answered = [
        st.sampled_from([[2, ID, "Heartbeat"], [2, ID, "Heartbeat", {}, 1], [2, ID, 7, {}], [2, ID, "Reset", []]]).map(
            lambda f: FrameSpec("malformed CALL", frame=f, expected=_FV)
        ),
        st.sampled_from([[2, ID, "Reset", None], [2, ID, "Reset", "{}"], [2, ID, None, {}]]).map(
            lambda f: FrameSpec("malformed CALL", frame=f, expected=_FV)
        ),
        st.just(FrameSpec("id longer than 36", frame=[2, LONG_ID, "GetConfiguration", {}], expected=_FV)),
        st.just(FrameSpec("MessageTypeId 2.0", raw='[2.0,"' + ID + '","GetConfiguration",{}]', expected=_FV)),
        st.text(alphabet=string.ascii_letters, min_size=1, max_size=30)
        .filter(
            lambda a: (
                a not in CS_TO_CP_ACTIONS
                and a not in CP_TO_CS_ACTIONS
                and a not in SECURITY_ACTIONS
                and a not in SECURITY_CP_TO_CS_ACTIONS
            )
        )
        .map(
            lambda a: FrameSpec("unknown action", frame=[2, ID, a, {}], expected=_answered(ErrorCode.NOT_IMPLEMENTED))
        ),
        st.sampled_from(["getConfiguration", "RESET", "/Reset", "Reset ", ""]).map(
            lambda a: FrameSpec("misspelt action", frame=[2, ID, a, {}], expected=_answered(ErrorCode.NOT_IMPLEMENTED))
        ),
        st.sampled_from(sorted((CP_TO_CS_ACTIONS | SECURITY_CP_TO_CS_ACTIONS) - CS_TO_CP_ACTIONS.keys())).map(
            lambda a: FrameSpec(
                "action not for a charge point", frame=[2, ID, a, {}], expected=_answered(ErrorCode.NOT_SUPPORTED)
            )
        ),
        st.just(
            FrameSpec(
                "lone surrogate in the payload",
                raw='[2,"' + ID + '","GetConfiguration",{"key":["\\udc80"]}]',
                expected=_FV,
            )
        ),
        _valid_call("GetConfiguration", False).map(
            lambda f: FrameSpec(
                "valid call in a binary frame", frame=f.frame, expected=f.expected, binary=True, action=f.action
            )
        ),
    ]
    return st.one_of(st.one_of(silent), st.one_of(answered))


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def frames() -> st.SearchStrategy[FrameSpec]:
    """Mostly schema-driven calls, a quarter framing garbage."""
    return st.one_of(calls(), calls(), calls(), garbage())
