"""Firmware images of the simulated station, and the installer that checks them.

An image is an uncompressed POSIX tar holding exactly two members:

- ``manifest.json``: ``{"format": "ocpp-station-firmware/1", "version": "2.0.0", "payload": "payload.bin",
  "size": <bytes>, "sha256": "<hex digest of the payload>"}``
- ``payload.bin``: the firmware itself (for the simulated station: any bytes).

An image is valid when it is such a tar, the manifest has that format, the version is a non-empty printable
string of at most 50 characters (BootNotification.firmwareVersion is CiString50) and the payload has the
stated size and SHA-256. Members are read in memory, never extracted, so a hostile tar cannot write files.
`ocpp-station firmware-image --version V -o FILE` makes one. Plain OCPP 1.6 defines no signature (§8.1 only
recommends signing; the security whitepaper's L01 defines it); the checksum guards against corrupt and
truncated images, not against forged ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

FORMAT = "ocpp-station-firmware/1"
MANIFEST = "manifest.json"
PAYLOAD = "payload.bin"
MAX_VERSION_LENGTH = 50  # CiString50 (BootNotification.firmwareVersion)
MAX_MANIFEST_BYTES = 64 * 1024


class ImageError(ValueError):
    """The image cannot be installed; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    version: str
    size: int
    sha256: str


class FirmwareInstaller(Protocol):
    """Installs a downloaded image; returns the firmware version the station runs after its restart."""

    async def install(self, image: Path) -> str: ...


class SimulatedInstaller:
    """The simulated station 'installs' an image by checking it: the version is what it then reports."""

    async def install(self, image: Path) -> str:
        info = await asyncio.to_thread(verify_image, image)
        return info.version


def _check_version(version: Any) -> str:
    if not isinstance(version, str) or not version.strip():
        raise ImageError("the manifest names no firmware version")
    if len(version) > MAX_VERSION_LENGTH or not version.isprintable():
        raise ImageError(f"firmware version {version[:60]!r} is not a printable string of at most 50 characters")
    return version


def build_image(version: str, payload: bytes | None = None) -> bytes:
    """The bytes of a valid image for `version` (the payload defaults to a short text naming it)."""
    _check_version(version)
    body = payload if payload is not None else f"ocpp-station simulated firmware {version}\n".encode()
    manifest = {
        "format": FORMAT,
        "version": version,
        "payload": PAYLOAD,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n"), (PAYLOAD, body)):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mtime = int(time.time())
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
    return out.getvalue()


def write_image(path: Path, version: str, payload: bytes | None = None) -> None:
    path.write_bytes(build_image(version, payload))


def make_image_file(path: Path, version: str) -> str:
    """`ocpp-station firmware-image`: write the image; a bad version or path is one ValueError line."""
    try:
        write_image(path, version)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
    info = verify_image(path)
    return f"wrote {path}: firmware {info.version}, payload {info.size} bytes, sha256 {info.sha256}"


def _member(tar: tarfile.TarFile, name: str) -> tuple[tarfile.TarInfo, IO[bytes]]:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise ImageError(f"not a firmware image: no {name}") from None
    handle = tar.extractfile(info) if info.isfile() else None
    if handle is None:
        raise ImageError(f"not a firmware image: {name} is not a regular file")
    return info, handle


def verify_image(path: Path) -> ImageInfo:
    """Check the image at `path`; raise ImageError when it must not be installed."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            manifest_info, manifest_file = _member(tar, MANIFEST)
            if manifest_info.size > MAX_MANIFEST_BYTES:
                raise ImageError("not a firmware image: manifest too large")
            try:
                manifest = json.loads(manifest_file.read())
            except ValueError:
                raise ImageError("not a firmware image: manifest is not JSON") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ImageError(f"not a firmware image of format {FORMAT}")
            version = _check_version(manifest.get("version"))
            if manifest.get("payload") != PAYLOAD:
                raise ImageError(f"manifest must name {PAYLOAD} as payload")
            size, expected = manifest.get("size"), manifest.get("sha256")
            if not isinstance(size, int) or not isinstance(expected, str):
                raise ImageError("manifest lacks the payload's size or sha256")
            payload_info, payload_file = _member(tar, PAYLOAD)
            if payload_info.size != size:
                raise ImageError(f"payload is {payload_info.size} bytes, the manifest says {size}")
            digest = hashlib.sha256()
            while chunk := payload_file.read(1 << 16):
                digest.update(chunk)
    except (tarfile.TarError, EOFError) as exc:
        raise ImageError(f"not a firmware image: {exc}") from None
    except OSError as exc:
        raise ImageError(f"cannot read the image: {exc}") from None
    if digest.hexdigest() != expected.lower():
        raise ImageError("payload checksum mismatch: the image is corrupt")
    return ImageInfo(version, size, digest.hexdigest())
