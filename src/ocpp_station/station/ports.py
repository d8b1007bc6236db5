"""The station's ports: what the pure station needs from the world, as Protocols.

`Store` is everything the station persists. Implementations live outside the pure station
(`ocpp_station.stores`: SQLite for a charger, in-memory for unit tests and load-test fleets); the hardware
ports are `ocpp_station.hardware.interfaces`. A store must make each `atomic()` block all-or-nothing and
durable before it returns, as far as it promises durability at all: the station acts on a fact (sends it,
switches energy, answers the central system) only after the block that records it has ended.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class StoreError(Exception):
    """The store cannot be opened; the message is one line for the operator."""


class StoreWriteError(Exception):
    """A write did not happen (disk full, I/O error, a simulated failure); what was stored before still holds."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    unique_id: str
    attempts: int
    not_before: float


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    local_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    meter_start: int
    start_time: float
    reservation_id: int | None
    transaction_id: int | None
    start_status: str  # queued | accepted | failed (no id after all attempts: errata v4.0 3.18)
    stopped: bool


@dataclass(frozen=True, slots=True)
class IdTagEntry:
    id_tag: str
    status: str
    expiry: float | None
    parent_id_tag: str | None


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """An installed root certificate (security whitepaper M05): `use` is a CertificateUseEnumType value (§6.4),
    `issuer_key` the issuer's key bits its hash data is computed from, `fallback` the M05.FR.11 old root."""

    certificate_id: str
    use: str
    pem: str
    issuer_key: bytes
    fallback: bool


@dataclass(frozen=True, slots=True)
class SecurityLogEntry:
    """One line of the security log (security whitepaper A04.FR.04, N01.FR.05)."""

    seq: int
    at: float  # station wall-clock time
    event: str  # a §8 security event name
    tech_info: str


class KeyStore(Protocol):
    """The Charge Point's own key pair and certificate chain (security whitepaper A02/A03).

    The private key lives in a file only the station's user can read (A02.FR.05); it is never part of the
    Store, a log or a message. A key made for a CSR stays pending until a CertificateSigned.req with a chain
    for it is accepted; `activate` then makes key and chain the ones the next TLS connection presents, and may
    keep the pair it replaces as the fallback of A02.FR.10 until the new one has proven itself.
    """

    def save_pending_key(self, key_pem: bytes) -> None: ...

    def pending_key(self) -> bytes | None: ...

    def activate(self, chain_pem: str, *, keep_previous: bool = False) -> None:
        """The pending key becomes the station key, `chain_pem` its certificate chain (raises OSError). With
        `keep_previous`, the pair in use becomes the previous one (replacing any), else any previous one stays."""
        ...

    def certificate_chain(self) -> str | None:
        """The chain of the key in use, or None when the station has no Charge Point certificate."""
        ...

    def previous_certificate_chain(self) -> str | None:
        """The chain of the previous pair kept as fallback (A02.FR.10), or None."""
        ...

    def restore_previous(self) -> None:
        """The previous pair is the one in use again; the pair it replaces is discarded (raises OSError)."""
        ...

    def discard_previous(self) -> None:
        """The previous pair goes (the new one has proven itself)."""
        ...


class Store(Protocol):
    """One station's persistent state. idTag keys compare case-insensitively (OCPP 1.6 §3.9)."""

    def atomic(self) -> AbstractContextManager[None]:
        """The writes inside happen together or not at all (raises `StoreWriteError` when they did not)."""
        ...

    def close(self) -> None: ...

    # -- meta: small facts (availability, firmware version, energy registers, ...) -----------------------
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    # -- configuration keys (the `ConfigPersistence` of configuration.py) --------------------------------
    def load_config(self) -> dict[str, str]: ...

    def save_config(self, key: str, value: str) -> None: ...

    # -- the transaction-related message queue (OCPP 1.6 §3.7), in order of `seq` ------------------------
    def enqueue(self, action: str, payload: dict[str, Any], local_tx: int | None, unique_id: str) -> int: ...

    def queue_head(self) -> QueuedMessage | None: ...

    def queue_length(self) -> int: ...

    def queue_messages(self) -> list[QueuedMessage]: ...

    def dequeue(self, seq: int) -> None: ...

    def defer(self, seq: int, attempts: int, not_before: float, unique_id: str) -> None: ...

    # -- transactions ------------------------------------------------------------------------------------
    def create_transaction(
        self,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        meter_start: int,
        start_time: float,
        reservation_id: int | None,
    ) -> int: ...

    def transaction_record(self, local_id: int) -> TransactionRecord | None: ...

    def open_transactions(self) -> list[TransactionRecord]: ...

    def set_transaction_id(self, local_id: int, transaction_id: int | None, start_status: str) -> None: ...

    def mark_stopped(self, local_id: int) -> None: ...

    def set_transaction_parent(self, local_id: int, parent_id_tag: str | None) -> None: ...

    # -- authorization cache and local list -------------------------------------------------------------
    def cache_get(self, id_tag: str) -> IdTagEntry | None: ...

    def cache_put(self, entry: IdTagEntry, now: float, capacity: int) -> None:
        """OCPP 1.6 §3.5.1: when full, evict not-valid entries first, then the least recently updated."""
        ...

    def cache_clear(self) -> None: ...

    def local_list_get(self, id_tag: str) -> IdTagEntry | None: ...

    def local_list_size(self) -> int: ...

    def local_list_entries(self) -> list[IdTagEntry]:
        """The whole list, ordered by idTag (diagnostics and tests; the station looks entries up one by one)."""
        ...

    def local_list_empty(self) -> bool: ...

    def local_list_known(self, id_tags: list[str]) -> set[str]:
        """Which of `id_tags` the list holds, upper-cased."""
        ...

    def local_list_update(self, full: bool, upserts: list[IdTagEntry], deletes: list[str], version: int) -> None:
        """One SendLocalList update with its version (meta `local_list_version`), all or nothing."""
        ...

    # -- charging profiles and reservations (bodies as received) ----------------------------------------
    def profiles(self) -> list[tuple[int, dict[str, Any]]]: ...

    def put_profile(self, profile_id: int, connector_id: int, body: dict[str, Any]) -> None: ...

    def delete_profiles(self, profile_ids: list[int]) -> None: ...

    def reservations(self) -> list[dict[str, Any]]: ...

    def put_reservation(self, reservation_id: int, connector_id: int, body: dict[str, Any]) -> None: ...

    def delete_reservation(self, reservation_id: int) -> None: ...

    # -- installed root certificates (security whitepaper M03–M05), in installation order ----------------
    def certificates(self) -> list[CertificateRecord]: ...

    def put_certificate(self, record: CertificateRecord) -> None:
        """Insert, or replace the record with the same certificate_id in its place."""
        ...

    def delete_certificate(self, certificate_id: str) -> None: ...

    # -- the security log (A04.FR.04): rolling, the newest `keep` entries survive --------------------------
    def append_security_log(self, at: float, event: str, tech_info: str, keep: int) -> None: ...

    def security_log(self) -> list[SecurityLogEntry]: ...
