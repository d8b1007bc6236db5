"""Every failure a user can cause at the command line ends in one clear line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocpp_station.cli import main


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run_args(tmp_path: Path, csms_port: int, api_port: int = 0, *extra: str) -> list[str]:
    return [
        "run",
        "--csms",
        f"ws://127.0.0.1:{csms_port}/ocpp",
        "--id",
        "CP-CLI",
        "--data-dir",
        str(tmp_path / "data"),
        "--api",
        f"127.0.0.1:{api_port}",
        *extra,
    ]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("ocpp-station:")]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    return errors[0]


def test_unreachable_central_system(tmp_path: Path, closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, closed_port)) == 2
    line = one_error_line(capsys)
    assert "cannot reach the central system" in line and str(closed_port) in line


def test_busy_api_port(tmp_path: Path, closed_port: int, busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, closed_port, busy_port)) == 2
    assert f"127.0.0.1:{busy_port}" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[hardware\nconnectors = 2", "not valid TOML"),
        ("[hardware]\nconectors = 2", "unknown setting hardware.conectors"),
        ("[hardware]\nconnectors = 'two'", "hardware.connectors must be int"),
        ("[configuration]\nHeartbeatInterval = -5", "HeartbeatInterval"),
        ("[configuration]\nNoSuchKey = 1", "NoSuchKey"),
    ],
)
def test_bad_config_file(
    tmp_path: Path, closed_port: int, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    config = tmp_path / "station.toml"
    config.write_text(text)
    assert main([*run_args(tmp_path, closed_port), "--config", str(config)]) == 2
    assert expected in one_error_line(capsys)


def test_missing_config_file(tmp_path: Path, closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*run_args(tmp_path, closed_port), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in one_error_line(capsys)


def test_bad_csms_url_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ocpp_station", "run", "--csms", "http://x", "--id", "A"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "must start with ws:// or wss://" in done.stderr and "Traceback" not in done.stderr
