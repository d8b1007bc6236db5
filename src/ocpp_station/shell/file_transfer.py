"""File transfers for Firmware Management: FTP, FTPS, HTTP and HTTPS (SupportedFileTransferProtocols).

The URL scheme chooses the protocol (OCPP 1.6 §8.1, §8.2; SupportedFileTransferProtocols: errata v4.0 3.90):

- ``ftp://[user[:password]@]host[:port]/path``: FTP in passive mode (EPSV, then PASV) via `aioftp`; without
  user the login is anonymous. The path is relative to the login directory (RFC 1738 §3.2.2), as curl does.
- ``ftps://...``: the same with explicit TLS (RFC 4217: AUTH TLS on the control port, default 21, then
  PBSZ 0 / PROT P, so the data connections are encrypted too).
- ``http://`` / ``https://``: via `aiohttp`; user and password in the URL are sent as HTTP Basic.

Uploads go into the *directory* the location names (OCPP 1.6 §6.25 GetDiagnostics.req location), keeping the
file's name. OCPP 1.6 does not say how an HTTP upload is made; the default is a POST of
``multipart/form-data`` with the file in the field ``file`` to the location itself; ``http_upload="PUT"``
instead PUTs the bytes to ``location/<file name>``.

TLS is always verified: against the system's trust store plus an optional CA file, or against the
`ssl.SSLContext` the caller injects (tests use this to trust their own certificate authority).
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import IO, Protocol
from urllib.parse import quote, unquote, urlsplit

import aioftp
import aiohttp

SCHEMES = ("ftp", "ftps", "http", "https")
CHUNK_BYTES = 1 << 16
DEFAULT_MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024


class TransferError(Exception):
    """A transfer failed; the message says why in one line (it ends up in the station's log)."""


class FileTransfers(Protocol):
    async def download(self, url: str, dest: Path) -> None:
        """Fetch `url` into the file `dest` (complete or not at all)."""
        ...

    async def upload(self, url: str, file: Path) -> None:
        """Store `file` under its own name in the directory `url`."""
        ...


def supported(url: str) -> bool:
    return urlsplit(url).scheme.lower() in SCHEMES


def trust_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The system's trust store, plus `ca_file` when given (e.g. the operator's private CA)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class NetworkFileTransfers:
    """`FileTransfers` over the network with well-kept clients: aioftp (FTP/FTPS) and aiohttp (HTTP/HTTPS)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        ca_file: str | None = None,
        http_upload: str = "POST",
        connect_timeout_s: float = 10.0,
        io_timeout_s: float = 30.0,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        if http_upload not in ("POST", "PUT"):
            raise ValueError(f"http_upload must be POST or PUT, not {http_upload!r}")
        self._ssl = ssl_context  # made on first use when not given: most stations never transfer a file
        self._ca_file = ca_file
        self.http_upload = http_upload
        self.connect_timeout_s = connect_timeout_s
        self.io_timeout_s = io_timeout_s
        self.max_download_bytes = max_download_bytes

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = trust_context(self._ca_file)
        return self._ssl

    # -- the FileTransfers interface -------------------------------------------------------------------
    async def download(self, url: str, dest: Path) -> None:
        scheme = self._scheme(url)
        partial = dest.with_name(dest.name + ".part")
        try:
            with partial.open("wb") as out:
                if scheme in ("ftp", "ftps"):
                    await self._ftp_download(url, out)
                else:
                    await self._http_download(url, out)
            os.replace(partial, dest)
        except TransferError:
            raise
        except (aioftp.AIOFTPException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise TransferError(f"download of {_redact(url)} failed: {_describe(exc)}") from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()

    async def upload(self, url: str, file: Path) -> None:
        scheme = self._scheme(url)
        try:
            if scheme in ("ftp", "ftps"):
                await self._ftp_upload(url, file)
            else:
                await self._http_upload(url, file)
        except TransferError:
            raise
        except (aioftp.AIOFTPException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise TransferError(f"upload to {_redact(url)} failed: {_describe(exc)}") from None

    @staticmethod
    def _scheme(url: str) -> str:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise TransferError(f"unsupported protocol in {_redact(url)!r} (supported: FTP, FTPS, HTTP, HTTPS)")
        if not parts.hostname:
            raise TransferError(f"no host in {_redact(url)!r}")
        return scheme

    def _check_size(self, received: int) -> None:
        if received > self.max_download_bytes:
            raise TransferError(f"file larger than {self.max_download_bytes} bytes: refused")

    # -- FTP / FTPS ------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _ftp(self, url: str) -> AsyncIterator[aioftp.Client]:
        parts = urlsplit(url)
        client = aioftp.Client(
            connection_timeout=self.connect_timeout_s,
            socket_timeout=self.io_timeout_s,
            path_timeout=self.io_timeout_s,
        )
        try:
            await client.connect(parts.hostname or "", parts.port or aioftp.DEFAULT_PORT)
            if parts.scheme.lower() == "ftps":
                await client.upgrade_to_tls(self._ssl_context())
            user = unquote(parts.username) if parts.username else "anonymous"
            password = unquote(parts.password) if parts.password is not None else "anonymous@"
            await client.login(user, password)
            yield client
            with contextlib.suppress(aioftp.AIOFTPException, OSError, TimeoutError):
                await client.quit()
        finally:
            client.close()

    async def _ftp_download(self, url: str, out: IO[bytes]) -> None:
        path = _ftp_path(url)
        if not path.name:
            raise TransferError(f"{_redact(url)!r} names no file")
        received = 0
        async with self._ftp(url) as client, client.download_stream(path) as stream:
            async for block in stream.iter_by_block(CHUNK_BYTES):
                received += len(block)
                self._check_size(received)
                out.write(block)

    async def _ftp_upload(self, url: str, file: Path) -> None:
        target = _ftp_path(url) / file.name
        async with self._ftp(url) as client, client.upload_stream(target) as stream:
            with file.open("rb") as source:
                while block := source.read(CHUNK_BYTES):
                    await stream.write(block)

    # -- HTTP / HTTPS ------------------------------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout_s, sock_read=self.io_timeout_s)
        return aiohttp.ClientSession(timeout=timeout)

    async def _http_download(self, url: str, out: IO[bytes]) -> None:
        received = 0
        async with self._session() as session, session.get(url, ssl=self._ssl_context()) as response:
            if response.status != 200:
                raise TransferError(f"download of {_redact(url)} failed: HTTP {response.status} {response.reason}")
            async for block in response.content.iter_chunked(CHUNK_BYTES):
                received += len(block)
                self._check_size(received)
                out.write(block)

    async def _http_upload(self, url: str, file: Path) -> None:
        async with self._session() as session:
            with file.open("rb") as source:
                if self.http_upload == "PUT":
                    target = url.rstrip("/") + "/" + quote(file.name)
                    request = session.put(target, data=source, ssl=self._ssl_context())
                else:
                    form = aiohttp.FormData()
                    form.add_field("file", source, filename=file.name, content_type="application/octet-stream")
                    request = session.post(url, data=form, ssl=self._ssl_context())
                async with request as response:
                    if not 200 <= response.status < 300:
                        status = f"HTTP {response.status} {response.reason}"
                        raise TransferError(f"upload to {_redact(url)} failed: {status}")


def _ftp_path(url: str) -> PurePosixPath:
    # RFC 1738: the path is relative to the login directory; %2F at the start makes it absolute.
    return PurePosixPath(unquote(urlsplit(url).path.lstrip("/")) or ".")


def _redact(url: str) -> str:
    """The URL without its password: transfer errors end up in logs and diagnostics archives."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
