"""The fuzz session: a real station (StationRuntime, in this process) against `FuzzCsms`, a central system
that sends it bursts of generated frames and checks every answer.

Properties checked after each burst:

- every CALL the station could read gets exactly one answer, in order: a CallResult valid against the
  action's Response schema, or a CallError with the code the violation calls for (1.6 wire spellings);
  frames that cannot be answered (no readable id, stray responses, unknown MessageTypeIds) get none;
- the station keeps answering: a GetConfiguration probe after each burst is answered, and the station does
  not drop the connection (only an accepted Reset may restart it);
- nothing is logged at ERROR or above (a handler that raised, an own response that failed its schema);
- the station's requests are schema-valid;
- the store stays consistent: PRAGMA integrity_check is ok, the transaction message queue is in order,
  and the in-memory queues stay bounded.

The asyncio side (station + central system) runs in a thread of its own; hypothesis draws the bursts in the
calling thread, so the same code serves the test suite (short, seeded) and `python -m ocpp_station.fuzz`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_station.clock import iso_utc
from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import dumps
from ocpp_station.settings import parse_settings
from ocpp_station.shell.file_transfer import TransferError
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.stores.sqlite import SqliteStore
from ocpp_station.tools.fuzz.strategies import ID, LONG_ID, RESULT, FrameSpec

log = logging.getLogger("ocpp_station.fuzz")
CHARGE_BOX_ID = "FUZZ-CP"
PROBE_TIMEOUT_S = 10.0
BURST_TIMEOUT_S = 60.0
# In-memory queues of the station that must stay bounded whatever the central system sends.
QUEUE_BOUND = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # crash | wrong answer | no answer | extra answer | out of order | stopped answering | ...
    label: str
    detail: str
    frame: str = ""

    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.label, self.detail[:80])


@dataclass(slots=True)
class Report:
    frames: int = 0
    bursts: int = 0
    restarts: int = 0
    seconds: float = 0.0
    labels: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    generator_issues: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def distinct_findings(self) -> list[tuple[Finding, int]]:
        counts: Counter[tuple[str, str, str]] = Counter(f.key() for f in self.findings)
        first: dict[tuple[str, str, str], Finding] = {}
        for f in self.findings:
            first.setdefault(f.key(), f)
        return [(first[k], n) for k, n in counts.most_common()]

    def summary(self) -> str:
        lines = [
            f"{self.frames} frames in {self.bursts} bursts, {self.seconds:.1f} s:"
            f" {self.frames_per_second:.0f} frames/s; station restarts (accepted Reset): {self.restarts}",
            f"findings: {len(self.findings)} ({len(self.distinct_findings())} distinct)",
        ]
        for finding, count in self.distinct_findings():
            lines.append(f"  [{count}x] {finding.kind}: {finding.label}: {finding.detail}")
            if finding.frame:
                lines.append(f"         frame: {finding.frame[:300]}")
        if self.generator_issues:
            lines.append(f"generator issues (not station findings): {len(self.generator_issues)}")
            lines += [f"  {issue}" for issue in self.generator_issues[:10]]
        return "\n".join(lines)


class _FailingTransfers:
    """File transfers that fail at once: fuzzed UpdateFirmware / GetDiagnostics reach no network."""

    async def download(self, url: str, dest: Path) -> None:
        raise TransferError("the fuzz bench has no network")

    async def upload(self, url: str, file: Path) -> None:
        raise TransferError("the fuzz bench has no network")


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        self.records.append(text)


@dataclass(slots=True)
class _Answer:
    unique_id: Any
    kind: int
    payload: Any
    code: Any


class FuzzCsms:
    """The central system side: answers the station's requests, collects its answers to ours."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self.ws: ServerConnection | None = None
        self.connections = 0
        self.closed_connections = 0
        self.boots = 0
        self.answers: list[_Answer] = []
        self.invalid_requests: list[str] = []
        self.changed = asyncio.Event()
        self._transaction_ids = itertools.count(1)

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")], max_size=None, ping_interval=None
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _handle(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connections += 1
        self._notify()
        try:
            async for message in ws:
                self._on_frame(ws, message)
        except ConnectionClosed:
            pass
        finally:
            self.closed_connections += 1
            if self.ws is ws:
                self.ws = None
            self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def _on_frame(self, ws: ServerConnection, message: str | bytes) -> None:
        import json

        try:
            frame = json.loads(message)
        except ValueError:
            self.invalid_requests.append(f"station sent a frame that is not JSON: {message!r:.200}")
            return
        if not isinstance(frame, list) or len(frame) < 3:
            self.invalid_requests.append(f"station sent a malformed frame: {message!r:.200}")
            return
        if frame[0] == 2:
            action, payload = frame[2], frame[3]
            try:
                schemas.validate_request(action, payload)
            except (schemas.SchemaViolation, FileNotFoundError) as exc:
                self.invalid_requests.append(f"station's {action} is invalid: {exc}")
            reply = self._reply(action, payload)
            task = asyncio.ensure_future(ws.send(dumps([3, frame[1], reply])))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
            self._notify()
            return
        code = frame[2] if frame[0] == 4 else None
        self.answers.append(_Answer(frame[1], frame[0], frame[2] if frame[0] == 3 else None, code))
        self._notify()

    def _reply(self, action: str, payload: Any) -> dict[str, Any]:
        now = iso_utc(time.time())
        if action == "BootNotification":
            self.boots += 1
            return {"status": "Accepted", "currentTime": now, "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action in ("Authorize",):
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            return {"idTagInfo": {"status": "Accepted"}, "transactionId": next(self._transaction_ids)}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        return {}

    async def wait(self, check: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # Frames wake us; a short poll covers what changes without a frame (the station's own state).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self.changed.wait()
        return True


class FuzzSession:
    """A station and a FuzzCsms on an event loop in a background thread."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            base = "/dev/shm" if Path("/dev/shm").is_dir() else None  # fsync-heavy store: keep it in RAM
            self._tmp = tempfile.TemporaryDirectory(prefix="ocpp-fuzz-", dir=base)
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.csms = FuzzCsms()
        self.runtime: StationRuntime | None = None
        self.errors = _ErrorCounter()
        self._ids = itertools.count(1)
        self._expected_restart = False

    # -- lifecycle (called from the hypothesis thread) ---------------------------------------------------
    def __enter__(self) -> FuzzSession:
        self._thread.start()
        logging.getLogger("ocpp_station").addHandler(self.errors)
        logging.getLogger("asyncio").addHandler(self.errors)  # "Task exception was never retrieved"
        self._run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._stop())
        finally:
            logging.getLogger("ocpp_station").removeHandler(self.errors)
            logging.getLogger("asyncio").removeHandler(self.errors)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
            if self._tmp is not None:
                self._tmp.cleanup()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _start(self) -> None:
        await self.csms.start()
        settings = parse_settings({"network": {"reconnect_min_s": 0.05, "reconnect_max_s": 0.5}})
        self.runtime = StationRuntime(
            csms_url=self.csms.url,
            charge_box_id=CHARGE_BOX_ID,
            data_dir=self.data_dir,
            settings=settings,
            transfers=_FailingTransfers(),
            config_overrides={"WebSocketPingInterval": "0", "HeartbeatInterval": "300"},
        )
        await self.runtime.start()
        if not await self.csms.wait(self._ready, 15):
            raise RuntimeError("the station did not connect and boot")

    async def _stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        await self.csms.stop()

    def _ready(self) -> bool:
        runtime = self.runtime
        return runtime is not None and self.csms.ws is not None and runtime._core is not None and runtime._core.online

    # -- one burst ---------------------------------------------------------------------------------------------
    def burst(self, specs: list[FrameSpec], report: Report) -> None:
        future = asyncio.run_coroutine_threadsafe(self._burst(specs, report), self.loop)
        try:
            future.result(timeout=BURST_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            frame = sys._current_frames().get(self._thread.ident or 0)
            where = "".join(traceback.format_stack(frame)[-6:]) if frame is not None else "?"
            labels = ", ".join(s.label for s in specs)
            report.findings.append(Finding("hung", "burst", f"no progress in {BURST_TIMEOUT_S} s: {labels}", where))

    def _render(self, spec: FrameSpec) -> tuple[str | bytes, str | None]:
        """The frame to send and the id an answer must carry (None: no answer)."""
        number = next(self._ids)
        unique_id = f"fz{number}"
        if spec.raw is not None:
            raw = spec.raw
            if isinstance(raw, str) and ID in raw:
                raw = raw.replace(ID, unique_id)
                return raw, unique_id if spec.expected is not None else None
            return raw, None
        frame = spec.frame
        if isinstance(frame, list) and len(frame) > 1 and frame[1] in (ID, LONG_ID):
            if frame[1] == LONG_ID:
                unique_id = f"long-{number:0>40}"
            frame = [frame[0], unique_id, *frame[2:]]
        text = dumps(frame)
        if spec.binary:
            return text.encode("utf-8"), unique_id if spec.expected is not None else None
        return text, unique_id if spec.expected is not None else None

    def _generator_check(self, spec: FrameSpec, report: Report) -> bool:
        """A valid-tier payload must be valid and an invalid one must fail as intended (else: a fuzzer bug)."""
        frame = spec.frame
        if spec.action is None or not isinstance(frame, list) or len(frame) != 4 or spec.binary:
            return True
        try:
            schemas.validate_request(spec.action, frame[3])
        except schemas.SchemaViolation as exc:
            report.generator_issues.append(f"{spec.label}: generated payload invalid: {exc.description}")
            return False
        return True

    async def _burst(self, specs: list[FrameSpec], report: Report) -> None:
        runtime = self.runtime
        assert runtime is not None
        if not self._ready() and not await self.csms.wait(self._ready, 15):
            report.findings.append(Finding("stopped answering", "reconnect", "the station did not come back"))
            return
        ws = self.csms.ws
        assert ws is not None
        connections_before = self.csms.connections
        boots_before = self.csms.boots
        errors_before = len(self.errors.records)
        invalid_before = len(self.csms.invalid_requests)
        answers_start = len(self.csms.answers)
        sent: list[tuple[FrameSpec, str | None, str]] = []
        try:
            for spec in specs:
                if not self._generator_check(spec, report):
                    continue
                data, unique_id = self._render(spec)
                await ws.send(data)
                shown = data if isinstance(data, str) else repr(data)
                sent.append((spec, unique_id, shown[:400]))
                report.labels[spec.label.split(" (")[0]] += 1
        except ConnectionClosed:
            pass  # e.g. a Reset earlier in this burst was accepted: checked below
        report.frames += len(sent)
        report.bursts += 1
        probe_id = f"probe-{next(self._ids)}"
        answered = await self._probe(probe_id, answers_start)
        restarted = False
        answers = self.csms.answers[answers_start:]
        if self._check_answers(sent, answers, report):
            # An accepted Reset: the station must come back and boot again (OCPP 1.6 §5.14).
            if not await self.csms.wait(lambda: self.csms.boots > boots_before and self._ready(), 15):
                report.findings.append(Finding("stopped answering", "Reset", "no BootNotification after a Reset"))
            restarted = True
            report.restarts += 1
        if not answered:
            report.findings.append(
                Finding("stopped answering", "probe", f"no answer to GetConfiguration within {PROBE_TIMEOUT_S} s")
            )
        if self.csms.connections > connections_before and not restarted:
            report.findings.append(Finding("dropped the connection", "link", "reconnected without an accepted Reset"))
        for text in self.errors.records[errors_before:]:
            report.findings.append(Finding("crash", "logged error", text[:300], sent[-1][2] if sent else ""))
        for text in self.csms.invalid_requests[invalid_before:]:
            report.findings.append(Finding("invalid station request", "request", text))
        self._check_store(report)

    async def _probe(self, probe_id: str, answers_start: int) -> bool:
        deadline = asyncio.get_running_loop().time() + PROBE_TIMEOUT_S
        while True:
            if not self._ready():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or not await self.csms.wait(self._ready, remaining):
                    return False
            ws = self.csms.ws
            assert ws is not None
            with contextlib.suppress(ConnectionClosed):
                await ws.send(dumps([2, probe_id, "GetConfiguration", {"key": ["HeartbeatInterval"]}]))
            remaining = deadline - asyncio.get_running_loop().time()

            def probed(sent_on: ServerConnection = ws) -> bool:
                answers = self.csms.answers[answers_start:]
                return any(a.unique_id == probe_id for a in answers) or self.csms.ws is not sent_on

            if await self.csms.wait(probed, max(0.0, remaining)) and any(
                a.unique_id == probe_id for a in self.csms.answers[answers_start:]
            ):
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False

    def _check_answers(
        self, sent: list[tuple[FrameSpec, str | None, str]], answers: list[_Answer], report: Report
    ) -> bool:
        """Check the answers of one burst; True if a Reset was accepted (the station restarts)."""
        by_id: dict[Any, list[_Answer]] = {}
        order: list[Any] = []
        for answer in answers:
            key = answer.unique_id if isinstance(answer.unique_id, str) else repr(answer.unique_id)
            by_id.setdefault(key, []).append(answer)
            order.append(key)
        expected_order: list[str] = []
        reset_accepted = False
        for spec, unique_id, shown in sent:
            if reset_accepted:
                # The station restarts after an accepted Reset: later frames may or may not be answered.
                by_id.pop(unique_id, None)
                continue
            if unique_id is None:
                # Frames that cannot be answered; fixed ids of raw frames must get no answer either.
                continue
            got = by_id.pop(unique_id, [])
            if not got:
                report.findings.append(
                    Finding("no answer", spec.label, f"expected {sorted(spec.expected or ())}", shown)
                )
                continue
            expected_order.append(unique_id)
            if len(got) > 1:
                report.findings.append(Finding("extra answer", spec.label, f"{len(got)} answers", shown))
            answer = got[0]
            allowed = spec.expected or frozenset()
            if answer.kind == 3:
                if RESULT not in allowed:
                    report.findings.append(
                        Finding("wrong answer", spec.label, f"CallResult, expected {sorted(allowed)}", shown)
                    )
                elif spec.action is not None:
                    try:
                        schemas.validate_response(spec.action, answer.payload)
                    except schemas.SchemaViolation as exc:
                        report.findings.append(
                            Finding("wrong answer", spec.label, f"invalid CallResult: {exc.description}", shown)
                        )
                    if spec.action == "Reset" and isinstance(answer.payload, dict):
                        reset_accepted = answer.payload.get("status") == "Accepted"
            elif answer.code not in allowed:
                report.findings.append(
                    Finding("wrong answer", spec.label, f"CallError {answer.code}, expected {sorted(allowed)}", shown)
                )
        for key, extra in by_id.items():
            if isinstance(key, str) and key.startswith("probe-"):
                continue
            report.findings.append(Finding("extra answer", "unexpected id", f"{len(extra)} answer(s) to {key!r:.60}"))
        got_order = [k for k in order if k in set(expected_order)]
        if got_order != expected_order[: len(got_order)]:
            report.findings.append(Finding("out of order", "answers", "answers came in another order than the calls"))
        return reset_accepted

    def _check_store(self, report: Report) -> None:
        runtime = self.runtime
        core = None if runtime is None else runtime._core
        if core is None or runtime is None or runtime._store is None:
            return
        store = core.store
        with contextlib.suppress(Exception):
            assert isinstance(runtime._store, SqliteStore)
            verdict = runtime._store.integrity_check()
            if verdict != "ok":
                report.findings.append(Finding("store", "integrity_check", verdict))
        queue = store.queue_messages()
        if [m.seq for m in queue] != sorted(m.seq for m in queue):
            report.findings.append(Finding("store", "queue", "transaction message queue out of order"))
        per_tx: dict[int | None, str] = {}
        for message in queue:
            stamp = str(message.payload.get("timestamp") or message.payload.get("meterValue", [{}])[0].get("timestamp"))
            if message.local_tx is not None and stamp < per_tx.get(message.local_tx, ""):
                report.findings.append(Finding("store", "queue", f"{message.action} older than what precedes it"))
            if message.local_tx is not None:
                per_tx[message.local_tx] = stamp
        sizes = {
            "outbox": len(core._outbox),
            "status queue": len(core._status_queue),
            "triggered while pending": len(core.remote_trigger._while_pending),
        }
        for name, size in sizes.items():
            if size > QUEUE_BOUND:
                report.findings.append(Finding("unbounded queue", name, f"{size} entries"))


def run_fuzz(
    frames: int,
    *,
    seed: int = 0,
    burst: int = 24,
    progress: Callable[[Report], None] | None = None,
    data_dir: Path | None = None,
) -> Report:
    """Send at least `frames` generated frames; returns the report (findings are collected, not raised)."""
    # hypothesis is a dev dependency: the fuzzer is a tool, and importing this module must not require it.
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from ocpp_station.tools.fuzz.strategies import frames as frame_strategy

    report = Report()
    started = time.monotonic()
    per_round = 50
    with FuzzSession(data_dir) as session:
        for round_no in itertools.count():
            if report.frames >= frames:
                break

            @hypothesis_seed(seed * 1_000_003 + round_no)
            @settings(
                max_examples=per_round,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=False,
            )
            @given(st.lists(frame_strategy(), min_size=1, max_size=burst))
            def one_burst(specs: list[FrameSpec]) -> None:
                if report.frames < frames:
                    session.burst(specs, report)

            one_burst()
            report.seconds = time.monotonic() - started
            if progress is not None:
                progress(report)
    report.seconds = time.monotonic() - started
    return report
