"""The in-memory `Store`: the same contract as the SQLite store, without a file.

For unit tests of the pure station and for load-test fleets that do not want a file and an fsync per
station. It survives nothing: a process restart starts it empty. Writes to dicts cannot fail halfway, so
`atomic()` has nothing to roll back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from ocpp_station.station.ports import (
    CertificateRecord,
    IdTagEntry,
    QueuedMessage,
    SecurityLogEntry,
    TransactionRecord,
)


def _copy(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists, scalars): what the SQLite store gets by keeping the JSON text.

    For the bodies of charging profiles and reservations, which callers keep and change on either side of the
    store. A JSON value has no cycles or shared parts, so `copy.deepcopy`'s memo would only cost.
    """
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class MemoryStore:
    """Implements `ocpp_station.station.ports.Store` in plain dicts (insertion-ordered, like the SQL `ORDER BY`)."""

    __slots__ = (
        "_atomic",
        "_cache",
        "_certificates",
        "_config",
        "_local_list",
        "_meta",
        "_next_local_id",
        "_next_seq",
        "_profiles",
        "_queue",
        "_reservations",
        "_security_log",
        "_security_seq",
        "_transactions",
    )

    def __init__(self) -> None:
        self._atomic: AbstractContextManager[None] = nullcontext()
        self._meta: dict[str, str] = {}
        self._config: dict[str, str] = {}
        self._queue: dict[int, QueuedMessage] = {}
        self._next_seq = 1
        self._transactions: dict[int, TransactionRecord] = {}
        self._next_local_id = 1
        self._cache: dict[str, tuple[IdTagEntry, float]] = {}
        self._local_list: dict[str, IdTagEntry] = {}
        self._profiles: dict[int, tuple[int, dict[str, Any]]] = {}
        self._reservations: dict[int, dict[str, Any]] = {}
        self._certificates: dict[str, CertificateRecord] = {}
        self._security_log: list[SecurityLogEntry] = []
        self._security_seq = 0

    def atomic(self) -> AbstractContextManager[None]:
        return self._atomic  # nothing to roll back (see above); a null context can be entered again and nested

    def close(self) -> None:
        pass

    # -- meta and configuration ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def load_config(self) -> dict[str, str]:
        return dict(self._config)

    def save_config(self, key: str, value: str) -> None:
        self._config[key] = value

    # -- the transaction-related message queue ---------------------------------------------------------
    def enqueue(self, action: str, payload: dict[str, Any], local_tx: int | None, unique_id: str) -> int:
        seq = self._next_seq
        self._next_seq += 1
        # Kept as it is, not copied: the station builds each payload for the queue and never changes it afterwards
        # (`Station.enqueue`), and what reads it back copies before it adds to it (`CoreProfile.next_queued_call`).
        self._queue[seq] = QueuedMessage(seq, action, payload, local_tx, unique_id, 0, 0.0)
        return seq

    def queue_head(self) -> QueuedMessage | None:
        if not self._queue:
            return None
        return next(iter(self._queue.values()))

    def queue_length(self) -> int:
        return len(self._queue)

    def queue_messages(self) -> list[QueuedMessage]:
        return list(self._queue.values())

    def dequeue(self, seq: int) -> None:
        self._queue.pop(seq, None)

    def defer(self, seq: int, attempts: int, not_before: float, unique_id: str) -> None:
        message = self._queue.get(seq)
        if message is not None:
            self._queue[seq] = replace(message, attempts=attempts, not_before=not_before, unique_id=unique_id)

    # -- transactions -------------------------------------------------------------------------------------
    def create_transaction(
        self,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        meter_start: int,
        start_time: float,
        reservation_id: int | None,
    ) -> int:
        local_id = self._next_local_id
        self._next_local_id += 1
        self._transactions[local_id] = TransactionRecord(
            local_id,
            connector_id,
            id_tag,
            parent_id_tag,
            meter_start,
            start_time,
            reservation_id,
            transaction_id=None,
            start_status="queued",
            stopped=False,
        )
        return local_id

    def transaction_record(self, local_id: int) -> TransactionRecord | None:
        return self._transactions.get(local_id)

    def open_transactions(self) -> list[TransactionRecord]:
        return [t for t in self._transactions.values() if not t.stopped]

    def set_transaction_id(self, local_id: int, transaction_id: int | None, start_status: str) -> None:
        self._update_transaction(local_id, transaction_id=transaction_id, start_status=start_status)

    def mark_stopped(self, local_id: int) -> None:
        # A stopped transaction is needed only while its messages are queued (their transactionId).
        self._update_transaction(local_id, stopped=True)

    def set_transaction_parent(self, local_id: int, parent_id_tag: str | None) -> None:
        self._update_transaction(local_id, parent_id_tag=parent_id_tag)

    def _update_transaction(self, local_id: int, **changes: Any) -> None:
        record = self._transactions.get(local_id)
        if record is not None:
            self._transactions[local_id] = replace(record, **changes)
        self._forget_settled_transactions()

    def _forget_settled_transactions(self) -> None:
        # Bounded memory over a long fleet run: a stopped transaction no queued message refers to is history.
        if len(self._transactions) < 64:
            return
        referenced = {m.local_tx for m in self._queue.values()}
        for local_id in [k for k, t in self._transactions.items() if t.stopped and k not in referenced]:
            del self._transactions[local_id]

    # -- authorization cache and local list ------------------------------------------------------------------
    def cache_get(self, id_tag: str) -> IdTagEntry | None:
        held = self._cache.get(id_tag.upper())
        return None if held is None else held[0]

    def cache_put(self, entry: IdTagEntry, now: float, capacity: int) -> None:
        key = entry.id_tag.upper()
        self._cache[key] = (replace(entry, id_tag=key), now)
        excess = len(self._cache) - capacity
        if excess > 0:
            # OCPP 1.6 §3.5.1: not-valid entries first, then the least recently updated valid ones.
            order = sorted(self._cache.items(), key=lambda kv: (kv[1][0].status == "Accepted", kv[1][1]))
            for evicted, _ in order[:excess]:
                del self._cache[evicted]

    def cache_clear(self) -> None:
        self._cache.clear()

    def local_list_get(self, id_tag: str) -> IdTagEntry | None:
        return self._local_list.get(id_tag.upper())

    def local_list_size(self) -> int:
        return len(self._local_list)

    def local_list_entries(self) -> list[IdTagEntry]:
        return [self._local_list[k] for k in sorted(self._local_list)]

    def local_list_empty(self) -> bool:
        return not self._local_list

    def local_list_known(self, id_tags: list[str]) -> set[str]:
        return {t.upper() for t in id_tags if t.upper() in self._local_list}

    def local_list_update(self, full: bool, upserts: list[IdTagEntry], deletes: list[str], version: int) -> None:
        if full:
            self._local_list.clear()
        for entry in upserts:
            key = entry.id_tag.upper()
            self._local_list[key] = replace(entry, id_tag=key)
        for id_tag in deletes:
            self._local_list.pop(id_tag.upper(), None)
        self._meta["local_list_version"] = str(version)

    # -- charging profiles and reservations ----------------------------------------------------------------
    def profiles(self) -> list[tuple[int, dict[str, Any]]]:
        return [(c, _copy(body)) for _, (c, body) in sorted(self._profiles.items())]

    def put_profile(self, profile_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._profiles[profile_id] = (connector_id, _copy(body))

    def delete_profiles(self, profile_ids: list[int]) -> None:
        for profile_id in profile_ids:
            self._profiles.pop(profile_id, None)

    def reservations(self) -> list[dict[str, Any]]:
        return [_copy(body) for _, body in sorted(self._reservations.items())]

    def put_reservation(self, reservation_id: int, connector_id: int, body: dict[str, Any]) -> None:
        self._reservations[reservation_id] = _copy(body)

    def delete_reservation(self, reservation_id: int) -> None:
        self._reservations.pop(reservation_id, None)

    # -- certificates and the security log ---------------------------------------------------------------
    def certificates(self) -> list[CertificateRecord]:
        return list(self._certificates.values())

    def put_certificate(self, record: CertificateRecord) -> None:
        self._certificates[record.certificate_id] = record

    def delete_certificate(self, certificate_id: str) -> None:
        self._certificates.pop(certificate_id, None)

    def append_security_log(self, at: float, event: str, tech_info: str, keep: int) -> None:
        self._security_seq += 1
        self._security_log.append(SecurityLogEntry(self._security_seq, at, event, tech_info))
        del self._security_log[: max(0, len(self._security_log) - keep)]

    def security_log(self) -> list[SecurityLogEntry]:
        return list(self._security_log)


class MemoryKeyStore:
    """Implements `ocpp_station.station.ports.KeyStore` in memory (core tests; stations with no files)."""

    __slots__ = ("_pending", "_previous", "chain", "key")  # one per fleet station

    def __init__(self) -> None:
        self._pending: bytes | None = None
        self._previous: tuple[bytes, str] | None = None
        self.key: bytes | None = None
        self.chain: str | None = None

    def save_pending_key(self, key_pem: bytes) -> None:
        self._pending = key_pem

    def pending_key(self) -> bytes | None:
        return self._pending

    def activate(self, chain_pem: str, *, keep_previous: bool = False) -> None:
        if self._pending is None:
            raise OSError("no pending key for this certificate chain")
        if keep_previous and self.key is not None and self.chain is not None:
            self._previous = (self.key, self.chain)
        self.key, self.chain, self._pending = self._pending, chain_pem, None

    def certificate_chain(self) -> str | None:
        return self.chain

    def previous_certificate_chain(self) -> str | None:
        return None if self._previous is None else self._previous[1]

    def restore_previous(self) -> None:
        if self._previous is None:
            raise OSError("no previous Charge Point certificate")
        (self.key, self.chain), self._previous = self._previous, None

    def discard_previous(self) -> None:
        self._previous = None

    def install(self, chain_pem: str, key_pem: bytes) -> None:
        """Put a key and its chain in place directly: provisioning (§2.6.4), as `FileKeyStore.install`."""
        self.key, self.chain = key_pem, chain_pem
