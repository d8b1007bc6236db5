"""Provisioning at manufacturing or installation (security whitepaper §2.6.4): root certificates into a
station's store and, for security profile 3, a first Charge Point certificate and key into its key files,
before the station is first powered on. What `ocpp-station demo --security-profile 3`, the harness's Security
cases and the tests use; in the field the same happens over OCPP (InstallCertificate, SignCertificate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ocpp_station.security.certificates import CertificateStore, CertificateUse, InstallStatus
from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.pki import build_csr, generate_key, private_key_pem
from ocpp_station.shell.runtime import store_path
from ocpp_station.station.certificate_persistence import StorePersistence
from ocpp_station.station.ports import Store
from ocpp_station.stores.key_files import FileKeyStore
from ocpp_station.stores.sqlite import SqliteStore


def key_store(data_dir: Path, charge_box_id: str) -> FileKeyStore:
    """The key files the StationRuntime of `charge_box_id` in `data_dir` uses."""
    return FileKeyStore(store_path(data_dir, charge_box_id).with_suffix(".keys"))


class InstallableKeys(Protocol):
    """A key store a manufacturer can fill (`FileKeyStore`, `MemoryKeyStore`)."""

    def install(self, chain_pem: str, key_pem: bytes) -> None: ...


def install_roots(
    data_dir: Path,
    charge_box_id: str,
    *,
    central_system_roots: Sequence[str] = (),
    manufacturer_roots: Sequence[str] = (),
) -> None:
    """Install root certificates (PEM) as InstallCertificate would; raises ValueError for one it refuses."""
    store = SqliteStore(store_path(data_dir, charge_box_id))
    try:
        install_roots_in(store, central_system_roots=central_system_roots, manufacturer_roots=manufacturer_roots)
    finally:
        store.close()


def install_roots_in(
    store: Store, *, central_system_roots: Sequence[str] = (), manufacturer_roots: Sequence[str] = ()
) -> None:
    """`install_roots` into an open store (a fleet station's)."""
    certificates = CertificateStore(StorePersistence(store))
    wanted = [(CertificateUse.CENTRAL_SYSTEM_ROOT, p) for p in central_system_roots]
    wanted += [(CertificateUse.MANUFACTURER_ROOT, p) for p in manufacturer_roots]
    for use, pem in wanted:
        result = certificates.install(use, pem, now=time.time(), log_refusal=False)
        if result.status is not InstallStatus.ACCEPTED:
            raise ValueError(f"{use.value} not installed: {result.reason}")


def enrol(
    data_dir: Path, charge_box_id: str, authority: CertificateAuthority, *, serial_number: str, cpo_name: str
) -> str:
    """A first Charge Point certificate: a key made here, its CSR signed by `authority`; returns the chain."""
    return enrol_keys(key_store(data_dir, charge_box_id), authority, serial_number=serial_number, cpo_name=cpo_name)


def enrol_keys(keys: InstallableKeys, authority: CertificateAuthority, *, serial_number: str, cpo_name: str) -> str:
    """`enrol` into a key store (a fleet station's)."""
    key = generate_key()
    chain = authority.sign_csr(build_csr(key, serial_number=serial_number, cpo_name=cpo_name))
    keys.install(chain, private_key_pem(key))
    return chain
