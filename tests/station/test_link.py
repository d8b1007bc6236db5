"""The OCPP-J link against real WebSocket servers on loopback: subprotocol, identity, Basic auth, wss://."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.settings import parse_settings
from ocpp_station.shell.link import station_url
from ocpp_station.shell.runtime import StationRuntime

OCPP16 = Subprotocol("ocpp1.6")


class Recorder:
    """A minimal central system that accepts the station and records the handshake and the calls."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.headers: list[Headers] = []
        self.actions: list[str] = []
        self.booted = asyncio.Event()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        self.headers.append(request.headers)
        return None

    async def handler(self, ws: ServerConnection) -> None:
        async for text in ws:
            frame = json.loads(text)
            if frame[0] != 2:
                continue
            self.actions.append(frame[2])
            now = iso_utc(asyncio.get_running_loop().time() + 1_767_225_600)
            answer: dict[str, Any] = {}
            if frame[2] == "BootNotification":
                answer = {"status": "Accepted", "currentTime": now, "interval": 300}
                self.booted.set()
            await ws.send(json.dumps([3, frame[1], answer]))


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, Callable[..., Any]]]:
    rec = Recorder()
    servers: list[Server] = []

    async def start(**kwargs: Any) -> Server:
        server = await serve(rec.handler, "127.0.0.1", 0, process_request=rec.process_request, **kwargs)
        servers.append(server)
        return server

    yield rec, start
    for server in servers:
        server.close()
        await server.wait_closed()


def port_of(server: Server) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


async def run_station(tmp_path: Path, url: str, settings: Any = None, **overrides: str) -> StationRuntime:
    runtime = StationRuntime(
        csms_url=url, charge_box_id="CP 1/β", data_dir=tmp_path, settings=settings, config_overrides=overrides
    )
    await runtime.start()
    return runtime


def test_identity_is_one_percent_encoded_segment() -> None:
    assert station_url("ws://h:1/ocpp/", "RDAM 123") == "ws://h:1/ocpp/RDAM%20123"
    assert station_url("ws://h:1/ocpp", "a/b") == "ws://h:1/ocpp/a%2Fb"


async def test_connects_with_subprotocol_and_identity(
    tmp_path: Path, recorder: tuple[Recorder, Callable[..., Any]]
) -> None:
    rec, start = recorder
    server = await start(subprotocols=[OCPP16])
    runtime = await run_station(tmp_path, f"ws://127.0.0.1:{port_of(server)}/ocpp")
    try:
        async with asyncio.timeout(10):
            await rec.booted.wait()
        assert rec.paths == ["/ocpp/CP%201%2F%CE%B2"]
        assert rec.headers[0]["Sec-WebSocket-Protocol"] == "ocpp1.6"
        assert "Authorization" not in rec.headers[0]
    finally:
        await runtime.stop()


async def test_server_not_selecting_ocpp16_is_a_failed_connection(
    tmp_path: Path, recorder: tuple[Recorder, Callable[..., Any]]
) -> None:
    rec, start = recorder
    server = await start()  # offers no subprotocol at all
    runtime = await run_station(tmp_path, f"ws://127.0.0.1:{port_of(server)}")
    try:
        error = await runtime.wait_first_connection(10)
        assert error is not None and "did not select subprotocol ocpp1.6" in error
        assert rec.actions == []  # OCPP-J 1.6 §3.2: nothing is sent over such a connection
    finally:
        await runtime.stop()


async def test_basic_auth_uses_the_identity_and_password(
    tmp_path: Path, recorder: tuple[Recorder, Callable[..., Any]]
) -> None:
    rec, start = recorder
    server = await start(subprotocols=[OCPP16])
    settings = parse_settings({"network": {"basic_auth_password": "s3cret"}})
    runtime = await run_station(tmp_path, f"ws://127.0.0.1:{port_of(server)}", settings)
    try:
        async with asyncio.timeout(10):
            await rec.booted.wait()
        scheme, _, token = rec.headers[0]["Authorization"].partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(token).decode() == "CP 1/β:s3cret"
    finally:
        await runtime.stop()


async def test_wss_with_a_configured_trust_anchor(
    tmp_path: Path, recorder: tuple[Recorder, Callable[..., Any]]
) -> None:
    rec, start = recorder
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = await start(subprotocols=[OCPP16], ssl=server_context)
    settings = parse_settings({"network": {"ca_file": str(ca_file)}})
    runtime = await run_station(tmp_path, f"wss://127.0.0.1:{port_of(server)}", settings)
    try:
        async with asyncio.timeout(10):
            await rec.booted.wait()
        assert rec.actions[0] == "BootNotification"
    finally:
        await runtime.stop()


async def test_wss_refuses_an_untrusted_server(tmp_path: Path, recorder: tuple[Recorder, Callable[..., Any]]) -> None:
    rec, start = recorder
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)
    server = await start(subprotocols=[OCPP16], ssl=server_context)
    runtime = await run_station(tmp_path, f"wss://127.0.0.1:{port_of(server)}")
    try:
        error = await runtime.wait_first_connection(10)
        assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error
        assert rec.actions == []
    finally:
        await runtime.stop()
