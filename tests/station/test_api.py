"""The HTTP control API against a fake station: every route, every error class, and the contract.

Each test starts its own `ControlApi` on port 0 (no shared server, no fixed port), and every JSON
answer is checked against the response schema `openapi.json` promises for it.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from ocpp_station.shell.api import (
    CHARGE_POINT_FAULT_CODES,
    ApiStartError,
    ControlApi,
    DictStationDirectory,
    StationDirectory,
    create_app,
    load_openapi,
)
from ocpp_station.shell.control import ControlError, ControlledStation
from tests.support.api_contract import OPENAPI, PATH_PARAM, check_contract, operation_for, resolve_ref, schema_validator

# --- the fake station ------------------------------------------------------------------------------


class FakeStation:
    """Implements ControlledStation: records calls, keeps a little state, raises when told to."""

    def __init__(self, charge_box_id: str, connectors: int = 2) -> None:
        self._id = charge_box_id
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.raise_next: BaseException | None = None
        self.online = True
        self.energy: Decimal | int = 0
        self.connectors: list[dict[str, Any]] = [
            {
                "connectorId": n,
                "status": "Available",
                "errorCode": "NoError",
                "pluggedIn": False,
                "transactionId": None,
                "idTag": None,
                "energyWh": 0,
                "powerW": 0,
            }
            for n in range(connectors + 1)
        ]

    @property
    def charge_box_id(self) -> str:
        return self._id

    def state(self) -> dict[str, Any]:
        return {
            "chargeBoxId": self._id,
            "connected": self.online,
            "registration": "Accepted",
            "connectors": [dict(c, energyWh=self.energy) if c["connectorId"] else dict(c) for c in self.connectors],
        }

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc

    def _connector(self, connector_id: int, allow_zero: bool = False) -> dict[str, Any]:
        if connector_id >= len(self.connectors) or (connector_id == 0 and not allow_zero):
            raise ControlError(404, f"no connector {connector_id}")
        return self.connectors[connector_id]

    def plug(self, connector_id: int) -> None:
        self._record("plug", connector_id)
        c = self._connector(connector_id)
        if c["pluggedIn"]:
            raise ControlError(409, f"connector {connector_id} is already plugged in")
        c.update(pluggedIn=True, status="Preparing")

    def unplug(self, connector_id: int, side: str = "both") -> None:
        self._record("unplug", connector_id, side)
        self._connector(connector_id).update(pluggedIn=False, status="Available")

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self._record("present_id_tag", id_tag, connector_id)
        if connector_id is not None:
            self._connector(connector_id)["idTag"] = id_tag

    def set_online(self, online: bool) -> None:
        self._record("set_online", online)
        self.online = online

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        self._record("set_fault", connector_id, error_code, info)
        c = self._connector(connector_id, allow_zero=True)
        if error_code is None:
            c.update(errorCode="NoError", status="Available")
        else:
            c.update(errorCode=error_code, status="Faulted")

    def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        self._record("set_lock_failure", connector_id, failing)
        self._connector(connector_id)

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        self._record("set_unlock_failure", connector_id, failing)
        self._connector(connector_id)

    def set_ev_suspended(self, connector_id: int, suspended: bool) -> None:
        self._record("set_ev_suspended", connector_id, suspended)
        self._connector(connector_id)

    def set_local_list_failure(self, failing: bool) -> None:
        self._record("set_local_list_failure", failing)


def _conforms(station: FakeStation) -> ControlledStation:
    # mypy checks here that FakeStation really implements the Protocol.
    return station


# --- fixtures --------------------------------------------------------------------------------------


class Client:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            assert response.content_type == "application/json", await response.text()
            body = await response.json()
            check_contract(method, path, response.status, body)
            self.last_headers = response.headers
            return response.status, body


@pytest.fixture
def stations() -> tuple[FakeStation, FakeStation]:
    return FakeStation("CP1"), FakeStation("CP-2")


@pytest.fixture
def directory(stations: tuple[FakeStation, FakeStation]) -> DictStationDirectory:
    return DictStationDirectory(_conforms(s) for s in stations)


async def _serve(directory: StationDirectory) -> AsyncIterator[Client]:
    api = ControlApi(directory)
    await api.start(port=0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(session, api.base_url)
    finally:
        await api.stop()


@pytest.fixture
async def client(directory: DictStationDirectory) -> AsyncIterator[Client]:
    async for c in _serve(directory):
        yield c


# --- the routes ------------------------------------------------------------------------------------


async def test_state_is_the_station_document_verbatim(client: Client, stations: tuple[FakeStation, ...]) -> None:
    status, body = await client.call("GET", "/api/state")
    assert status == 200
    assert body == stations[0].state()
    assert [c["connectorId"] for c in body["connectors"]] == [0, 1, 2]


async def test_named_station_state(client: Client, stations: tuple[FakeStation, ...]) -> None:
    status, body = await client.call("GET", "/api/stations/CP-2/state")
    assert (status, body) == (200, stations[1].state())


async def test_decimal_meter_values_become_json_numbers(client: Client, stations: tuple[FakeStation, ...]) -> None:
    stations[0].energy = Decimal("1234.5")
    _, body = await client.call("GET", "/api/state")
    assert body["connectors"][1]["energyWh"] == 1234.5
    stations[0].energy = Decimal("1000.0")
    _, body = await client.call("GET", "/api/state")
    assert body["connectors"][1]["energyWh"] == 1000


async def test_percent_encoded_charge_box_id() -> None:
    station = FakeStation("CP 1 ü")
    async for client in _serve(DictStationDirectory([station])):
        status, body = await client.call("POST", "/api/stations/CP%201%20%C3%BC/network", {"online": False})
        assert (status, body["chargeBoxId"]) == (200, "CP 1 ü")
        assert station.calls == [("set_online", (False,))]


async def test_list_stations(client: Client) -> None:
    assert await client.call("GET", "/api/stations") == (200, {"stations": ["CP1", "CP-2"]})


async def test_openapi_is_served(client: Client) -> None:
    assert await client.call("GET", "/api/openapi.json") == (200, OPENAPI)


# (route suffix, body, expected station call) for every mutating per-station route.
MUTATIONS: list[tuple[str, str, Any, tuple[str, tuple[Any, ...]]]] = [
    ("POST", "/connectors/1/plug", None, ("plug", (1,))),
    ("POST", "/connectors/2/unplug", None, ("unplug", (2, "both"))),
    ("POST", "/connectors/2/unplug", {"side": "ev"}, ("unplug", (2, "ev"))),
    ("POST", "/connectors/1/unplug", {"side": "both"}, ("unplug", (1, "both"))),
    ("POST", "/rfid", {"idTag": "ABC123"}, ("present_id_tag", ("ABC123", None))),
    ("POST", "/rfid", {"idTag": "ABC123", "connectorId": 2}, ("present_id_tag", ("ABC123", 2))),
    ("POST", "/rfid", {"idTag": "X" * 20, "connectorId": None}, ("present_id_tag", ("X" * 20, None))),
    ("POST", "/rfid", {"idTag": "ABC", "connectorId": 1.0}, ("present_id_tag", ("ABC", 1))),
    ("POST", "/network", {"online": False}, ("set_online", (False,))),
    ("POST", "/network", {"online": True}, ("set_online", (True,))),
    (
        "POST",
        "/connectors/1/fault",
        {"errorCode": "GroundFailure", "info": "I" * 50},
        ("set_fault", (1, "GroundFailure", "I" * 50)),
    ),
    ("POST", "/connectors/0/fault", {"errorCode": "WeakSignal"}, ("set_fault", (0, "WeakSignal", None))),
    ("DELETE", "/connectors/0/fault", None, ("set_fault", (0, None, None))),
    ("DELETE", "/connectors/1/fault", None, ("set_fault", (1, None, None))),
    ("POST", "/connectors/1/lock-failure", {"failing": True}, ("set_lock_failure", (1, True))),
    ("POST", "/connectors/2/unlock-failure", {"failing": False}, ("set_unlock_failure", (2, False))),
    ("POST", "/connectors/1/ev-suspended", {"suspended": True}, ("set_ev_suspended", (1, True))),
    ("POST", "/local-list-failure", {"failing": True}, ("set_local_list_failure", (True,))),
    ("POST", "/local-list-failure", {"failing": False}, ("set_local_list_failure", (False,))),
]


@pytest.mark.parametrize("prefix", ["/api", "/api/stations/CP-2"])
@pytest.mark.parametrize(("method", "suffix", "body", "call"), MUTATIONS)
async def test_mutation_calls_the_station_and_answers_its_new_state(
    client: Client,
    stations: tuple[FakeStation, FakeStation],
    prefix: str,
    method: str,
    suffix: str,
    body: Any,
    call: tuple[str, tuple[Any, ...]],
) -> None:
    target, other = (stations[1], stations[0]) if "CP-2" in prefix else stations
    status, answer = await client.call(method, prefix + suffix, body)
    assert status == 200, answer
    assert target.calls == [call]
    assert other.calls == []
    assert answer == target.state()


async def test_plug_state_change_is_visible_in_the_answer(client: Client) -> None:
    _, body = await client.call("POST", "/api/connectors/1/plug")
    assert body["connectors"][1]["pluggedIn"] is True
    _, body = await client.call("POST", "/api/connectors/1/unplug")
    assert body["connectors"][1]["pluggedIn"] is False


async def test_no_body_routes_accept_an_empty_json_object(client: Client) -> None:
    assert (await client.call("POST", "/api/connectors/1/plug", {}))[0] == 200
    assert (await client.call("DELETE", "/api/connectors/1/fault", {}))[0] == 200


@pytest.mark.parametrize("code", sorted(CHARGE_POINT_FAULT_CODES))
async def test_every_fault_code_is_accepted(client: Client, stations: tuple[FakeStation, ...], code: str) -> None:
    status, body = await client.call("POST", "/api/connectors/1/fault", {"errorCode": code})
    assert status == 200
    assert body["connectors"][1]["errorCode"] == code
    assert stations[0].calls == [("set_fault", (1, code, None))]


# --- errors ----------------------------------------------------------------------------------------


async def _expect_error(client: Client, status: int, method: str, path: str, body: Any = None, **kw: Any) -> str:
    got, answer = await client.call(method, path, body, **kw)
    assert got == status, answer
    message: str = answer["error"]
    return message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "idTag"),
        ({"idTag": 123}, "idTag"),
        ({"idTag": None}, "idTag"),
        ({"idTag": "A", "connectorId": "1"}, "connectorId"),
        ({"idTag": "A", "connectorId": True}, "connectorId"),
        ({"idTag": "A", "connectorId": 1.5}, "connectorId"),
        ({"idTag": "A", "colour": "red"}, "colour"),
    ],
)
async def test_rfid_400_names_the_field(client: Client, body: Any, field: str) -> None:
    message = await _expect_error(client, 400, "POST", "/api/rfid", body)
    assert repr(field) in message


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/network", {}, "online"),
        ("/api/network", {"online": "false"}, "online"),
        ("/api/network", {"online": 0}, "online"),
        ("/api/network", {"online": True, "delay": 5}, "delay"),
        ("/api/connectors/1/fault", {}, "errorCode"),
        ("/api/connectors/1/fault", {"errorCode": 7}, "errorCode"),
        ("/api/connectors/1/fault", {"errorCode": "OtherError", "info": 7}, "info"),
        ("/api/connectors/1/lock-failure", {"failing": "yes"}, "failing"),
        ("/api/connectors/1/lock-failure", {"failed": True}, "failed"),
        ("/api/connectors/1/unlock-failure", {}, "failing"),
        ("/api/connectors/1/ev-suspended", {"suspended": None}, "suspended"),
        ("/api/local-list-failure", {"failing": "true"}, "failing"),
        ("/api/local-list-failure", {"fail": True}, "fail"),
        ("/api/connectors/1/plug", {"force": True}, "force"),
        ("/api/stations/CP-2/network", {"online": 1}, "online"),
    ],
)
async def test_400_names_the_field(
    client: Client, stations: tuple[FakeStation, ...], path: str, body: Any, field: str
) -> None:
    message = await _expect_error(client, 400, "POST", path, body)
    assert repr(field) in message
    assert stations[0].calls == stations[1].calls == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b'{"online": tru}', "not valid JSON"),
        (b"[true]", "JSON object"),
        (b'"online"', "JSON object"),
        (b'{"online": true, "online": false}', "duplicate"),
        (b'{"online": NaN}', "NaN"),
        (b'{"online": \xff}', "UTF-8"),
        (b"", "missing"),
    ],
)
async def test_400_malformed_body(client: Client, data: bytes, fragment: str) -> None:
    headers = {"Content-Type": "application/json"}
    message = await _expect_error(client, 400, "POST", "/api/network", data=data, headers=headers)
    assert fragment in message


async def test_400_missing_body_without_content_type(client: Client) -> None:
    await _expect_error(client, 400, "POST", "/api/connectors/1/lock-failure")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"online": false}', "text/plain"),
        ("online=false", "application/x-www-form-urlencoded"),
        ('{"online": false}', "application/octet-stream"),
    ],
)
async def test_415_body_not_json(client: Client, data: str, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    message = await _expect_error(client, 415, "POST", "/api/network", data=data, headers=headers)
    assert "application/json" in message


async def test_415_on_a_no_body_route_given_a_non_json_body(client: Client) -> None:
    await _expect_error(
        client, 415, "POST", "/api/connectors/1/plug", data="now", headers={"Content-Type": "text/plain"}
    )


async def test_json_suffix_content_types_are_json(client: Client) -> None:
    headers = {"Content-Type": "application/merge-patch+json; charset=utf-8"}
    status, _ = await client.call("POST", "/api/network", data='{"online": true}', headers=headers)
    assert status == 200


async def test_413_body_too_large(client: Client) -> None:
    data = json.dumps({"idTag": "A" * 100_000})
    await _expect_error(client, 413, "POST", "/api/rfid", data=data, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "path",
    [
        "/api/stations/NOPE/state",
        "/api/stations/NOPE/connectors/1/plug",
        "/api/nothing-here",
        "/nothing-here",  # "/" is the web panel's page now
        "/api/connectors/1/explode",
        "/api/connectors/abc/plug",
        "/api/connectors/-1/plug",
        "/api/connectors/1.5/plug",
        "/api/connectors/%D9%A1/plug",  # an Arabic-Indic digit one: not an ASCII integer
        "/api/connectors/0/plug",
        "/api/connectors/0/unplug",
        "/api/connectors/0/lock-failure",
        "/api/connectors/0/unlock-failure",
        "/api/connectors/0/ev-suspended",
        "/api/connectors/" + "9" * 5000 + "/fault",
        "/api/connectors/7/plug",  # beyond the station's connectors: the station's ControlError(404)
    ],
)
async def test_404(client: Client, stations: tuple[FakeStation, ...], path: str) -> None:
    body: dict[str, Any] | None = None
    if "failure" in path:
        body = {"failing": True}
    elif "ev-" in path:
        body = {"suspended": True}
    elif path.endswith("/fault"):
        body = {"errorCode": "OtherError"}
    method = "GET" if path.endswith("/state") else "POST"
    message = await _expect_error(client, 404, method, path, body)
    assert message
    # Only the last case gets as far as the station.
    assert len(stations[0].calls) == (1 if path == "/api/connectors/7/plug" else 0)


async def test_404_unknown_station_is_named(client: Client) -> None:
    message = await _expect_error(client, 404, "GET", "/api/stations/NOPE/state")
    assert "'NOPE'" in message


async def test_404_when_there_is_no_default_station() -> None:
    async for client in _serve(DictStationDirectory()):
        message = await _expect_error(client, 404, "GET", "/api/state")
        assert "default station" in message
        assert await client.call("GET", "/api/stations") == (200, {"stations": []})


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/rfid", "POST"),
        ("POST", "/api/state", "GET"),
        ("HEAD", "/api/state", "GET"),
        ("PUT", "/api/connectors/1/fault", "DELETE, POST"),
        ("GET", "/api/stations/CP1/connectors/1/plug", "POST"),
        ("DELETE", "/api/stations", "GET"),
    ],
)
async def test_405_wrong_method(client: Client, method: str, path: str, allowed: str) -> None:
    async with client.session.request(method, client.base_url + path) as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {m.strip() for m in allowed.split(",")}
        if method != "HEAD":  # a HEAD answer has no body by definition
            body = await response.json()
            check_contract(method, path, 405, body)
            assert allowed in body["error"]


@pytest.mark.parametrize("status", [404, 409, 422])
@pytest.mark.parametrize(("method", "suffix", "body", "call"), MUTATIONS)
async def test_control_error_status_and_message_pass_through(
    client: Client,
    stations: tuple[FakeStation, ...],
    status: int,
    method: str,
    suffix: str,
    body: Any,
    call: tuple[str, tuple[Any, ...]],
) -> None:
    stations[0].raise_next = ControlError(status, "refused:\nnot now")
    message = await _expect_error(client, status, method, "/api" + suffix, body)
    assert message == "refused: not now"  # squeezed onto one line


async def test_409_from_the_station_state(client: Client) -> None:
    await client.call("POST", "/api/connectors/1/plug")
    message = await _expect_error(client, 409, "POST", "/api/connectors/1/plug")
    assert "already plugged" in message


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/api/rfid", {"idTag": ""}, "empty"),
        ("/api/rfid", {"idTag": "X" * 21}, "20"),
        ("/api/rfid", {"idTag": "A", "connectorId": 0}, "connectorId"),
        ("/api/rfid", {"idTag": "A", "connectorId": -3}, "connectorId"),
        ("/api/connectors/1/fault", {"errorCode": "NoError"}, "DELETE"),
        ("/api/connectors/1/fault", {"errorCode": "Meltdown"}, "ChargePointErrorCode"),
        ("/api/connectors/1/fault", {"errorCode": "groundfailure"}, "ChargePointErrorCode"),
        ("/api/connectors/0/fault", {"errorCode": "OtherError", "info": "I" * 51}, "50"),
        ("/api/connectors/1/unplug", {"side": "station"}, "ev, both"),
    ],
)
async def test_422_bad_value(
    client: Client, stations: tuple[FakeStation, ...], path: str, body: Any, fragment: str
) -> None:
    message = await _expect_error(client, 422, "POST", path, body)
    assert fragment in message
    assert stations[0].calls == []


async def test_500_on_an_unexpected_station_exception_logs_one_line(
    client: Client, stations: tuple[FakeStation, ...], caplog: pytest.LogCaptureFixture
) -> None:
    stations[0].raise_next = RuntimeError("database\nlocked")
    with caplog.at_level(logging.INFO):
        message = await _expect_error(client, 500, "POST", "/api/connectors/1/plug")
    assert "RuntimeError" in message
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert errors[0].name == "ocpp_station.api"
    assert "\n" not in errors[0].getMessage()
    assert errors[0].exc_info is None  # the traceback is DEBUG-only
    # The server keeps serving.
    assert (await client.call("GET", "/api/state"))[0] == 200


async def test_500_when_state_itself_fails(client: Client, stations: tuple[FakeStation, ...]) -> None:
    stations[0].connectors[0]["energyWh"] = object()  # not JSON-serializable
    await _expect_error(client, 500, "GET", "/api/state")


@pytest.mark.parametrize("status", [200, 302, 500, 999])
async def test_a_control_error_with_a_non_4xx_status_is_a_500(
    client: Client, stations: tuple[FakeStation, ...], status: int
) -> None:
    stations[0].raise_next = ControlError(status, "odd")
    await _expect_error(client, 500, "POST", "/api/network", {"online": True})


# --- request schemas and server agree --------------------------------------------------------------

SAMPLE_BODIES: dict[str, list[Any]] = {
    "/api/rfid": [
        {"idTag": "A"},
        {"idTag": "X" * 20, "connectorId": 2},
        {"idTag": "A", "connectorId": None},
        {"idTag": "A", "connectorId": 1.0},
        {"idTag": ""},
        {"idTag": "X" * 21},
        {"idTag": "A", "connectorId": 0},
        {"idTag": "A", "connectorId": 1.5},
        {"idTag": "A", "connectorId": "1"},
        {"idTag": "A", "connectorId": False},
        {"idTag": None},
        {"connectorId": 1},
        {"idTag": "A", "x": 1},
        [],
        "A",
    ],
    "/api/network": [
        {"online": True},
        {"online": False},
        {"online": None},
        {"online": "true"},
        {},
        {"online": 1},
    ],
    "/api/connectors/1/fault": [
        {"errorCode": "OtherError"},
        {"errorCode": "OtherError", "info": None},
        {"errorCode": "OtherError", "info": ""},
        {"errorCode": "OtherError", "info": "I" * 50},
        {"errorCode": "OtherError", "info": "I" * 51},
        {"errorCode": "NoError"},
        {"errorCode": "Other"},
        {"errorCode": None},
        {"info": "x"},
        {"errorCode": "OtherError", "vendorErrorCode": "E1"},
    ],
    "/api/connectors/1/lock-failure": [{"failing": True}, {"failing": False}, {"failing": "no"}, {}],
    "/api/connectors/1/unlock-failure": [{"failing": True}, {"failing": 0}, {"failing": True, "x": None}],
    "/api/connectors/1/ev-suspended": [{"suspended": False}, {"suspended": None}, {"Suspended": True}],
    "/api/connectors/1/plug": [{}, {"x": 1}],
    "/api/connectors/1/unplug": [
        {},
        {"side": "ev"},
        {"side": "both"},
        {"side": "station"},
        {"side": "EV"},
        {"side": None},
        {"side": 1},
        {"side": "ev", "x": 1},
    ],
    "/api/local-list-failure": [{"failing": True}, {"failing": False}, {"failing": 1}, {}, {"failing": True, "x": 1}],
}


@pytest.mark.parametrize(("path", "body"), [(path, body) for path, bodies in SAMPLE_BODIES.items() for body in bodies])
async def test_server_accepts_a_body_iff_the_openapi_schema_does(client: Client, path: str, body: Any) -> None:
    operation = operation_for("POST", path)
    assert operation is not None
    schema = resolve_ref(operation["requestBody"])["content"]["application/json"]["schema"]
    schema_ok = schema_validator(schema).is_valid(body)
    status, _ = await client.call("POST", path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert (status == 200) == schema_ok, status


# --- the OpenAPI document --------------------------------------------------------------------------


def test_openapi_and_router_describe_the_same_routes() -> None:
    app = create_app(DictStationDirectory())
    routed = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}
    documented = {
        (method.upper(), path)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    }
    assert routed == documented


def test_every_station_route_exists_short_and_named() -> None:
    # The server's and the panel's own routes (tags "server", "panel") exist once.
    paths = {p for p, item in OPENAPI["paths"].items() if any("station" in op["tags"] for op in item.values())}
    short = {p for p in paths if not p.startswith("/api/stations")}
    named = {p.removeprefix("/api/stations/{chargeBoxId}") for p in paths if p.startswith("/api/stations/")}
    assert short == {"/api" + s for s in named}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def test_openapi_document_is_self_consistent() -> None:
    assert OPENAPI["openapi"].startswith("3.1.")
    for node in _walk(OPENAPI):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            resolve_ref({"$ref": node["$ref"]})  # raises KeyError if dangling
    for schema in OPENAPI["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    operation_ids = [op["operationId"] for item in OPENAPI["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, item in OPENAPI["paths"].items():
        in_path = {name.strip("{}") for name in PATH_PARAM.findall(path)}
        for operation in item.values():
            declared = {p["name"] for p in map(resolve_ref, operation.get("parameters", []))}
            assert declared == in_path, path
            assert "200" in operation["responses"] and "default" in operation["responses"], path


def test_openapi_fault_codes_match_the_api() -> None:
    schema = OPENAPI["components"]["schemas"]["FaultErrorCode"]
    assert set(schema["enum"]) == CHARGE_POINT_FAULT_CODES
    assert "NoError" not in CHARGE_POINT_FAULT_CODES


def test_openapi_state_schema_accepts_the_fake_state() -> None:
    assert schema_validator({"$ref": "#/components/schemas/State"}).is_valid(FakeStation("X").state())


def test_load_openapi_returns_a_fresh_copy() -> None:
    first = load_openapi()
    first["paths"].clear()
    assert load_openapi()["paths"]


# --- starting and stopping -------------------------------------------------------------------------


async def test_busy_port_is_a_one_line_api_start_error() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        api = ControlApi(DictStationDirectory())
        with pytest.raises(ApiStartError) as caught:
            await api.start("127.0.0.1", port)
    assert str(caught.value) == f"control API: cannot listen on 127.0.0.1:{port}: address already in use"
    with pytest.raises(RuntimeError):
        _ = api.port
    await api.stop()  # a failed start leaves nothing to stop


async def test_second_server_on_the_same_port_fails_cleanly() -> None:
    first = ControlApi(DictStationDirectory())
    await first.start(port=0)
    try:
        with pytest.raises(ApiStartError, match="address already in use"):
            await ControlApi(DictStationDirectory()).start(port=first.port)
    finally:
        await first.stop()


@pytest.mark.parametrize("port", [-1, 65536])
async def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ApiStartError, match="port must be 0-65535"):
        await ControlApi(DictStationDirectory()).start(port=port)


async def test_port_base_url_stop_and_restart() -> None:
    api = ControlApi(DictStationDirectory([FakeStation("CP1")]))
    with pytest.raises(RuntimeError):
        _ = api.base_url
    await api.start(port=0)
    try:
        assert api.port > 0
        assert api.base_url == f"http://127.0.0.1:{api.port}"
        with pytest.raises(RuntimeError):
            await api.start(port=0)
    finally:
        await api.stop()
    await api.stop()  # idempotent
    await api.start(port=0)  # a stopped server can start again
    try:
        async with aiohttp.ClientSession() as session, session.get(api.base_url + "/api/state") as response:
            assert response.status == 200
    finally:
        await api.stop()


async def test_servers_are_independent() -> None:
    # One process, several servers, no shared state: each answers for its own directory only.
    a, b = (
        ControlApi(DictStationDirectory([FakeStation("A")])),
        ControlApi(DictStationDirectory([FakeStation("B")])),
    )
    await a.start(port=0)
    await b.start(port=0)
    try:
        async with aiohttp.ClientSession() as session:
            for api, name in ((a, "A"), (b, "B")):
                async with session.get(api.base_url + "/api/stations") as response:
                    assert await response.json() == {"stations": [name]}
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.parametrize(("host", "expected"), [("0.0.0.0", "http://127.0.0.1:"), ("localhost", "http://localhost:")])
async def test_base_url_is_connectable(host: str, expected: str) -> None:
    # Listening beyond loopback needs a token (tests/web/test_access.py covers the rule).
    api = ControlApi(DictStationDirectory([FakeStation("CP1")]), token="s3cret")
    await api.start(host, 0)
    try:
        assert api.base_url == f"{expected}{api.port}"
        bearer = {"Authorization": "Bearer s3cret"}
        async with aiohttp.ClientSession(headers=bearer) as s, s.get(api.base_url + "/api/state") as response:
            assert response.status == 200
    finally:
        await api.stop()


# --- the directory ---------------------------------------------------------------------------------


def test_dict_directory() -> None:
    directory = DictStationDirectory()
    assert directory.default() is None and directory.ids() == []
    a, b, c = FakeStation("A"), FakeStation("B"), FakeStation("C")
    for station in (a, b, c):
        directory.add(station)
    assert directory.ids() == ["A", "B", "C"]
    assert directory.default() is a
    assert directory.get("B") is b and directory.get("Z") is None
    with pytest.raises(ValueError, match="'A'"):
        directory.add(FakeStation("A"))
    directory.remove("A")
    assert directory.default() is b  # the oldest remaining station takes over
    with pytest.raises(KeyError):
        directory.remove("A")
