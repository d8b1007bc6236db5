"""sd_notify against a real AF_UNIX datagram socket standing in for systemd's."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocpp_station.service.sd_notify import SdNotifier, watchdog_interval


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_ready_status_watchdog_stopping_arrive_as_datagrams(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    notifier = SdNotifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.ready("connected to the central system")
    assert notifier.watchdog()
    assert notifier.status("offline: reconnecting")
    assert notifier.stopping()
    got = [sock.recv(4096) for _ in range(4)]
    assert got == [
        b"READY=1\nSTATUS=connected to the central system",
        b"WATCHDOG=1",
        b"STATUS=offline: reconnecting",
        b"STOPPING=1",
    ]


def test_abstract_namespace_socket() -> None:
    name = f"ocpp-station-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert SdNotifier("@" + name).ready()
        assert sock.recv(4096) == b"READY=1"


def test_not_under_systemd_is_a_no_op() -> None:
    notifier = SdNotifier.from_environment({})
    assert not notifier.enabled and not notifier.ready()
    with pytest.raises(ValueError):
        SdNotifier("relative/path")


def test_a_vanished_socket_fails_softly(tmp_path: Path) -> None:
    assert not SdNotifier(str(tmp_path / "gone")).watchdog()


def test_watchdog_at_half_the_interval_for_this_process_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None


async def test_keep_watchdog_sends_until_cancelled(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    sock.setblocking(False)
    task = asyncio.create_task(SdNotifier(path).keep_watchdog(0.01))
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        got = [await loop.sock_recv(sock, 64) for _ in range(3)]
    task.cancel()
    assert got == [b"WATCHDOG=1"] * 3
