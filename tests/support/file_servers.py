"""Real file servers on 127.0.0.1 for the transfer tests, each on a free port, started and stopped by the test.

- `FtpServer`: pyftpdlib in a thread (plain FTP, or explicit FTPS with `TLS_FTPHandler` when given a certificate,
  control and data channels both required to be encrypted); it records the commands it got.
- `HttpFileServer`: an aiohttp web server in the test's event loop (HTTP, or HTTPS with an SSL context): GET
  /files/<name> serves `files` (held while `hold` is an unset event); POST /upload/ (multipart field "file")
  and PUT /upload/<name> store into `uploads`.
- `closed_port()`: a port nothing listens on (connection refused).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from pathlib import Path
from typing import Any

from aiohttp import web

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pyftpdlib is built on asyncore / asynchat
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

FTP_USER = "station"
FTP_PASSWORD = "s3cret"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FtpServer:
    def __init__(self, home: Path, *, certfile: Path | None = None) -> None:
        self.home = home
        self.commands: list[str] = []
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(home), perm="elradfmw")
        attributes: dict[str, Any] = {"authorizer": authorizer, "commands": self.commands}
        base: type[Any] = FTPHandler
        if certfile is not None:
            from pyftpdlib.handlers import TLS_FTPHandler  # present only with pyOpenSSL

            base = TLS_FTPHandler
            attributes.update(certfile=str(certfile), tls_control_required=True, tls_data_required=True)

        def process_command(handler: Any, cmd: str, *args: Any, **kwargs: Any) -> Any:
            handler.commands.append(cmd)
            return base.process_command(handler, cmd, *args, **kwargs)

        attributes["process_command"] = process_command
        handler = type("RecordingHandler", (base,), attributes)  # a subclass: no global handler state
        # Its own IOLoop: pyftpdlib's default is one per process, which two server threads must not share.
        self._server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port: int = self._server.address[1]
        self.scheme = "ftps" if certfile is not None else "ftp"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-ftp", daemon=True)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{self.port}/{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def __enter__(self) -> FtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class HttpFileServer:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.requests: list[str] = []
        # Set: every GET is recorded, then held until the event is set (a download in progress for as long as
        # a test needs one).
        self.hold: asyncio.Event | None = None
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}/{path}"

    async def __aenter__(self) -> HttpFileServer:
        app = web.Application()
        app.router.add_get("/files/{name}", self._get)
        app.router.add_post("/upload/", self._post)
        app.router.add_put("/upload/{name}", self._put)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        server = site._server  # typed as AbstractServer; the event loop's create_server makes an asyncio.Server
        assert isinstance(server, asyncio.Server) and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"GET {request.path}")
        if self.hold is not None:
            await self.hold.wait()
        body = self.files.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/octet-stream")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"POST {request.path}")
        form = await request.post()
        field = form.get("file")
        if not isinstance(field, web.FileField):
            raise web.HTTPBadRequest(text="expected a multipart field 'file'")
        self.uploads[field.filename] = field.file.read()
        return web.Response(status=201)

    async def _put(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"PUT {request.path}")
        self.uploads[request.match_info["name"]] = await request.read()
        return web.Response(status=201)
