"""`ocpp-station run` as systemd runs it: a real subprocess, a real NOTIFY_SOCKET datagram socket, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ocpp_station.tools.modbus_meter_server import free_port
from tests.support.fake_csms import FakeCsms


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket; each datagram is one notification."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="sdn")  # short: an AF_UNIX path has at most 107 bytes
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.setblocking(False)
        self.received: list[str] = []

    async def until(self, line: str, timeout: float = 20.0) -> list[str]:
        """Every notification up to and including the first with `line` in it."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not any(line in message.splitlines() for message in self.received):
                self.received.append((await loop.sock_recv(self._sock, 4096)).decode())
        return list(self.received)

    def close(self) -> None:
        self._sock.close()
        os.unlink(self.path)
        os.rmdir(self._dir)


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    server = FakeCsms()
    await server.start()
    yield server
    await server.stop()


async def start_station(csms: FakeCsms, data_dir: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    args = ["-m", "ocpp_station", "run", "--csms", csms.url, "--id", "CP-SVC", "--data-dir", str(data_dir)]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        "--api",
        f"127.0.0.1:{free_port()}",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_station(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def boots(csms: FakeCsms) -> int:
    return sum(action == "BootNotification" for action, _ in csms.received)


async def test_ready_watchdog_and_a_clean_stop_on_sigterm_losing_nothing(csms: FakeCsms, tmp_path: Path) -> None:
    notify = NotifySocket()
    # WatchdogSec=0.4s: the station must say WATCHDOG=1 every 0.2 s.
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    process = await start_station(csms, tmp_path, env)
    try:
        got = await notify.until("READY=1")
        await csms.wait_for(lambda r: boots(csms) == 1)
        # What the central system changes is written to the store while the station runs.
        assert await csms.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "123"}) == {
            "status": "Accepted"
        }
        enable = {"key": "LocalAuthListEnabled", "value": "true"}
        assert await csms.call("ChangeConfiguration", enable) == {"status": "Accepted"}
        local_list = {
            "listVersion": 7,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "KEEP-ME", "idTagInfo": {"status": "Accepted"}}],
        }
        assert await csms.call("SendLocalList", local_list) == {"status": "Accepted"}
        for _ in range(2):
            got = await notify.until("WATCHDOG=1")
            notify.received.clear()
        code, stderr = await stop_station(process)
        got = await notify.until("STOPPING=1", timeout=1.0)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        notify.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert any("STOPPING=1" in message.splitlines() for message in got)

    # Power on again on the same data directory: what was written is there.
    process = await start_station(csms, tmp_path, {})
    try:
        await csms.wait_for(lambda r: boots(csms) == 2)
        reply = await csms.call("GetConfiguration", {"key": ["MeterValueSampleInterval"]})
        assert reply["configurationKey"][0]["value"] == "123"
        assert await csms.call("GetLocalListVersion", {}) == {"listVersion": 7}
        code, stderr = await stop_station(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, stderr
