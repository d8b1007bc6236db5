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
