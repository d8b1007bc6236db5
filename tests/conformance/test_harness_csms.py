"""The conformance harness tested on its own: a scripted fake station plays frames against ScriptedCsms
and proves that expectations pass and fail when they should, that schema violations are caught in
both directions, that calls and timeouts work, and that the runner and the report tables behave."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from ocpp_station.protocol.rpc import CallError
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase
from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.cases.configuration_keys import tc_040_1
from ocpp_station.tools.harness.csms import (
    NO_RESPONSE,
    CaseFailure,
    Expect,
    ProtocolViolation,
    ScriptedCsms,
    TimingRecord,
)
from ocpp_station.tools.harness.faultproxy import FaultProxy
from ocpp_station.tools.harness.report import (
    CaseResult,
    percentile,
    render_certificate,
    render_performance,
    write_junit,
)
from ocpp_station.tools.harness.runner import certify, matches, run_case, select_cases
from ocpp_station.tools.harness.settings import DETACHABLE, HarnessSettings
from ocpp_station.tools.harness.station_under_test import StationUnderTest
from tests.support.fleets import until

SETTINGS = HarnessSettings(message_timeout=2.0, response_timeout=2.0, connect_timeout=5.0, case_timeout=20.0)
CP = SETTINGS.charge_box_id

Answer = Callable[[str, dict[str, Any]], list[Any] | None]


def status(connector: int, value: str) -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": value}


class FakeStation:
    """A scripted Charge Point client: sends the frames a test dictates, answers the tool's calls with
    `answer(action, payload)` (a full reply frame without the id, e.g. [3, {...}]; None = no reply)."""

    def __init__(self, ws: ClientConnection, answer: Answer | None = None) -> None:
        self.ws = ws
        self.answer = answer
        self.replies: dict[str, asyncio.Future[list[Any]]] = {}
        self.calls: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._counter = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.ws:
                frame = json.loads(text)
                if frame[0] == 2:
                    await self.calls.put(frame)
                    reply = self.answer(frame[2], frame[3]) if self.answer else None
                    if reply is not None:
                        await self.ws.send(json.dumps([reply[0], frame[1], *reply[1:]]))
                elif frame[1] in self.replies:
                    self.replies.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a request and return the tool's reply frame."""
        self._counter += 1
        unique_id = f"cp-{self._counter}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.replies[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(future, 2.0)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def running_csms(settings: HarnessSettings = SETTINGS) -> AsyncIterator[ScriptedCsms]:
    csms = ScriptedCsms(settings)
    await csms.start()
    try:
        yield csms
    finally:
        await csms.stop()


@contextlib.asynccontextmanager
async def station(csms: ScriptedCsms, answer: Answer | None = None) -> AsyncIterator[FakeStation]:
    ws = await connect(csms.station_url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    fake = FakeStation(ws, answer)
    try:
        yield fake
    finally:
        await fake.close()


# --- connection handling ---------------------------------------------------------------------------------


async def test_accepts_the_charge_box_path_with_subprotocol() -> None:
    async with running_csms() as csms, station(csms) as cp:
        assert cp.ws.subprotocol == "ocpp1.6"
        assert await csms.wait_connected(timeout=1) == 1
        assert csms.connected


async def test_refuses_an_unknown_identity_with_404() -> None:
    async with running_csms() as csms:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{csms.url}/SOMEONE_ELSE", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        assert refused.value.response.status_code == HTTPStatus.NOT_FOUND
        assert not csms.violations


async def test_a_handshake_without_ocpp16_is_a_violation() -> None:
    async with running_csms() as csms:
        with pytest.raises(InvalidStatus):
            await connect(csms.station_url)
        assert any("subprotocol" in violation for violation in csms.violations)


async def test_refuse_connections_and_reconnect() -> None:
    async with running_csms() as csms:
        csms.refuse_connections(HTTPStatus.SERVICE_UNAVAILABLE)
        with pytest.raises(InvalidStatus) as refused:
            await connect(csms.station_url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        assert refused.value.response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        csms.refuse_connections(None)
        async with station(csms):
            assert await csms.wait_connected(timeout=1) == 1
            await csms.close_connection()
            await csms.wait_disconnected(timeout=1)
        async with station(csms):
            assert await csms.wait_connected(timeout=1, after=1) == 2


# --- default answers and frame log ---------------------------------------------------------------------


async def test_default_answers_are_schema_valid_and_recorded() -> None:
    async with running_csms() as csms, station(csms) as cp:
        boot = await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[2]["status"] == "Accepted"
        assert boot[2]["interval"] == SETTINGS.heartbeat_interval
        assert "currentTime" in (await cp.call("Heartbeat", {}))[2]
        assert (await cp.call("Authorize", {"idTag": SETTINGS.valid_id_tag.lower()}))[2] == {
            "idTagInfo": {"status": "Accepted"}
        }
        assert (await cp.call("Authorize", {"idTag": SETTINGS.invalid_id_tag}))[2]["idTagInfo"]["status"] == "Invalid"
        start = {"connectorId": 1, "idTag": SETTINGS.valid_id_tag, "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
        first = (await cp.call("StartTransaction", start))[2]["transactionId"]
        second = (await cp.call("StartTransaction", start))[2]["transactionId"]
        assert second > first
        stop = {"transactionId": first, "meterStop": 10, "timestamp": "2026-01-01T00:01:00Z", "idTag": "X"}
        assert (await cp.call("StopTransaction", stop))[2] == {"idTagInfo": {"status": "Invalid"}}
        assert (await cp.call("StatusNotification", status(1, "Available")))[2] == {}
        assert (await cp.call("DataTransfer", {"vendorId": "acme"}))[2]["status"] == "UnknownVendorId"
        call = await csms.expect("BootNotification")
        assert call.response_payload["status"] == "Accepted"
        assert call.responded_at is not None and call.responded_at >= call.received_at
        assert not csms.violations
        directions = [frame.direction for frame in csms.frames if frame.direction != "event"]
        assert directions.count("CP→CS") == directions.count("CS→CP") == 9
        assert "BootNotification" in csms.format_log()


async def test_respond_with_once_queue_then_persistent_then_default() -> None:
    async with running_csms() as csms, station(csms) as cp:
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        csms.respond_with(
            "BootNotification", {"status": "Rejected", "currentTime": "2026-01-01T00:00:00Z", "interval": 5}
        )
        csms.respond_with("BootNotification", lambda call: {"status": "Pending", "currentTime": "x", "interval": 1})
        assert (await cp.call("BootNotification", boot))[2]["status"] == "Rejected"
        assert (await cp.call("BootNotification", boot))[2]["status"] == "Pending"
        assert (await cp.call("BootNotification", boot))[2]["status"] == "Accepted"
        csms.respond_with("Heartbeat", CallError("", "InternalError", "down"), once=False)
        for _ in range(2):
            assert (await cp.call("Heartbeat", {}))[:3] == [
                4,
                (await csms.expect("Heartbeat", tolerate=("BootNotification",))).unique_id,
                "InternalError",
            ]
        csms.reset_responses("Heartbeat")
        assert (await cp.call("Heartbeat", {}))[0] == 3


async def test_no_response_lets_the_station_time_out() -> None:
    async with running_csms() as csms, station(csms) as cp:
        csms.respond_with("Heartbeat", NO_RESPONSE)
        with pytest.raises(TimeoutError):
            await cp.call("Heartbeat", {})
        assert (await csms.expect("Heartbeat")).response is None


# --- expectations ------------------------------------------------------------------------------------------


async def test_expect_returns_the_matching_call() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("StatusNotification", status(1, "Preparing"))
        call = await csms.expect("StatusNotification", {"connectorId": 1, "status": "Preparing"})
        assert call.payload["status"] == "Preparing"
        assert csms.last_status(1) == "Preparing"


async def test_expect_fails_at_once_on_an_unexpected_call() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("StatusNotification", status(1, "Available"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CaseFailure, match=r"unexpected StatusNotification.*status='Preparing'"):
            await csms.expect("StatusNotification", {"status": "Preparing"}, timeout=5)
        assert loop.time() - started < 1


async def test_a_predicate_that_cannot_apply_does_not_match() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("Heartbeat", {})
        with pytest.raises(CaseFailure, match="unexpected Heartbeat"):
            await csms.expect("Heartbeat", lambda p: p["missing"] == 1, tolerate=())


async def test_tolerated_calls_are_skipped_and_others_are_not() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("Heartbeat", {})
        await cp.call("StatusNotification", status(1, "Preparing"))
        await csms.expect("StatusNotification", {"status": "Preparing"})  # Heartbeat tolerated by default
        await cp.call("Heartbeat", {})
        await cp.call("StatusNotification", status(1, "Charging"))
        with pytest.raises(CaseFailure, match="unexpected Heartbeat"):
            await csms.expect("StatusNotification", {"status": "Charging"}, tolerate=())


async def test_tolerance_can_be_narrowed_by_payload() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("StatusNotification", status(2, "Available"))
        await cp.call("StatusNotification", status(1, "Preparing"))
        await csms.expect(
            "StatusNotification",
            {"connectorId": 1},
            tolerate=[Expect("StatusNotification", {"connectorId": 2})],
        )


async def test_expect_times_out() -> None:
    async with running_csms() as csms, station(csms):
        with pytest.raises(CaseFailure, match=r"timed out after 0.2 s waiting for Authorize.req \(idTag='A'\)"):
            await csms.expect("Authorize", {"idTag": "A"}, timeout=0.2)


@pytest.mark.parametrize("charging_first", [False, True])
async def test_expect_unordered_accepts_either_order(charging_first: bool) -> None:
    start = {"connectorId": 1, "idTag": "OCTT_VALID_1", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
    async with running_csms() as csms, station(csms) as cp:
        if charging_first:
            await cp.call("StatusNotification", status(1, "Charging"))
        await cp.call(
            "MeterValues",
            {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]},
        )
        await cp.call("StartTransaction", start)
        if not charging_first:
            await cp.call("StatusNotification", status(1, "Charging"))
        started, charging = await csms.expect_unordered(
            [Expect("StartTransaction"), Expect("StatusNotification", {"status": "Charging"})]
        )
        assert started.action == "StartTransaction"
        assert charging.payload["status"] == "Charging"


async def test_expect_unordered_still_rejects_strangers() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("StatusNotification", status(1, "Finishing"))
        with pytest.raises(CaseFailure, match=r"while waiting for StartTransaction\.req and StatusNotification\.req"):
            await csms.expect_unordered(
                [Expect("StartTransaction"), Expect("StatusNotification", {"status": "Charging"})]
            )


async def test_expect_nothing() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.call("StatusNotification", status(1, "Preparing"))
        await csms.expect_nothing("StartTransaction", 0.2)
        # The unrelated StatusNotification is still there for the next expectation.
        await csms.expect("StatusNotification", {"status": "Preparing"})

        async def start_soon() -> None:
            await cp.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"},
            )

        task = asyncio.create_task(start_soon())
        with pytest.raises(CaseFailure, match="StartTransaction was not expected"):
            await csms.expect_nothing("StartTransaction", 3)
        await task
        await csms.expect("StartTransaction")  # a failed expect_nothing leaves the call queued
        await cp.call("Heartbeat", {})
        await csms.expect_nothing(None, 0.1)  # tolerated
        await cp.call("StatusNotification", status(1, "Available"))
        with pytest.raises(CaseFailure, match="any request was not expected"):
            await csms.expect_nothing(None, 1)


# --- schema and framing violations -------------------------------------------------------------------------


async def test_an_invalid_station_request_is_answered_and_fails_the_case() -> None:
    async with running_csms() as csms, station(csms) as cp:
        reply = await cp.call("StatusNotification", {"connectorId": 1, "status": "Available"})  # no errorCode
        assert reply[0] == 4 and reply[2] == "ProtocolError"
        assert csms.violations and "StatusNotification.req violates the schema" in csms.violations[0]
        with pytest.raises(ProtocolViolation):
            await csms.expect("StatusNotification")


async def test_a_wrong_direction_action_is_a_violation() -> None:
    async with running_csms() as csms, station(csms) as cp:
        reply = await cp.call("Reset", {"type": "Hard"})
        assert reply[0] == 4 and reply[2] == "NotImplemented"
        assert "not a Charge Point request" in csms.violations[0]


async def test_malformed_frames_are_violations() -> None:
    async with running_csms() as csms, station(csms) as cp:
        await cp.ws.send("this is not json")
        await cp.ws.send(json.dumps([7, "x", "Heartbeat", {}]))
        await cp.ws.send(json.dumps([2, "a" * 40, "Heartbeat", {}]))
        with pytest.raises(ProtocolViolation, match="not valid JSON"):
            await csms.expect("Heartbeat", timeout=1)
        assert len(csms.violations) == 3
        assert "MessageTypeId" in csms.violations[1]
        assert "UniqueId longer than 36" in csms.violations[2]


async def test_our_own_invalid_messages_are_violations_too() -> None:
    async with running_csms() as csms, station(csms, lambda action, payload: [3, {"status": "Accepted"}]):
        await csms.wait_connected(timeout=1)
        await csms.call("ChangeConfiguration", {"key": "K"})  # "value" missing
        assert "the tool's own ChangeConfiguration.req is invalid" in csms.violations[0]
        csms.respond_with("Heartbeat", {"currentTime": 42})
    async with running_csms() as csms, station(csms) as cp:
        csms.respond_with("Heartbeat", {"currentTime": 42})
        await cp.call("Heartbeat", {})
        assert "the tool's own Heartbeat.conf is invalid" in csms.violations[0]


# --- calls to the station --------------------------------------------------------------------------------


async def test_call_returns_the_result_and_records_its_timing() -> None:
    def answer(action: str, payload: dict[str, Any]) -> list[Any]:
        return [3, {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "2"}]}]

    async with running_csms() as csms, station(csms, answer) as cp:
        await csms.wait_connected(timeout=1)
        reply = await csms.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert reply == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "2"}]}
        request = await cp.calls.get()
        assert request[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
        (timing,) = csms.timings
        assert timing.kind == "response" and timing.request == "GetConfiguration" and timing.seconds >= 0
        assert not csms.violations


async def test_call_returns_a_call_error_and_call_result_refuses_it() -> None:
    async with running_csms() as csms, station(csms, lambda a, p: [4, "NotSupported", "no", {}]):
        await csms.wait_connected(timeout=1)
        reply = await csms.call("ClearCache", {})
        assert isinstance(reply, CallError) and reply.code == "NotSupported"
        with pytest.raises(CaseFailure, match="answered with CallError NotSupported"):
            await csms.call_result("ClearCache", {})
        assert not csms.violations


async def test_a_2_0_1_error_code_is_a_violation() -> None:
    async with running_csms() as csms, station(csms, lambda a, p: [4, "FormatViolation", "", {}]):
        await csms.wait_connected(timeout=1)
        await csms.call("ClearCache", {})
        assert "FormatViolation" in csms.violations[0]


async def test_an_invalid_station_response_is_a_violation() -> None:
    async with running_csms() as csms, station(csms, lambda a, p: [3, {"configurationKey": [{"key": "K"}]}]):
        await csms.wait_connected(timeout=1)
        await csms.call("GetConfiguration", {})
        assert "GetConfiguration.conf violates the schema" in csms.violations[0]
        with pytest.raises(ProtocolViolation):
            csms.raise_if_violations()


async def test_call_times_out_and_needs_a_connection() -> None:
    async with running_csms() as csms:
        with pytest.raises(CaseFailure, match="not connected"):
            await csms.call("ClearCache", {})
        async with station(csms):
            await csms.wait_connected(timeout=1)
            with pytest.raises(CaseFailure, match=r"no response to ClearCache.req within 0.2 s"):
                await csms.call("ClearCache", {}, timeout=0.2)


async def test_a_disconnect_fails_the_pending_call() -> None:
    async with running_csms() as csms:
        async with station(csms) as cp:
            await csms.wait_connected(timeout=1)
            pending = asyncio.create_task(csms.call("ClearCache", {}, timeout=5))
            await cp.calls.get()
        with pytest.raises(CaseFailure, match="connection closed before the station answered ClearCache"):
            await pending


async def test_triggered_timing_is_recorded() -> None:
    async with running_csms() as csms, station(csms, lambda a, p: [3, {"status": "Accepted"}]) as cp:
        await csms.wait_connected(timeout=1)
        await csms.call("RemoteStartTransaction", {"idTag": "OCTT_VALID_1", "connectorId": 1})
        await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "OCTT_VALID_1", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"},
        )
        await csms.expect("StartTransaction", triggered_by="RemoteStartTransaction")
        triggered = [t for t in csms.timings if t.kind == "triggered"]
        assert [(t.request, t.result) for t in triggered] == [("RemoteStartTransaction", "StartTransaction")]


# --- runner and report --------------------------------------------------------------------------------------


class ScriptedBench:
    """A StationUnderTest for the runner tests: a FakeStation that boots like §1.3 wants, plus a control
    API that only serves GET /api/state."""

    def __init__(self, csms_url: str, answer: Answer) -> None:
        self.csms_url = csms_url
        self.answer = answer
        self.fake: FakeStation | None = None
        self.runner: web.AppRunner | None = None
        self.opened = self.closed = False
        self._port = 0

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def powered(self) -> bool:
        return self.fake is not None

    async def open(self) -> None:
        async def state(_request: web.Request) -> web.Response:
            return web.json_response({"connectors": [{"connectorId": 0}, {"connectorId": 1}]})

        app = web.Application()
        app.router.add_get("/api/state", state)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self._port = self.runner.addresses[0][1]
        self.opened = True

    async def power_on(self) -> None:
        ws = await connect(f"{self.csms_url}/{CP}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        self.fake = FakeStation(ws, self.answer)
        await self.fake.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        for connector in (0, 1):
            await self.fake.call("StatusNotification", status(connector, "Available"))

    async def power_off(self) -> None:
        fake, self.fake = self.fake, None
        if fake is not None:
            await fake.close()

    async def power_cut(self) -> None:
        await self.power_off()

    async def power_failure_with_backup(self) -> None:
        await self.power_off()

    async def close(self) -> None:
        await self.power_off()
        if self.runner is not None:
            await self.runner.cleanup()
        self.closed = True


def answering(change_status: str) -> Answer:
    def answer(action: str, payload: dict[str, Any]) -> list[Any]:
        if action == "GetConfiguration":
            return [3, {"configurationKey": [{"key": "MinimumStatusDuration", "readonly": False, "value": "0"}]}]
        return [3, {"status": change_status}]

    return answer


async def test_run_case_passes_fails_and_stops_everything(tmp_path: Path) -> None:
    benches: list[ScriptedBench] = []

    def factory_for(change_status: str) -> Callable[[str, Path], StationUnderTest]:
        def make(csms_url: str, data_dir: Path) -> StationUnderTest:
            assert data_dir.is_dir() and data_dir.parent == tmp_path
            bench = ScriptedBench(csms_url, answering(change_status))
            benches.append(bench)
            return bench

        return make

    case = REGISTRY["TC_040_1"]
    passed = await run_case(case, settings=SETTINGS, station_factory=factory_for("NotSupported"), data_root=tmp_path)
    assert passed.outcome == "pass", passed.describe()
    assert {t.request for t in passed.timings} == {"GetConfiguration", "ChangeConfiguration"}
    failed = await run_case(case, settings=SETTINGS, station_factory=factory_for("Rejected"), data_root=tmp_path)
    assert failed.outcome == "fail"
    assert "status is Rejected, expected NotSupported" in failed.reason
    assert "ChangeConfiguration" in failed.log and "frame log" in failed.describe()
    assert all(bench.opened and bench.closed and not bench.powered for bench in benches)
    assert list(tmp_path.iterdir()) == []  # data directories removed


async def test_run_case_reports_a_station_that_never_connects() -> None:
    class Silent(ScriptedBench):
        async def power_on(self) -> None:
            pass

    settings = HarnessSettings(connect_timeout=0.3)
    result = await run_case(
        REGISTRY["TC_040_1"], settings=settings, station_factory=lambda url, _d: Silent(url, answering("x"))
    )
    assert result.outcome == "fail"
    assert "waiting for BootNotification.req" in result.reason


async def test_run_case_skips_other_hardware_and_reports_errors() -> None:
    async def crash(ctx: CaseContext) -> None:
        raise RuntimeError("boom")

    fixed_only = TestCase("TC_X", "fixed only", CORE, "99 Test", "0", crash, hardware=("fixed-cable",), booted=False)
    detachable = HarnessSettings(hardware_variant=DETACHABLE)
    result = await run_case(
        fixed_only, settings=detachable, station_factory=lambda url, _d: ScriptedBench(url, answering("x"))
    )
    assert result.outcome == "not applicable"
    errored = await run_case(
        fixed_only, settings=SETTINGS, station_factory=lambda url, _d: ScriptedBench(url, answering("x"))
    )
    assert errored.outcome == "error" and "RuntimeError: boom" in errored.reason


async def test_case_functions_run_on_a_context() -> None:
    async def only_tc_040_1(ctx: CaseContext) -> None:
        await tc_040_1(ctx)

    case = TestCase("TC_Y", "wrapped", CORE, "99 Test", "0", only_tc_040_1)
    result = await run_case(
        case, settings=SETTINGS, station_factory=lambda url, _d: ScriptedBench(url, answering("NotSupported"))
    )
    assert result.passed, result.describe()


async def test_certify_prints_tables_and_writes_junit(tmp_path: Path) -> None:
    out = io.StringIO()
    junit = tmp_path / "junit.xml"
    code = await certify(
        "TC_040_1 or TC_040_2",
        junit,
        out,
        settings=SETTINGS,
        station_factory=lambda url, _d: ScriptedBench(url, answering("NotSupported")),
    )
    text = out.getvalue()
    assert code == 1  # TC_040_2 gets NotSupported where Rejected is required
    assert "| Core                       | Fail" in text
    assert "| Remote Trigger             | not run | 0      | 0      | 2       |" in text
    assert "OCPP response time" in text
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    assert (
        await certify(
            "TC_040_1",
            None,
            io.StringIO(),
            settings=SETTINGS,
            station_factory=lambda url, _d: ScriptedBench(url, answering("NotSupported")),
        )
        == 0
    )
    assert await certify("nothing_matches_this", None, io.StringIO()) == 5
    assert await certify("TC_001 and (", None, io.StringIO()) == 4


def test_selection_language() -> None:
    text = "TC_040_1 Configuration key - NotSupported Core 16 Configuration Keys"
    assert matches("TC_040", text)
    assert matches("tc_040_1 and core", text)
    assert not matches("not configuration", text)
    assert matches("TC_003 or (notsupported and not reservation)", text)
    with pytest.raises(ValueError):
        matches("and TC_040", text)
    assert [c.tool_id for c in select_cases("TC_040")] == ["TC_040_1", "TC_040_2"]
    assert [c.tool_id for c in select_cases("cold and boot and not pending")] == ["TC_001"]
    assert len(select_cases(None)) == len(REGISTRY)


def test_registry_is_immutable_and_in_document_order() -> None:
    assert {"TC_001", "TC_002", "TC_003", "TC_010", "TC_019", "TC_021", "TC_040_1", "TC_040_2"} <= set(REGISTRY)
    with pytest.raises(TypeError):
        REGISTRY["TC_999"] = REGISTRY["TC_001"]  # type: ignore[index]
    assert all(tool_id == case.tool_id for tool_id, case in REGISTRY.items())
    # Registry order is the order of the OCTT document's sections.
    sections = [tuple(int(part) for part in case.section.split(".")) for case in REGISTRY.values()]
    assert sections == sorted(sections)


def _result(tool_id: str, profile: str, outcome: str, timings: tuple[TimingRecord, ...] = ()) -> CaseResult:
    async def nothing(ctx: CaseContext) -> None:
        pass

    case = TestCase(tool_id, "t", profile, "m", "s", nothing)
    return CaseResult(case, outcome, "", 1.0, "log", timings)  # type: ignore[arg-type]


def test_certificate_pass_needs_every_case_of_the_profile() -> None:
    table = render_certificate([_result(f"T{i}", "Remote Trigger", "pass") for i in range(2)])
    row = next(line for line in table.splitlines() if "Remote Trigger" in line)
    assert [c.strip() for c in row.split("|")[2:-1]] == ["Pass", "2", "0", "0"]


def test_certificate_table() -> None:
    table = render_certificate(
        [
            _result("A", "Core", "pass"),
            _result("B", "Core", "pass"),
            _result("C", "Reservation", "fail"),
            _result("D", "Smart Charging", "not applicable"),
        ]
    )
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:]}
    assert rows["Core"] == ["Incomplete", "2", "0", "49"]  # Pass needs every case of the profile
    assert rows["Reservation"] == ["Fail", "0", "1", "15"]
    assert rows["Smart Charging"] == ["not run", "0", "0", "10"]
    assert list(rows) == [
        "Core",
        "Firmware Management",
        "Smart Charging",
        "Reservation",
        "Local Auth List Management",
        "Remote Trigger",
        "Security",
    ]
    assert rows["Security"] == ["not run", "0", "0", "15"]  # TC_073–TC_087 of §2.24


def test_performance_table_and_percentiles() -> None:
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    assert percentile([2.0], 0.99) == 2.0
    timings = (
        TimingRecord("triggered", "RemoteStartTransaction", "StartTransaction", 4.0),
        TimingRecord("triggered", "RemoteStartTransaction", "StatusNotification", 0.5),
        TimingRecord("response", "GetConfiguration", "CallResult", 0.1),
        TimingRecord("response", "ClearCache", "CallError", 0.3),
        TimingRecord("response", "RemoteStartTransaction", "CallResult", 3.5),
    )
    table = render_performance([_result("A", "Core", "pass", timings)], SETTINGS)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:]}
    # request sent → its CallResult, not → the StartTransaction.req (a triggered-function time)
    assert rows["Response time for RemoteStartTransaction"] == ["3 s", "1", "3.500 s", "3.500 s", "Fail"]
    assert rows["OCPP response time"] == ["15 s", "3", "300.00 ms", "3.500 s", "Pass"]
    assert rows["OCPP triggered-function time"] == ["40 s", "2", "500.00 ms", "4.000 s", "Pass"]
    empty = render_performance([], SETTINGS)
    assert empty.count("no data") == 3


def test_junit_marks_failures_errors_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "junit.xml"
    write_junit(
        [
            _result("A", "Core", "pass"),
            _result("B", "Core", "fail"),
            _result("C", "Core", "error"),
            _result("D", "Core", "not applicable"),
        ],
        path,
    )
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4",
        "1",
        "1",
        "1",
    )
    kinds = [[child.tag for child in case] for case in suite.findall("testcase")]
    assert kinds == [[], ["failure"], ["error"], ["skipped"]]


async def test_a_new_connection_replaces_the_old_one() -> None:
    async with running_csms() as csms, station(csms) as first:
        await csms.wait_connected(timeout=1)
        async with station(csms) as second:
            assert await csms.wait_connected(timeout=1, after=1) == 2
            await asyncio.wait_for(first.ws.wait_closed(), 2)
            await second.call("Heartbeat", {})
            assert (await csms.expect("Heartbeat")).connection == 2


async def test_the_proxy_routes_tls_and_plain_connections_by_their_first_byte() -> None:
    """The harness's one port for ws:// and wss:// (TC_083 from profile 1): a connection opening with a TLS
    record (content type 22) reaches the TLS server, any other the plain one; both ways carry the bytes."""
    seen: dict[str, list[bytes]] = {"plain": [], "tls": []}

    def server(name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read(100)
            seen[name].append(data)
            writer.write(name.encode())
            await writer.drain()
            writer.close()

        return serve

    plain = await asyncio.start_server(server("plain"), "127.0.0.1", 0)
    tls = await asyncio.start_server(server("tls"), "127.0.0.1", 0)
    proxy = FaultProxy("127.0.0.1", plain.sockets[0].getsockname()[1], tls_target_port=tls.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        answers = []
        for opening in (b"\x16\x03\x01\x00\x05hello", b"GET /ocpp/CP HTTP/1.1\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(opening)
            answers.append(await reader.read(100))
            writer.close()
        assert answers == [b"tls", b"plain"]
        assert seen == {"tls": [b"\x16\x03\x01\x00\x05hello"], "plain": [b"GET /ocpp/CP HTTP/1.1\r\n"]}
    finally:
        await proxy.stop()
        plain.close()
        tls.close()


async def test_stopping_the_routing_proxy_drops_a_connection_that_sent_nothing_yet() -> None:
    plain = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    proxy = FaultProxy("127.0.0.1", plain.sockets[0].getsockname()[1], tls_target_port=1)
    await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        await until(lambda: bool(proxy.accepted_at))
        await proxy.stop()  # must not wait for the first bytes
        async with asyncio.timeout(5):
            try:
                left = await reader.read(10)
            except ConnectionResetError:
                left = b""  # reset, as the proxy's stop aborts what it holds
        assert left == b""
        writer.close()
    finally:
        plain.close()
