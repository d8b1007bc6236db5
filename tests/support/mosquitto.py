"""A real Mosquitto broker on a loopback port, started and stopped by the test that needs it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest


class Mosquitto:
    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self._config = folder / "mosquitto.conf"
        # No persistence: a restart loses retained messages, as a broker on a tmpfs would.
        self._config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n"
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            pytest.fail("mosquitto is not installed (apt-get install -y mosquitto; .ci/run does it)")
        self._process = await asyncio.create_subprocess_exec(
            binary, "-c", str(self._config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        assert self._process.stderr is not None
        async with asyncio.timeout(10):
            # Mosquitto says "... running" once its listeners are open.
            while b" running" not in (line := await self._process.stderr.readline()):
                if not line:
                    raise RuntimeError("mosquitto exited before it was running")
        self._drain = asyncio.create_task(self._process.stderr.read())

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()
            await self._drain
