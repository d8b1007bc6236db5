"""The HTTP/JSON control API: plug, present a card, cut the network, inject faults, read the state.

One `ControlApi` serves any number of stations through a `StationDirectory`: every station route
exists at `/api/...` (the directory's default station) and at `/api/stations/{chargeBoxId}/...`.
`openapi.json` (package data, served at `GET /api/openapi.json`) is the contract; the tests check
that it and the router describe the same routes.

Errors are always `{"error": "<one line>"}`: 400 malformed body / missing, wrongly typed or unknown
field, 404 unknown station/connector/route, 405 wrong method, 409/422 from the station's
`ControlError` (422 also for values the API itself can reject, e.g. an unknown errorCode), 413 body
too large, 415 body not JSON, 500 anything unexpected (logged as one line).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

from aiohttp import web

from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES, ID_TAG_MAX_LENGTH, UNPLUG_SIDES
from ocpp_station.shell.control import ControlError, ControlledStation, StationDirectory
from ocpp_station.shell.web import FleetSources, Telemetry, TokenRequired, install, token_middleware
from ocpp_station.shell.web.auth import check_bind

__all__ = [
    "CHARGE_POINT_FAULT_CODES",
    "ApiStartError",
    "ControlApi",
    "DictStationDirectory",
    "StationDirectory",
    "create_app",
    "load_openapi",
]

logger = logging.getLogger("ocpp_station.api")

FAULT_INFO_MAX_LENGTH = 50  # StatusNotification.req info = CiString50Type

# Control requests are a few dozen bytes; a small cap keeps a confused client from making the
# server buffer megabytes (aiohttp's default is 1 MiB).
MAX_BODY_BYTES = 64 * 1024

# Short enough that a fleet harness stopping thousands of servers is not held up by an idle
# client; our handlers never run long, so in-flight requests finish well within it.
SHUTDOWN_TIMEOUT_S = 5.0

_OPENAPI_RESOURCE = "openapi.json"
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_JSON_TYPE_NAMES: Mapping[type, str] = MappingProxyType(
    {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }
)


class DictStationDirectory:
    """An insertion-ordered directory; the first station added (and still present) is the default."""

    def __init__(self, stations: Iterable[ControlledStation] = ()) -> None:
        self._stations: dict[str, ControlledStation] = {}
        for station in stations:
            self.add(station)

    def add(self, station: ControlledStation) -> None:
        charge_box_id = station.charge_box_id
        if charge_box_id in self._stations:
            # Silently replacing would leave the old station running but unreachable.
            raise ValueError(f"a station with chargeBoxId {charge_box_id!r} is already in the directory")
        self._stations[charge_box_id] = station

    def remove(self, charge_box_id: str) -> None:
        if self._stations.pop(charge_box_id, None) is None:
            raise KeyError(charge_box_id)

    def get(self, charge_box_id: str) -> ControlledStation | None:
        return self._stations.get(charge_box_id)

    def ids(self) -> list[str]:
        return list(self._stations)

    def default(self) -> ControlledStation | None:
        return next(iter(self._stations.values()), None)


class ApiStartError(Exception):
    """The control API could not start; the message is one line fit for a CLI error."""


class _RequestError(Exception):
    """A request the API rejects before (or instead of) asking the station."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API (a fresh copy on every call: callers may mutate it)."""
    loaded: dict[str, Any] = json.loads(_openapi_bytes())
    return loaded


def _openapi_bytes() -> bytes:
    return resources.files(__package__).joinpath(_OPENAPI_RESOURCE).read_bytes()


# --- responses -------------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    # Stations keep meter values as Decimal (rpc.py parses floats that way); JSON has one number type.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_response(document: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(document, default=_json_default),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _one_line(text: str) -> str:
    # The error contract promises one line; station messages may not be that disciplined.
    return " ".join(text.split()) or "(no message)"


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json_response({"error": _one_line(message)}, status, headers)


def _http_exception_message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"method {request.method} is not allowed on {request.path} (allowed: {allowed})"
    if isinstance(exc, web.HTTPNotFound):
        return f"no route {request.method} {request.path}; GET /api/openapi.json lists the routes"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return f"request body too large (limit {MAX_BODY_BYTES} bytes)"
    return f"{exc.status} {exc.reason}"


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into the JSON error document, so clients never see aiohttp's HTML/text."""
    try:
        return await handler(request)
    except _RequestError as exc:
        return _error(exc.status, exc.message)
    except ControlError as exc:
        if 400 <= exc.status < 500:
            return _error(exc.status, exc.message)
        # A station that answers with a non-4xx ControlError has a bug; do not pass it off as
        # the client's fault (or as success).
        logger.error(
            "control API: %s %s: station raised ControlError with status %s: %s",
            request.method,
            request.path,
            exc.status,
            _one_line(exc.message),
        )
        return _error(500, f"internal error: station reported status {exc.status}: {exc.message}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return _error(exc.status, _http_exception_message(request, exc), {"Allow": allow} if allow else None)
    except Exception as exc:
        # One line at ERROR keeps fleet logs readable; the traceback is there for whoever turns on DEBUG.
        logger.error(
            "control API: %s %s failed: %s: %s",
            request.method,
            request.path,
            type(exc).__name__,
            _one_line(str(exc)),
        )
        logger.debug("control API: traceback", exc_info=True)
        return _error(500, f"internal error while handling {request.method} {request.path}: {type(exc).__name__}")


# --- request parsing -------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last duplicate silently; an ambiguous request should fail instead.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    # Python's json accepts NaN/Infinity, which are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def _is_json_content_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def _read_json_object(request: web.Request, allowed: Iterable[str], required: bool) -> dict[str, Any]:
    """The request body as a JSON object with only `allowed` fields; `{}` when optional and absent."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise _RequestError(400, "request body missing: expected a JSON object")
        return {}
    if not _is_json_content_type(request.content_type):
        raise _RequestError(
            415, f"request body must be JSON (Content-Type: application/json), got {request.content_type}"
        )
    try:
        body = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise _RequestError(400, "request body is not valid UTF-8") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are our hooks' errors
        raise _RequestError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _RequestError(400, f"request body must be a JSON object, got {_json_type(body)}")
    allowed_set = set(allowed)
    unknown = sorted(set(body) - allowed_set)
    if unknown:
        expected = ", ".join(sorted(allowed_set)) if allowed_set else "none"
        raise _RequestError(400, f"unknown field {unknown[0]!r} (allowed fields: {expected})")
    return body


def _required(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise _RequestError(400, f"field {name!r} is required")
    return body[name]


def _wrong_type(name: str, expected: str, value: object) -> _RequestError:
    return _RequestError(400, f"field {name!r} must be {expected}, got {_json_type(value)}")


def _bool_field(body: Mapping[str, Any], name: str) -> bool:
    value = _required(body, name)
    if not isinstance(value, bool):
        raise _wrong_type(name, "a boolean", value)
    return value


def _str_field(body: Mapping[str, Any], name: str) -> str:
    value = _required(body, name)
    if not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    return value


def _optional_str_field(body: Mapping[str, Any], name: str) -> str | None:
    # null is accepted as "absent": many JSON encoders write None rather than omitting the key.
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _wrong_type(name, "a string or null", value)
    return value


def _optional_int_field(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    # JSON (and JSON Schema, which openapi.json uses) has one number type, so 1.0 is the integer 1;
    # bool is an int to Python but not to JSON.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(name, "an integer or null", value)
    return value


def _connector_path(request: web.Request, minimum: int) -> int:
    text = request.match_info["connectorId"]
    if not _DIGITS.fullmatch(text):
        raise _RequestError(404, f"no connector {text!r}: connector ids are integers >= {minimum}")
    try:
        connector_id = int(text)
    except ValueError:  # more digits than Python converts; no station has that many connectors
        raise _RequestError(404, f"no connector {text[:20]}...") from None
    if connector_id < minimum:
        # Connector 0 is the station as a whole: it can fault, but has no cable, lock or EV.
        raise _RequestError(404, f"no connector {connector_id} for this request: connector ids start at {minimum}")
    return connector_id


# --- routes ----------------------------------------------------------------------------------------

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATION_PREFIX = "/api/stations/{chargeBoxId}"


class _Routes:
    """The request handlers, bound to one directory (so nothing is shared between API servers)."""

    def __init__(self, directory: StationDirectory, openapi: bytes) -> None:
        self._directory = directory
        self._openapi = openapi

    def station_routes(self) -> list[tuple[str, str, _Handler]]:
        """(method, path after the station prefix, handler) for every per-station route."""
        return [
            ("GET", "/state", self.state),
            ("POST", "/connectors/{connectorId}/plug", self.plug),
            ("POST", "/connectors/{connectorId}/unplug", self.unplug),
            ("POST", "/rfid", self.rfid),
            ("POST", "/network", self.network),
            ("POST", "/connectors/{connectorId}/fault", self.raise_fault),
            ("DELETE", "/connectors/{connectorId}/fault", self.clear_fault),
            ("POST", "/connectors/{connectorId}/lock-failure", self.lock_failure),
            ("POST", "/connectors/{connectorId}/unlock-failure", self.unlock_failure),
            ("POST", "/connectors/{connectorId}/ev-suspended", self.ev_suspended),
            ("POST", "/local-list-failure", self.local_list_failure),
        ]

    def _station(self, request: web.Request) -> ControlledStation:
        charge_box_id = request.match_info.get("chargeBoxId")
        if charge_box_id is None:
            station = self._directory.default()
            if station is None:
                raise _RequestError(404, "no default station (none configured); use /api/stations/{chargeBoxId}/...")
            return station
        station = self._directory.get(charge_box_id)
        if station is None:
            raise _RequestError(404, f"no station {charge_box_id!r}; GET /api/stations lists them")
        return station

    # Every mutating route answers with the new state, so a client needs no second round trip.

    async def state(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self._station(request).state())

    async def plug(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=1)
        await _read_json_object(request, (), required=False)
        station.plug(connector_id)
        return _json_response(station.state())

    async def unplug(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=1)
        body = await _read_json_object(request, ("side",), required=False)
        side = _str_field(body, "side") if "side" in body else "both"
        if side not in UNPLUG_SIDES:
            raise _RequestError(422, f"side {side!r} is not one of {', '.join(UNPLUG_SIDES)}")
        station.unplug(connector_id, side)
        return _json_response(station.state())

    async def rfid(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        body = await _read_json_object(request, ("idTag", "connectorId"), required=True)
        id_tag = _str_field(body, "idTag")
        connector_id = _optional_int_field(body, "connectorId")
        if not id_tag:
            raise _RequestError(422, "idTag must not be empty")
        if len(id_tag) > ID_TAG_MAX_LENGTH:
            raise _RequestError(
                422,
                f"idTag is {len(id_tag)} characters; OCPP allows at most {ID_TAG_MAX_LENGTH} (CiString20)",
            )
        if connector_id is not None and connector_id < 1:
            raise _RequestError(
                422,
                f"connectorId must be >= 1 (omit it to leave the choice to the station), got {connector_id}",
            )
        station.present_id_tag(id_tag, connector_id)
        return _json_response(station.state())

    async def network(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        body = await _read_json_object(request, ("online",), required=True)
        station.set_online(_bool_field(body, "online"))
        return _json_response(station.state())

    async def raise_fault(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=0)
        body = await _read_json_object(request, ("errorCode", "info"), required=True)
        error_code = _str_field(body, "errorCode")
        info = _optional_str_field(body, "info")
        if error_code == "NoError":
            raise _RequestError(422, "errorCode NoError is not a fault; DELETE the fault to clear it")
        # NoError is not among them: it is what DELETE .../fault expresses (one spelling per request).
        if error_code not in CHARGE_POINT_FAULT_CODES:
            raise _RequestError(
                422,
                f"errorCode {error_code!r} is not an OCPP 1.6 ChargePointErrorCode; "
                f"expected one of {', '.join(sorted(CHARGE_POINT_FAULT_CODES))}",
            )
        if info is not None and len(info) > FAULT_INFO_MAX_LENGTH:
            raise _RequestError(
                422,
                f"info is {len(info)} characters; OCPP allows at most {FAULT_INFO_MAX_LENGTH} (CiString50)",
            )
        station.set_fault(connector_id, error_code, info)
        return _json_response(station.state())

    async def clear_fault(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=0)
        await _read_json_object(request, (), required=False)
        station.set_fault(connector_id, None, None)
        return _json_response(station.state())

    async def lock_failure(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=1)
        body = await _read_json_object(request, ("failing",), required=True)
        station.set_lock_failure(connector_id, _bool_field(body, "failing"))
        return _json_response(station.state())

    async def unlock_failure(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=1)
        body = await _read_json_object(request, ("failing",), required=True)
        station.set_unlock_failure(connector_id, _bool_field(body, "failing"))
        return _json_response(station.state())

    async def ev_suspended(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        connector_id = _connector_path(request, minimum=1)
        body = await _read_json_object(request, ("suspended",), required=True)
        station.set_ev_suspended(connector_id, _bool_field(body, "suspended"))
        return _json_response(station.state())

    async def local_list_failure(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        body = await _read_json_object(request, ("failing",), required=True)
        station.set_local_list_failure(_bool_field(body, "failing"))
        return _json_response(station.state())

    async def stations(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"stations": self._directory.ids()})

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._openapi, content_type="application/json")


def create_app(
    directory: StationDirectory,
    *,
    token: str | None = None,
    telemetry: Telemetry | None = None,
    fleet: FleetSources | None = None,
) -> web.Application:
    """The aiohttp application of the control API (for embedding; `ControlApi` runs it standalone).
    `fleet`: what a fleet process supplies the panel (frames, the fleet page's figures, `/metrics`)."""
    # With a token, it is checked before anything else runs, pages and live feeds included.
    middlewares = ([token_middleware(token)] if token else []) + [_json_errors]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    routes = _Routes(directory, _openapi_bytes())
    for method, suffix, handler in routes.station_routes():
        for prefix in ("/api", _STATION_PREFIX):
            # No implicit HEAD: the contract lists exactly the methods the router answers.
            if method == "GET":
                app.router.add_get(prefix + suffix, handler, allow_head=False)
            else:
                app.router.add_route(method, prefix + suffix, handler)
    app.router.add_get("/api/stations", routes.stations, allow_head=False)
    app.router.add_get("/api/openapi.json", routes.openapi, allow_head=False)
    install(
        app,
        directory,
        telemetry or Telemetry(),
        sorted(CHARGE_POINT_FAULT_CODES),
        _STATION_PREFIX,
        fleet,
    )
    return app


def _bind_failure_reason(exc: BaseException) -> str:
    # asyncio wraps bind errors as "error while attempting to bind on address (...): ..."; the CLI
    # line already names the address, so keep only the operating system's reason.
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return _one_line(str(exc)) or type(exc).__name__


def _url_host(host: str) -> str:
    # A wildcard address is where the server listens, not where a client can connect.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class ControlApi:
    """The control API server for the stations of one directory."""

    def __init__(
        self, directory: StationDirectory, *, token: str | None = None, telemetry: Telemetry | None = None
    ) -> None:
        self._directory = directory
        self._token = token
        # Callers `telemetry.watch(runtime)` before starting a station so the panel and /metrics see its boot.
        self.telemetry = telemetry or Telemetry()
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 8180) -> None:
        """Listen on host:port (port 0 = any free port); raises ApiStartError with a one-line reason."""
        if self._runner is not None:
            raise RuntimeError("control API already started")
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if not 0 <= port <= 65535:
            raise ApiStartError(f"control API: cannot listen on {where}: port must be 0-65535")
        try:
            check_bind(host, self._token)
        except TokenRequired as exc:
            raise ApiStartError(f"control API: cannot listen on {where}: {exc}") from None
        app = create_app(self._directory, token=self._token, telemetry=self.telemetry)
        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except (OSError, OverflowError) as exc:
            await runner.cleanup()
            raise ApiStartError(f"control API: cannot listen on {where}: {_bind_failure_reason(exc)}") from exc
        except BaseException:
            await runner.cleanup()
            raise
        addresses = runner.addresses
        # With port 0 and a name resolving to several addresses, each socket gets its own port; the
        # first is the one we report (and the one base_url names).
        self._port = int(addresses[0][1]) if addresses else port
        self._host = host
        self._runner = runner
        logger.info("control API: listening on %s", self.base_url)

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("control API not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self._host)}:{self.port}"

    async def stop(self) -> None:
        """Stop listening and close connections; safe to call when not started or twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
