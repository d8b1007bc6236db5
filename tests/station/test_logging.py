"""Logs: one line per event, text or JSON (`run --log-json`); a rotated OCPP trace file per station; and no
secret ever written: the AuthorizationKey, HTTP Basic credentials and passwords in URLs are masked in the
console log, the trace file and the diagnostics log alike."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

import pytest

from ocpp_station.cli import main
from ocpp_station.protocol.schemas import CP_TO_CS_ACTIONS
from ocpp_station.shell.logs import JsonFormatter, RedactingFilter, redact, station_trace_logger, trace_path
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.tools.harness.csms import ScriptedCsms
from ocpp_station.tools.harness.settings import HarnessSettings
from tests.support.link_bench import station_settings

KEY = "0123456789abcdef0123456789abcdef01234567"
BASIC_PASSWORD = "basic-Pa55word"
FTP_PASSWORD = "ftp-hunter2"
ANY = sorted(CP_TO_CS_ACTIONS)


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (
            '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"' + KEY + '"}]',
            '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"***"}]',
        ),
        ('{"value": "x\\"y", "key": "AuthorizationKey"}', '{"value": "***", "key": "AuthorizationKey"}'),
        ("> Authorization: Basic Q1AtMTpzZWNyZXQ=", "> Authorization: Basic ***"),
        ("download of ftp://u:p@ss@host:21/f.bin failed", "download of ftp://u:***@host:21/f.bin failed"),
        ('{"location":"ftps://bob:' + FTP_PASSWORD + '@10.0.0.1/x"}', '{"location":"ftps://bob:***@10.0.0.1/x"}'),
        ("connected to ws://cp:pw@h:1/CP-1", "connected to ws://cp:***@h:1/CP-1"),
        ("ws://127.0.0.1:9000/ocpp/CP-1", "ws://127.0.0.1:9000/ocpp/CP-1"),
        ("ftp://anonymous@host/dir", "ftp://anonymous@host/dir"),
    ],
)
def test_redact(text: str, clean: str) -> None:
    assert redact(text) == clean


def test_json_lines_are_one_object_per_event_even_with_a_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("ocpp_station.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%s: location %s refused", "CP-1", "ftp://u:secret@h/x")
        try:
            raise ValueError("ftp://u:secret@h/x")
        except ValueError:
            logger.exception("CP-1: boom")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "CP-1: location ftp://u:***@h/x refused"
    assert (first["level"], first["logger"], first["station"]) == ("WARNING", "ocpp_station.test-json", "CP-1")
    assert "ValueError" in second["exception"] and "secret" not in lines[1]


def test_the_trace_file_rotates(tmp_path: Path) -> None:
    trace = station_trace_logger(tmp_path, "CP/ROT", max_bytes=2000, backups=2)
    for n in range(100):
        trace.info("CP/ROT → [2,%s,%s,{}]", f'"{n}"', '"Heartbeat"')
    for handler in trace.handlers:
        handler.close()
    path = trace_path(tmp_path, "CP/ROT")
    assert path.name == "CP_ROT.trace.log"
    assert path.exists() and path.with_name(path.name + ".1").exists() and path.with_name(path.name + ".2").exists()
    assert not path.with_name(path.name + ".3").exists()
    assert all(p.stat().st_size <= 2100 for p in tmp_path.glob("CP_ROT.trace.log*"))


async def test_no_secret_reaches_the_console_the_trace_file_or_the_diagnostics_log(tmp_path: Path) -> None:
    console = io.StringIO()
    handler = logging.StreamHandler(console)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # websockets logs the handshake headers at DEBUG
    csms = ScriptedCsms(HarnessSettings(charge_box_id="CP-SECRET"))
    await csms.start()
    trace = station_trace_logger(tmp_path, "CP-SECRET")
    runtime = StationRuntime(
        csms_url=csms.url,
        charge_box_id="CP-SECRET",
        data_dir=tmp_path,
        settings=station_settings(basic_auth_password=BASIC_PASSWORD),
        trace=trace,
    )
    try:
        await runtime.start()
        await csms.expect("BootNotification")
        reply = await csms.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY})
        assert reply == {"status": "Accepted"}
        await csms.call(
            "UpdateFirmware",
            {
                "location": f"ftp://fw:{FTP_PASSWORD}@127.0.0.1:1/fw.bin",
                "retrieveDate": "2020-01-01T00:00:00Z",
                "retries": 0,
            },
        )
        await csms.expect("FirmwareStatusNotification", {"status": "DownloadFailed"}, timeout=15, tolerate=ANY)
        await csms.call("GetDiagnostics", {"location": f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:1/up/", "retries": 0})
        await csms.expect("DiagnosticsStatusNotification", {"status": "UploadFailed"}, timeout=15, tolerate=ANY)
    finally:
        await runtime.stop()
        await csms.stop()
        root.removeHandler(handler)
        root.setLevel(old_level)
        for trace_handler in trace.handlers:
            trace_handler.close()
    written = {
        "console": console.getvalue(),
        "trace file": trace_path(tmp_path, "CP-SECRET").read_text(encoding="utf-8"),
        "diagnostics log": "\n".join(e.text for e in runtime.file_jobs.station_log.entries()),
    }
    assert "ChangeConfiguration" in written["trace file"] and "fw:***@127.0.0.1" in written["trace file"]
    assert "Authorization: Basic ***" in written["console"]
    for where, text in written.items():
        for secret in (KEY, BASIC_PASSWORD, FTP_PASSWORD):
            assert secret not in text, f"{secret} in the {where}"
    # Frames go to the trace file, not the console.
    assert "BootNotification" not in written["console"]


def test_run_log_json_writes_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = ["run", "--csms", f"ws://u:pw@127.0.0.1:{port}/ocpp", "--id", "CP-JSON"]
    assert main([*args, "--data-dir", str(tmp_path), "--api", "127.0.0.1:0", "--log-json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    events = [json.loads(line) for line in err if line.startswith("{")]
    assert events and all({"time", "level", "logger", "message"} <= set(e) for e in events)
    assert any(e.get("station") == "CP-JSON" for e in events)
    assert all("pw@" not in line for line in err if line.startswith("{"))
    assert trace_path(tmp_path, "CP-JSON").exists()
