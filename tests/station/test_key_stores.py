"""The KeyStore port's contract, run against both implementations: the files of a real station
(`stores.key_files.FileKeyStore`) and the memory of a fleet station or a core test (`MemoryKeyStore`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ocpp_station.security.pki import generate_key, private_key_pem
from ocpp_station.station.ports import KeyStore
from ocpp_station.stores.key_files import FileKeyStore
from ocpp_station.stores.memory import MemoryKeyStore

Factory = Callable[[Path], KeyStore]


@pytest.fixture(params=["files", "memory"])
def make(request: pytest.FixtureRequest) -> Factory:
    if request.param == "files":
        return lambda directory: FileKeyStore(directory / "CP.keys")
    store = MemoryKeyStore()
    return lambda directory: store  # "reopening" a memory store is the same object


def new_pair(keys: KeyStore, chain: str) -> None:
    keys.save_pending_key(private_key_pem(generate_key()))
    keys.activate(chain, keep_previous=True)


def test_activate_keeps_the_pair_it_replaces_until_told(make: Factory, tmp_path: Path) -> None:
    keys = make(tmp_path)
    assert keys.certificate_chain() is None and keys.previous_certificate_chain() is None
    with pytest.raises(OSError):
        keys.activate("CHAIN-0")  # no pending key
    new_pair(keys, "CHAIN-1")
    assert keys.previous_certificate_chain() is None  # nothing was in use
    new_pair(keys, "CHAIN-2")
    assert make(tmp_path).certificate_chain() == "CHAIN-2"
    assert make(tmp_path).previous_certificate_chain() == "CHAIN-1"
    # Without keep_previous the previous pair stays what it was (a renewal while the new one is on trial).
    keys.save_pending_key(private_key_pem(generate_key()))
    keys.activate("CHAIN-3")
    assert (keys.certificate_chain(), keys.previous_certificate_chain()) == ("CHAIN-3", "CHAIN-1")


def test_restore_puts_the_previous_pair_back_and_discard_forgets_it(make: Factory, tmp_path: Path) -> None:
    keys = make(tmp_path)
    new_pair(keys, "CHAIN-1")
    new_pair(keys, "CHAIN-2")
    keys.restore_previous()
    assert (keys.certificate_chain(), keys.previous_certificate_chain()) == ("CHAIN-1", None)
    with pytest.raises(OSError):
        keys.restore_previous()
    new_pair(keys, "CHAIN-3")
    keys.discard_previous()
    assert (make(tmp_path).certificate_chain(), make(tmp_path).previous_certificate_chain()) == ("CHAIN-3", None)


def test_the_restored_key_file_is_the_one_that_was_in_use(tmp_path: Path) -> None:
    keys = FileKeyStore(tmp_path / "CP.keys")
    new_pair(keys, "CHAIN-1")
    first_key = keys.key_path.read_bytes()
    new_pair(keys, "CHAIN-2")
    assert keys.key_path.read_bytes() != first_key
    assert (keys.directory / "previous.key").stat().st_mode & 0o777 == 0o600  # A02.FR.05, the fallback too
    keys.restore_previous()
    assert keys.key_path.read_bytes() == first_key
    assert keys.key_path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in keys.directory.iterdir()) == ["charge_point.key", "charge_point.pem"]
