"""`run --api` beyond loopback: refused in one line without a token, from the option or the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpp_station.cli import main
from ocpp_station.settings import parse_settings


def test_run_beyond_loopback_without_a_token_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--csms", "ws://127.0.0.1:9/ocpp", "--id", "CP", "--data-dir", str(tmp_path), "--api", "0.0.0.0:0"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ocpp-station: control API: cannot listen on 0.0.0.0:0")
    assert "needs an API token" in error and "\n" not in error


def test_the_token_can_come_from_the_settings() -> None:
    assert parse_settings({"network": {"api_token": "abc"}}).network.api_token == "abc"
    assert parse_settings({}).network.api_token is None
