"""The demo: an embedded central system on loopback and one station against it.

The central system is deliberately small: it accepts the station, answers every request the happy
way (any idTag is Accepted except ones starting with "BAD", which are Invalid, so both paths can be
tried by hand), numbers transactions, and lets a user send calls with the control API's help.

`--security-profile N` (security whitepaper §2): 1 HTTP Basic with an AuthorizationKey over ws://; 2 TLS with the
server certificate of a demo PKI (made in `<data dir>/pki`, as `ocpp-station pki init` does) plus Basic; 3 mutual
TLS, the station enrolled with a certificate the demo CPO root signed. The PKI and the enrolment happen once; a
kept `--data-dir` reuses them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, CallResult, FrameError, IgnoredFrame, encode, parse_frame
from ocpp_station.security.demo_pki import DemoPki, init_demo_pki, load_authority
from ocpp_station.security.tls import server_context
from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.provisioning import enrol, install_roots, key_store
from ocpp_station.shell.runtime import StationRuntime

log = logging.getLogger("ocpp_station.demo")


class DemoCentralSystem:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server: Server | None = None
        self._transaction_ids = itertools.count(1)
        self.ssl_context = ssl_context

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await serve(
            self._handle, host, port, subprotocols=[Subprotocol("ocpp1.6")], ssl=self.ssl_context
        )

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"{'wss' if self.ssl_context is not None else 'ws'}://{host}:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        async for text in ws:
            try:
                message = parse_frame(text)
            except (FrameError, IgnoredFrame):
                continue
            if isinstance(message, Call):
                await ws.send(encode(CallResult(message.unique_id, self.answer(message.action, message.payload))))

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = iso_utc(time.time())
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": 60}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action in ("Authorize", "StartTransaction"):
            status = "Invalid" if str(payload.get("idTag", "")).upper().startswith("BAD") else "Accepted"
            result: dict[str, Any] = {"idTagInfo": {"status": status}}
            if action == "StartTransaction":
                result["transactionId"] = next(self._transaction_ids)
            return result
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        if action == "SignCertificate":
            return {"status": "Rejected"}  # this small central system has no CA behind it
        return {}


def _readable(record: logging.LogRecord) -> str:
    text = record.getMessage()
    station, arrow, frame = text.partition(" → ") if " → " in text else text.partition(" ← ")
    try:
        parsed = json.loads(frame)
    except ValueError:
        return text
    kind = {2: "CALL", 3: "RESULT", 4: "ERROR"}.get(parsed[0], "?")
    what = parsed[2] if parsed[0] == 2 else ""
    body = json.dumps(parsed[3] if parsed[0] == 2 else parsed[2] if parsed[0] == 3 else parsed[2:], ensure_ascii=False)
    return f"{station} {arrow.strip()} {kind:6} {what} {body}"


class _TraceFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{self.formatTime(record, '%H:%M:%S')} {_readable(record)}"


CHARGE_BOX_ID = "DEMO-CP-1"
CPO_NAME = "Demo CPO"


def prepare_security(workdir: Path, profile: int) -> tuple[ssl.SSLContext | None, dict[str, str]]:
    """The demo central system's TLS context and the station's configuration for `profile`; the first time,
    the demo PKI and what the station needs installed (§2.6.4: provisioning before the first boot)."""
    if profile == 0:
        return None, {}
    overrides = {"SecurityProfile": str(profile), "CpoName": CPO_NAME}
    if profile in (1, 2):
        overrides["AuthorizationKey"] = secrets.token_hex(20)  # A00.FR.205: 20 random bytes, hex
    if profile == 1:
        return None, overrides
    directory = workdir / "pki"
    pki = DemoPki(
        directory,
        *(
            directory / name
            for name in (
                "central_system_root.pem",
                "central_system_root.key",
                "central_system.pem",
                "central_system.key",
                "manufacturer_root.pem",
                "manufacturer_root.key",
                "firmware_signing.pem",
                "firmware_signing.key",
            )
        ),
    )
    if not pki.central_system_root.exists():
        pki = init_demo_pki(directory, cpo_name=CPO_NAME)
        root = pki.central_system_root.read_text(encoding="ascii")
        install_roots(
            workdir,
            CHARGE_BOX_ID,
            central_system_roots=[root],
            manufacturer_roots=[pki.manufacturer_root.read_text(encoding="ascii")],
        )
    if profile == 3 and key_store(workdir, CHARGE_BOX_ID).certificate_chain() is None:
        authority = load_authority(pki.central_system_root, pki.central_system_root_key)
        enrol(workdir, CHARGE_BOX_ID, authority, serial_number="SIM-0001", cpo_name=CPO_NAME)
    clients = [pki.central_system_root.read_text(encoding="ascii")] if profile == 3 else []
    return server_context(pki.central_system_certificate, pki.central_system_key, client_roots=clients), overrides


async def run_demo(
    api_host: str, api_port: int, data_dir: Path | None, api_token: str | None = None, security_profile: int = 0
) -> None:
    trace = logging.getLogger("ocpp_station.trace.demo")
    handler = logging.StreamHandler()
    handler.setFormatter(_TraceFormatter())
    trace.addHandler(handler)
    trace.propagate = False
    trace.setLevel(logging.INFO)
    # The OCPP trace is the demo's story; HTTP access and socket chatter would drown it.
    for noisy in ("aiohttp.access", "websockets.server", "websockets.client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    workdir = data_dir or Path(tempfile.mkdtemp(prefix="ocpp-station-demo-"))
    context, overrides = prepare_security(workdir, security_profile)
    central = DemoCentralSystem(context)
    await central.start()
    runtime = StationRuntime(
        csms_url=central.url, charge_box_id=CHARGE_BOX_ID, data_dir=workdir, trace=trace, config_overrides=overrides
    )
    directory = DictStationDirectory()
    api = ControlApi(directory, token=api_token)
    try:
        await api.start(api_host, api_port)
        api.telemetry.watch(runtime)
        await runtime.start()
        directory.add(runtime)
        base = api.base_url
        print(
            f"""
ocpp-station demo: station {CHARGE_BOX_ID} is connected to an embedded central system at {central.url}
  security     profile {security_profile}{f" (demo PKI in {workdir / 'pki'})" if security_profile >= 2 else ""}
  web panel    {base}/{f"?token={api_token}" if api_token else ""}
  data dir     {workdir}
  control API  {base}/api/state      (OpenAPI: {base}/api/openapi.json)

Try, in another terminal:
  curl -s {base}/api/state
  curl -s -X POST {base}/api/connectors/1/plug
  curl -s -X POST {base}/api/rfid -H 'Content-Type: application/json' -d '{{"idTag": "DEMO1234"}}'
  curl -s -X POST {base}/api/rfid -H 'Content-Type: application/json' -d '{{"idTag": "DEMO1234"}}'   # stops
  curl -s -X POST {base}/api/connectors/1/unplug
  curl -s -X POST {base}/api/network -H 'Content-Type: application/json' -d '{{"online": false}}'
(idTags starting with BAD are refused.) The OCPP traffic is logged below. Ctrl-C stops.
""",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await runtime.stop()
        await api.stop()
        await central.stop()
