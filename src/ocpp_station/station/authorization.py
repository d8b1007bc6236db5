"""Deciding whether an idTag may charge: local list, authorization cache, the central system.

OCPP 1.6 §3.5: list entries take precedence over the cache; LocalPreAuthorize starts at once for a
locally known Accepted idTag while online; LocalAuthorizeOffline / AllowOfflineTxForUnknownId decide
offline. Every IdTagInfo received updates the cache, except for idTags in the local list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp_station.clock import parse_iso
from ocpp_station.station.contract import StationContext
from ocpp_station.station.ports import IdTagEntry, Store
from ocpp_station.station.profiles.local_auth_list_management import VALID_STATUSES, LocalAuthListManagement


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    status: str
    parent_id_tag: str | None
    source: str  # "list", "cache", "central", "offline-unknown"


Decide = Callable[[Decision], None]

# The authorization cache capacity (OCPP 1.6 §3.5.1 leaves it to the implementation).
CACHE_CAPACITY = 10_000


class Authorizer:
    __slots__ = ("_local_list", "_st", "_store")

    def __init__(self, station: StationContext, store: Store, local_list: LocalAuthListManagement) -> None:
        self._st = station
        self._store = store
        self._local_list = local_list

    def _valid(self, entry: IdTagEntry, source: str) -> bool:
        # A locally known idTag whose validity has passed is not Accepted any more (OCPP 1.6 §3.5.1);
        # in the local list Accepted and ConcurrentTx both mark a valid identifier (§3.5.2).
        valid = VALID_STATUSES if source == "list" else ("Accepted",)
        return entry.status in valid and (entry.expiry is None or entry.expiry > self._st.now())

    def local_entry(self, id_tag: str) -> tuple[IdTagEntry, str] | None:
        """The local knowledge of an idTag: the list first (§3.5.3), then the cache."""
        config = self._st.config
        if self._local_list.enabled():
            entry = self._store.local_list_get(id_tag)
            if entry is not None:
                return entry, "list"
        if config.get_bool("AuthorizationCacheEnabled"):
            entry = self._store.cache_get(id_tag)
            if entry is not None:
                return entry, "cache"
        return None

    def authorize(self, id_tag: str, decide: Decide) -> None:
        st = self._st
        local = self.local_entry(id_tag)
        if st.online:
            if local is not None and self._valid(*local) and st.config.get_bool("LocalPreAuthorize"):
                decide(Decision(True, "Accepted", local[0].parent_id_tag, local[1]))
                return

            def on_result(payload: dict[str, Any]) -> None:
                info = payload["idTagInfo"]
                self.remember(id_tag, info)
                decide(Decision(info["status"] == "Accepted", info["status"], info.get("parentIdTag"), "central"))

            def on_failure(reason: str) -> None:
                # No answer: decide as if offline (OCPP 1.6 §3.5.1 offline rules).
                decide(self._offline_decision(id_tag, local))

            st.send("Authorize", {"idTag": id_tag}, on_result, on_failure)
            return
        decide(self._offline_decision(id_tag, local))

    def _offline_decision(self, id_tag: str, local: tuple[IdTagEntry, str] | None) -> Decision:
        config = self._st.config
        if local is not None:
            entry, source = local
            if config.get_bool("LocalAuthorizeOffline") and self._valid(entry, source):
                return Decision(True, "Accepted", entry.parent_id_tag, source)
            # A known but not-valid idTag is never accepted offline, not even as unknown (§3.5.1).
            return Decision(False, entry.status if entry.status not in VALID_STATUSES else "Expired", None, source)
        if config.get_bool("AllowOfflineTxForUnknownId"):
            return Decision(True, "Accepted", None, "offline-unknown")
        return Decision(False, "Invalid", None, "offline-unknown")

    def parent_of(self, id_tag: str) -> str | None:
        local = self.local_entry(id_tag)
        return None if local is None else local[0].parent_id_tag

    def remember(self, id_tag: str, id_tag_info: dict[str, Any]) -> None:
        """Update the cache from an IdTagInfo (Authorize / StartTransaction / StopTransaction .conf)."""
        st = self._st
        listed = self._store.local_list_get(id_tag) if self._local_list.enabled() else None
        if listed is not None:
            # OCPP 1.6 §3.5.3 / errata v4.0 3.4: idTags in the local list are never cached; a verdict that
            # contradicts the list is a LocalListConflict (§3.5.2).
            self._local_list.check_conflict(listed, id_tag_info)
            return
        if not st.config.get_bool("AuthorizationCacheEnabled"):
            return
        expiry_text = id_tag_info.get("expiryDate")
        expiry = None
        if expiry_text:
            try:
                expiry = parse_iso(expiry_text)
            except ValueError:
                expiry = None
        entry = IdTagEntry(id_tag, id_tag_info["status"], expiry, id_tag_info.get("parentIdTag"))
        self._store.cache_put(entry, st.now(), capacity=CACHE_CAPACITY)
