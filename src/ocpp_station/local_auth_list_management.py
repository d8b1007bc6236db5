"""The Local Auth List Management profile: GetLocalListVersion and SendLocalList (OCPP 1.6 §5.10, §5.15)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clock import parse_iso
from .outbox import Payload
from .store import IdTagEntry

if TYPE_CHECKING:
    from .station import Handler, Station


class LocalAuthListManagement:
    def __init__(self, station: Station) -> None:
        self.st = station

    def handlers(self) -> dict[str, Handler]:
        return {"GetLocalListVersion": self.get_local_list_version, "SendLocalList": self.send_local_list}

    def version(self) -> int:
        return int(self.st.store.get_meta("local_list_version") or "0")

    def get_local_list_version(self, req: Payload) -> Payload:
        if not self.st.config.get_bool("LocalAuthListEnabled"):
            return {"listVersion": -1}  # OCTT TC_042_1
        # An empty list reports 0 whatever version was last sent (digest §10 item 5).
        return {"listVersion": self.version() if self.st.store.local_list_size() else 0}

    def send_local_list(self, req: Payload) -> Payload:
        st = self.st
        if not st.config.get_bool("LocalAuthListEnabled"):
            return {"status": "NotSupported"}
        entries = req.get("localAuthorizationList") or []
        if len(entries) > st.config.get_int("SendLocalListMaxLength"):
            return {"status": "Failed"}
        full = req["updateType"] == "Full"
        version = int(req["listVersion"])
        if not full and version <= self.version():
            return {"status": "VersionMismatch"}  # OCPP 1.6 §5.15: a differential update must be newer
        upserts: list[IdTagEntry] = []
        deletes: list[str] = []
        for item in entries:
            info = item.get("idTagInfo")
            if info is None:
                deletes.append(item["idTag"])
                continue
            expiry = None
            if info.get("expiryDate"):
                try:
                    expiry = parse_iso(info["expiryDate"])
                except ValueError:
                    return {"status": "Failed"}
            upserts.append(IdTagEntry(item["idTag"], info["status"], expiry, info.get("parentIdTag")))
        size_after = len(upserts) if full else self._count_after(upserts, deletes)
        if size_after > st.config.get_int("LocalAuthListMaxLength"):
            return {"status": "Failed"}
        st.store.local_list_update(full, upserts, [] if full else deletes, version)
        return {"status": "Accepted"}

    def _count_after(self, upserts: list[IdTagEntry], deletes: list[str]) -> int:
        store = self.st.store
        added = sum(1 for e in upserts if store.local_list_get(e.id_tag) is None)
        removed = sum(1 for t in deletes if store.local_list_get(t) is not None)
        return store.local_list_size() + added - removed
