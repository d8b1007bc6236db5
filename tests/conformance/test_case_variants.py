"""Station variants a case declares (`TestCase.config_overrides`): the in-process bench builds them, a bench
that cannot configure its station makes the case "not applicable"; the harness's own FTP server."""

from __future__ import annotations

import ftplib
from pathlib import Path

from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.file_server import FtpFileServer
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import (
    InProcessStation,
    StationUnderTest,
    in_process_factory,
    with_config,
)

SETTINGS = HarnessSettings()


def test_cases_declare_their_station_variant() -> None:
    assert dict(REGISTRY["TC_049"].config_overrides) == {"ReserveConnectorZeroSupported": "true"}
    profiles = dict(REGISTRY["TC_048_4"].config_overrides)["SupportedFeatureProfiles"].split(",")
    assert "Reservation" not in profiles and "Core" in profiles
    assert REGISTRY["TC_046_1"].config_overrides == ()


def test_in_process_factory_builds_the_variant(tmp_path: Path) -> None:
    base = in_process_factory("CP", config_overrides={"HeartbeatInterval": "7"})
    variant = with_config(base, {"ReserveConnectorZeroSupported": "true"})
    assert variant is not None
    station = variant("ws://127.0.0.1:1", tmp_path)
    assert isinstance(station, InProcessStation)
    assert station.config_overrides == {"HeartbeatInterval": "7", "ReserveConnectorZeroSupported": "true"}
    assert with_config(base, {}) is base


async def test_a_bench_that_cannot_configure_its_station_is_not_applicable(tmp_path: Path) -> None:
    def fixed_bench(_url: str, _data_dir: Path) -> StationUnderTest:
        raise AssertionError("the bench must not be built for a variant it cannot make")

    result = await run_case(REGISTRY["TC_050_4"], settings=SETTINGS, station_factory=fixed_bench, data_root=tmp_path)
    assert result.outcome == "not applicable"
    assert "SupportedFeatureProfiles=" in result.reason


async def test_harness_ftp_server_serves_and_stops(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    server = FtpFileServer(tmp_path)
    server.start()
    try:
        with ftplib.FTP() as client:
            client.connect("127.0.0.1", server.port, timeout=5)
            client.login(server.user, server.password)
            chunks: list[bytes] = []
            client.retrbinary("RETR a.txt", chunks.append)
        assert b"".join(chunks) == b"hello"
        assert server.url("a.txt") == f"ftp://{server.user}:{server.password}@127.0.0.1:{server.port}/a.txt"
    finally:
        await server.stop()
    assert not server._thread.is_alive()
