"""The Local Auth List Management profile: GetLocalListVersion and SendLocalList (OCPP 1.6 §5.10, §5.15).

The list lives in the station's store (non-volatile, OCPP 1.6 §3.5.2). An update is checked completely
before anything is written and is then applied in one store transaction, so a refused or failed update
leaves the old list and its version untouched. A SendLocalList of SendLocalListMaxLength entries costs one
indexed lookup and one transaction: a short synchronous step, so the event loop stays responsive while a
central system installs a 100 000-entry list in chunks (tests/test_local_list_scale.py,
bench/bench_local_list.py).
"""

from __future__ import annotations

import logging

from ocpp_station.clock import parse_iso
from ocpp_station.station.connector import derive_station_status
from ocpp_station.station.contract import Handler, StationContext
from ocpp_station.station.outbox import Payload
from ocpp_station.station.ports import IdTagEntry, Store, StoreWriteError

log = logging.getLogger("ocpp_station.local_list")

PROFILE = "LocalAuthListManagement"
# OCPP 1.6 §3.5.2: Accepted and ConcurrentTx mark a valid identifier.
VALID_STATUSES = frozenset({"Accepted", "ConcurrentTx"})


class LocalAuthListManagement:
    def __init__(self, station: StationContext, store: Store) -> None:
        self.st = station
        self.store = store
        # Fault injection (control API POST /api/local-list-failure; OCTT TC_043_3 "a state in which it will
        # fail to set a Local List"): while set, storing an update fails as a storage error would.
        self.storage_failing = False

    def handlers(self) -> dict[str, Handler]:
        return {"GetLocalListVersion": self.get_local_list_version, "SendLocalList": self.send_local_list}

    def supported(self) -> bool:
        # OCPP 1.6 §3.5.2: support is shown by LocalAuthListManagement in SupportedFeatureProfiles.
        return PROFILE in self.st.config.get_list("SupportedFeatureProfiles")

    def enabled(self) -> bool:
        """Whether authorization uses the list (OCPP 1.6 §9.2.1 LocalAuthListEnabled)."""
        return self.supported() and self.st.config.get_bool("LocalAuthListEnabled")

    def version(self) -> int:
        """The version GetLocalListVersion reports: 0 for an empty list, whatever was last sent (§5.10)."""
        if self.store.local_list_empty():
            return 0
        return int(self.store.get_meta("local_list_version") or "0")

    def get_local_list_version(self, req: Payload) -> Payload:
        if not self.enabled():
            # OCPP 1.6 §5.10: -1 = no local list; OCTT TC_042_1 also applies it to LocalAuthListEnabled=false.
            return {"listVersion": -1}
        return {"listVersion": self.version()}

    def send_local_list(self, req: Payload) -> Payload:
        if not self.enabled():
            return {"status": "NotSupported"}  # OCPP 1.6 §7.47; OCTT TC_043_1
        return {"status": self._apply(req)}

    def _apply(self, req: Payload) -> str:
        st = self.st
        full = req["updateType"] == "Full"
        version = int(req["listVersion"])
        entries = req.get("localAuthorizationList") or []
        if not full and version <= self.version():
            return "VersionMismatch"  # OCPP 1.6 §7.47; OCTT TC_043_2
        if version < 1:
            return "Failed"  # errata v4.0 3.52: 0 and -1 mean "empty" and "not supported"
        if len(entries) > st.config.get_int("SendLocalListMaxLength"):
            return "Failed"  # OCPP 1.6 §6.41 / §9.2.3
        parsed = _parse(entries, full)
        if parsed is None:
            return "Failed"
        upserts, deletes = parsed
        if full:
            size_after = len(upserts)
        else:
            known = self.store.local_list_known([e.id_tag for e in upserts] + deletes)
            added = sum(1 for e in upserts if e.id_tag.upper() not in known)
            removed = sum(1 for t in deletes if t.upper() in known)
            size_after = self.store.local_list_size() + added - removed
        if size_after > st.config.get_int("LocalAuthListMaxLength"):
            return "Failed"  # OCPP 1.6 §9.2.2
        try:
            if self.storage_failing:
                raise StoreWriteError("simulated storage failure (control API local-list-failure)")
            self.store.local_list_update(full, upserts, deletes, version)
        except StoreWriteError as exc:
            # One transaction: nothing of the update was kept, the old list and version stay (OCTT TC_043_3).
            log.warning("%s: SendLocalList could not be stored: %s", st.charge_box_id, exc)
            return "Failed"
        return "Accepted"

    def check_conflict(self, entry: IdTagEntry, id_tag_info: Payload) -> None:
        """OCPP 1.6 §3.5.2: when the central system's verdict on a listed idTag (e.g. in a
        StartTransaction.conf) contradicts the list, report it: StatusNotification, connectorId 0,
        errorCode LocalListConflict. The list itself is not changed (only SendLocalList may do that)."""
        st = self.st
        listed = effective_status(entry, st.now())
        central = str(id_tag_info["status"])
        central = "Accepted" if central in VALID_STATUSES else central
        if listed == central:
            return
        log.info("%s: list says %s for %s, central system %s", st.charge_box_id, listed, entry.id_tag, central)
        status = derive_station_status(st.station_inoperative, st.station_fault)
        st.report_error(0, status, "LocalListConflict", f"{entry.id_tag}: list {listed}, central {central}")


def effective_status(entry: IdTagEntry, now: float) -> str:
    """Accepted for a valid entry; a valid entry whose expiryDate has passed is Expired (OCPP 1.6 §3.5.4)."""
    if entry.status not in VALID_STATUSES:
        return entry.status
    return "Accepted" if entry.expiry is None or entry.expiry > now else "Expired"


def _parse(entries: list[Payload], full: bool) -> tuple[list[IdTagEntry], list[str]] | None:
    """(entries to add or update, idTags to delete), or None when the update must fail: an idTag given twice
    (OCPP 1.6 §6.41: idTags MUST be unique; compared case-insensitively, §7.28 IdToken), a Full entry without
    idTagInfo (§7.1), an unreadable expiryDate."""
    upserts: list[IdTagEntry] = []
    deletes: list[str] = []
    seen: set[str] = set()
    for item in entries:
        id_tag = str(item["idTag"])
        key = id_tag.upper()
        if key in seen:
            return None
        seen.add(key)
        info = item.get("idTagInfo")
        if info is None:
            if full:
                return None
            deletes.append(id_tag)
            continue
        expiry = None
        if info.get("expiryDate"):
            try:
                expiry = parse_iso(info["expiryDate"])
            except ValueError:
                return None
        upserts.append(IdTagEntry(id_tag, str(info["status"]), expiry, info.get("parentIdTag")))
    return upserts, deletes
