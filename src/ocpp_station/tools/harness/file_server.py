"""The tester's file server for the Firmware Management cases (OCTT document §2.18, §2.19).

OCTT's prerequisites: "The tester has to setup a server which supports one of the specified protocols" with a
valid firmware (`<Configured firmware location>`), an invalid one (`<Configured invalid firmware location>`)
and a place for diagnostics (`<Configured log location>`). When the settings leave those locations unset, the
harness serves them itself: a real FTP server (pyftpdlib, plain FTP, passive mode) on 127.0.0.1 at a free
port, in its own thread, with its own temporary directory:

    firmware/<version>.fwi   a valid image of the simulated station (`firmware_image.build_image`)
    firmware/invalid.fwi     bytes that are not a firmware image (the installation must fail)
    logs/                    writable: GetDiagnostics uploads land here

`harness_files(ctx)` is an async context manager: whoever enters it started the server and stops it on exit.
pyftpdlib is a runtime dependency of the package for this reason (`ocpp-station certify` on a fresh install).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp_station.shell.firmware_image import build_image
from ocpp_station.tools.harness.case import CaseContext

FIRMWARE_VERSION = "OCTT-FW-2.0.0"  # the version of the valid image the harness serves
INVALID_IMAGE = b"This is not a firmware image of any Charge Point: the installation must fail.\n"


class FtpFileServer:
    """pyftpdlib on 127.0.0.1 (free port) serving `root` to one user, in a thread of its own."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # older pyftpdlib builds on asyncore
            from pyftpdlib.authorizers import DummyAuthorizer
            from pyftpdlib.handlers import FTPHandler
            from pyftpdlib.ioloop import IOLoop
            from pyftpdlib.servers import FTPServer

        pyftpdlib_log = logging.getLogger("pyftpdlib")
        if not pyftpdlib_log.handlers:
            # Its records go the harness's way; without a handler of its own, pyftpdlib would configure logging
            # to stderr (and process-wide logging shortcuts) when the process has not configured logging.
            pyftpdlib_log.addHandler(logging.NullHandler())
        self.root = root
        self.user = "octt"
        self.password = secrets.token_hex(8)
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(root), perm="elradfmw")
        # A subclass per server (no state shared with other servers) and an IOLoop of its own (pyftpdlib's
        # default loop is one per process).
        handler: Any = type("OcttFtpHandler", (FTPHandler,), {"authorizer": authorizer, "banner": "OCTT harness"})
        self._server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port: int = self._server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"octt-ftp-{self.port}", daemon=True)

    def url(self, path: str) -> str:
        return f"ftp://{self.user}:{self.password}@127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 10.0)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        finally:
            self._server.close_all()


@dataclass(frozen=True, slots=True)
class FileLocations:
    """The `<Configured ...>` locations of the Firmware Management cases, and what the harness knows of them."""

    firmware: str
    invalid_firmware: str
    log: str
    firmware_version: str | None  # the version the valid image installs, when the harness made it
    log_directory: Path | None  # where uploads to `log` land, when the harness serves it
    firmware_image: bytes | None = None  # the valid image's bytes, when the harness made it (signed in TC_080)


@asynccontextmanager
async def harness_files(ctx: CaseContext) -> AsyncIterator[FileLocations]:
    """The locations from the settings; the ones left unset are served by an FTP server started here."""
    settings = ctx.settings
    if settings.firmware_location and settings.invalid_firmware_location and settings.log_location:
        yield FileLocations(
            settings.firmware_location, settings.invalid_firmware_location, settings.log_location, None, None
        )
        return
    with tempfile.TemporaryDirectory(prefix="octt-ftp-") as directory:
        root = Path(directory)
        (root / "firmware").mkdir()
        (root / "logs").mkdir()
        valid = f"firmware/{FIRMWARE_VERSION}.fwi"
        image = build_image(FIRMWARE_VERSION)
        (root / valid).write_bytes(image)
        (root / "firmware" / "invalid.fwi").write_bytes(INVALID_IMAGE)
        server = FtpFileServer(root)
        server.start()
        try:
            own_firmware = settings.firmware_location is None
            own_log = settings.log_location is None
            yield FileLocations(
                firmware=settings.firmware_location or server.url(valid),
                invalid_firmware=settings.invalid_firmware_location or server.url("firmware/invalid.fwi"),
                log=settings.log_location or server.url("logs/"),
                firmware_version=FIRMWARE_VERSION if own_firmware else None,
                log_directory=root / "logs" if own_log else None,
                firmware_image=image if own_firmware else None,
            )
        finally:
            await server.stop()
