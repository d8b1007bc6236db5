"""`ocpp-station fleet` from the outside: bad input gets one line and exit 2; the report matches the CSMS."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocpp_station.cli import main
from ocpp_station.security.demo_pki import CertificateAuthority
from tests.support.fleet_csms import FleetCsms

URL = "ws://127.0.0.1:9/ocpp"


@pytest.mark.parametrize(
    ("extra", "scenario", "message"),
    [
        (["--count", "0"], None, "--count 0: a fleet needs at least one station"),
        (["--count", "5", "--trace-mib", "-1"], None, "--trace-mib -1: must be >= 0 (0 = no trace)"),
        (["--count", "5", "--ramp", "-3"], None, "--ramp -3: must be > 0"),
        (["--count", "12", "--id-pattern", "CP-{n!s:.1}"], None, "yields duplicate ids for 12 stations (e.g. CP-1)"),
        (["--count", "5", "--id-pattern", "CP"], None, "gives the same id for every station"),
        (["--count", "5"], "[sessions]\nbogus = 1\n", "unknown scenario key sessions.bogus"),
        (["--count", "5"], "[network]\nper_hour = -0.5\n", "network.per_hour = -0.5: must be a finite number >= 0"),
        (["--count", "5"], "[sessions]\nduration_s = [5, 1]\n", "sessions.duration_s = [5, 1]: need 0 <= low <= high"),
        (
            ["--count", "5", "--central-system-root", "/nonexistent/root.pem"],
            None,
            "--central-system-root /nonexistent/root.pem: not a readable PEM certificate",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    extra: list[str], scenario: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fleet", "--csms", URL, *extra]
    if scenario is not None:
        path = tmp_path / "scenario.toml"
        path.write_text(scenario)
        argv += ["--scenario", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_root_the_stations_refuse_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A readable certificate, but expired: the installation refuses it as InstallCertificate would (M05).
    expired = CertificateAuthority.new_root(
        "Old Root CA", "Old CPO", not_before=datetime.now(UTC) - timedelta(days=30), validity=timedelta(days=1)
    )
    root = tmp_path / "old-root.pem"
    root.write_text(expired.pem)
    assert main(["fleet", "--csms", URL, "--count", "3", "--central-system-root", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CentralSystemRootCertificate not installed" in err and "expired" in err
    assert "Traceback" not in err


def test_too_few_file_descriptors_are_foreseen(capsys: pytest.CaptureFixture[str]) -> None:
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200)); from ocpp_station.cli import main; "
        "raise SystemExit(main(['fleet', '--csms', 'ws://127.0.0.1:9/x', '--count', '1000']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "1000 stations need 1064 file descriptors but `ulimit -n` allows 200" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_csms_is_reported_not_a_traceback() -> None:
    argv = [sys.executable, "-m", "ocpp_station", "fleet", "--csms", URL, "--count", "3", "--quiet"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot reach the central system at ws://127.0.0.1:9/ocpp: ConnectionRefusedError" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_report_agrees_with_what_the_csms_counted(
    csms: FleetCsms, tmp_path: Path, fast_scenario: Path
) -> None:
    scenario = fast_scenario
    report = tmp_path / "report.json"
    argv = ["-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", "40", "--duration", "4"]
    argv += ["--scenario", str(scenario), "--report", str(report), "--quiet", "--processes", "2"]
    process = await asyncio.create_subprocess_exec(sys.executable, *argv, stdout=subprocess.PIPE)
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    document = json.loads(report.read_text())
    assert document["shards"] == 2
    assert document["stations"]["stations"] == 40
    sent = {action: row["sent"] for action, row in document["actions"].items()}
    assert sent == dict(csms.calls)
    assert sent["BootNotification"] == 40 and sent.get("StopTransaction", 0) > 0
    table = stdout.decode()
    assert "fleet report: 40 stations (2 shard(s))" in table
    assert f"BootNotification{40:>22}" in table


@pytest.mark.parametrize(("level", "logged"), [(None, False), ("info", True)])
async def test_the_stations_log_at_info_only_when_asked(
    csms: FleetCsms, fast_scenario: Path, level: str | None, logged: bool
) -> None:
    argv = ["-m", "ocpp_station", "fleet", "--csms", csms.url, "--count", "5", "--duration", "2", "--quiet"]
    argv += ["--scenario", str(fast_scenario)] + (["--log-level", level] if level else [])
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0
    # Each station's boot is a security event, logged at info (security whitepaper §8).
    assert ("CP-00001: security event StartupOfTheDevice" in stderr.decode()) is logged
