"""The Charge Point's key pair and certificate chain as files: the `KeyStore` port of a real station.

One directory per station (mode 0700). ``pending.key`` holds the key made for the CSR in flight;
CertificateSigned makes it ``charge_point.key`` next to its chain ``charge_point.pem``, which the link
loads for security profile 3 (`security.tls.profile3_context`); the pair it replaced may stay as
``previous.key`` / ``previous.pem``, the fallback of A02.FR.10, until the new one has connected. Every key
file is created owner-only from its first byte (`security.pki.write_private_key`, A02.FR.05), and each file
is replaced atomically, so a power cut leaves either the old or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ocpp_station.security.pki import load_private_key_pem, write_private_key

PENDING_KEY = "pending.key"
KEY = "charge_point.key"
CHAIN = "charge_point.pem"
PREVIOUS_KEY = "previous.key"
PREVIOUS_CHAIN = "previous.pem"


class FileKeyStore:
    """Implements `ocpp_station.station.ports.KeyStore` in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def key_path(self) -> Path:
        return self.directory / KEY

    @property
    def chain_path(self) -> Path:
        return self.directory / CHAIN

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def save_pending_key(self, key_pem: bytes) -> None:
        self._ensure_directory()
        self._write_key(PENDING_KEY, key_pem)

    def pending_key(self) -> bytes | None:
        try:
            return (self.directory / PENDING_KEY).read_bytes()
        except FileNotFoundError:
            return None

    def activate(self, chain_pem: str, *, keep_previous: bool = False) -> None:
        pending = self.directory / PENDING_KEY
        if not pending.exists():
            raise FileNotFoundError("no pending key for this certificate chain")
        if keep_previous:
            chain = self.certificate_chain()
            if chain is not None:
                # The old previous key goes first and the new one comes last: a previous key file always has
                # its own chain beside it.
                (self.directory / PREVIOUS_KEY).unlink(missing_ok=True)
                self._write_chain(PREVIOUS_CHAIN, chain)
                self._write_key(PREVIOUS_KEY, self.key_path.read_bytes())
        self.install(chain_pem, pending.read_bytes())
        pending.unlink()

    def previous_certificate_chain(self) -> str | None:
        if not (self.directory / PREVIOUS_KEY).exists():
            return None
        try:
            return (self.directory / PREVIOUS_CHAIN).read_text(encoding="ascii")
        except FileNotFoundError:
            return None

    def restore_previous(self) -> None:
        chain = self.previous_certificate_chain()
        if chain is None:
            raise FileNotFoundError("no previous Charge Point certificate")
        self.install(chain, (self.directory / PREVIOUS_KEY).read_bytes())
        self.discard_previous()

    def discard_previous(self) -> None:
        for name in (PREVIOUS_KEY, PREVIOUS_CHAIN):
            (self.directory / name).unlink(missing_ok=True)

    # Each file is written beside its place and then renamed over it: a power cut leaves the old or the new one.
    def _write_key(self, name: str, key_pem: bytes) -> None:
        staged = self.directory / (name + ".new")
        write_private_key(staged, load_private_key_pem(key_pem))  # owner-only from its first byte (A02.FR.05)
        os.replace(staged, self.directory / name)

    def _write_chain(self, name: str, chain_pem: str) -> None:
        staged = self.directory / (name + ".new")
        staged.write_text(chain_pem, encoding="ascii")
        os.replace(staged, self.directory / name)

    def install(self, chain_pem: str, key_pem: bytes) -> None:
        """Put a key and its chain in place directly: provisioning at manufacturing or installation (§2.6.4)."""
        self._ensure_directory()
        # Key first: a chain always finds its key; a cut between the two leaves the old chain, which then
        # fails to load against the new key and the station reports it rather than using a mismatched pair.
        self._write_key(KEY, key_pem)
        self._write_chain(CHAIN, chain_pem)

    def certificate_chain(self) -> str | None:
        try:
            return self.chain_path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
