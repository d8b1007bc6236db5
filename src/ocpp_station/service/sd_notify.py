"""The sd_notify protocol (systemd's sd_notify(3)), without libsystemd: readiness, status, watchdog.

A service of Type=notify tells systemd it is up by sending "READY=1" as one datagram to the AF_UNIX socket
named in $NOTIFY_SOCKET (a path, or an abstract-namespace name written with a leading "@"). With WatchdogSec
set, systemd passes $WATCHDOG_USEC (and $WATCHDOG_PID) and restarts the service unless "WATCHDOG=1" arrives
within it; sd_watchdog_enabled(3) advises sending it at half that interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SdNotifier:
    """Sends notifications when started by systemd; every call is a no-op otherwise."""

    def __init__(self, address: str | None) -> None:
        if address and address[0] not in "/@":
            raise ValueError(f"NOTIFY_SOCKET must be an absolute path or start with @, got {address!r}")
        self._address = None if not address else ("\0" + address[1:] if address[0] == "@" else address)
        self._failed = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> SdNotifier:
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send "KEY=value" lines as one datagram; False when not under systemd or the send failed."""
        if self._address is None:
            return False
        message = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message)
        except OSError as exc:
            if not self._failed:  # one line, not one per watchdog tick
                log.warning("sd_notify: cannot notify systemd at %s: %s", self._address.lstrip("\0"), exc)
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    async def keep_watchdog(self, interval_s: float) -> None:
        """Send WATCHDOG=1 every `interval_s` until cancelled (run it as a task)."""
        while True:
            self.watchdog()
            await asyncio.sleep(interval_s)


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Half of systemd's watchdog timeout in seconds, or None when no watchdog is asked of this process
    (sd_watchdog_enabled(3): WATCHDOG_PID, when set, must be ours)."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    with contextlib.suppress(ValueError):
        value = int(usec)
        if value > 0:
            return value / 2 / 1_000_000
    return None
