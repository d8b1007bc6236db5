"""The Smart Charging profile: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule (OCPP 1.6 §3.13, §5.5,
§5.7, §5.16; errata v4.0 3.8, 3.24–3.26, 3.29, 3.34, 3.37–3.39, 3.53, 3.57, 3.88; OCTT TC_056–TC_060, TC_066,
TC_067, TC_072, TC_082), and the limit the connectors actually offer.

The maths lives in `charging_schedule` (pure); this module keeps the installed profiles (persisted in the store,
so they survive restarts: errata v4.0 3.37), decides what SetChargingProfile accepts, ties TxProfiles to their
transaction (they end with it) and applies the composite limit: `CoreProfile._offer_energy` asks `limit_for`,
and a station timer re-applies at the next change point of any schedule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import pairwise

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.station.charging_schedule import (
    ChargingProfile,
    Electrical,
    Kind,
    ProfileError,
    Purpose,
    Transaction,
    applied_limits,
    composite_schedule,
    next_change,
)
from ocpp_station.station.connector import ActiveTransaction, Connector
from ocpp_station.station.contract import CallRejected, Handler, StationContext
from ocpp_station.station.outbox import Payload
from ocpp_station.station.ports import Store

log = logging.getLogger("ocpp_station.smart_charging")

TIMER = ("smart-charging", 0)
# Re-evaluate at least this often while a transaction runs: a wall-clock correction (BootNotification /
# Heartbeat currentTime) moves schedule instants against the monotonic timers.
MAX_TIMER_S = 60.0
# A TxProfile from RemoteStartTransaction waits this long (beyond ConnectionTimeOut and an Authorize round
# trip) for the transaction it was sent for.
REMOTE_PROFILE_GRACE_S = 10.0
# GetCompositeSchedule reports at most 31 days ahead; a longer duration is answered Rejected ("If the Charge Point is
# not able to report the requested schedule ... it SHALL respond with a status Rejected", OCPP 1.6 §5.7), not cut
# short, since the .conf's duration must be the one requested. Without a cap a duration of up to 2^31 s (68 years)
# of recurring profiles would make the station compute and send millions of periods; 31 days of the worst case
# (14 daily-recurring profiles of 48 periods, bench/bench_composite_schedule.py) are a few thousand, in milliseconds.
MAX_COMPOSITE_DURATION_S = 31 * 86_400


@dataclass(slots=True)
class _Pending:
    """A RemoteStartTransaction TxProfile waiting for its transaction (OCPP 1.6 §5.16.2)."""

    profile: ChargingProfile
    body: Payload
    id_tag: str
    held_at: float  # monotonic


class SmartCharging:
    def __init__(self, station: StationContext, store: Store, offer_energy: Callable[[Connector], None]) -> None:
        self.st = station
        self.store = store
        # Core's: apply a changed limit to a connector's contactor and offered current.
        self._offer_energy = offer_energy
        hw = station.settings.hardware
        self.electrical = Electrical(hw.voltage_v, hw.phases, hw.max_current_a, len(station.connectors))
        # Our choice where errata v4.0 3.57 (omit it) and OCTT TC_056/057/059/082 (check it) disagree: also fill
        # chargingSchedule.startSchedule (= scheduleStart) in GetCompositeSchedule.conf (settings [smart_charging]
        # include_start_schedule).
        self.include_start_schedule = station.settings.smart_charging.include_start_schedule
        self._profiles: dict[int, ChargingProfile] = {}
        self._bodies: dict[int, Payload] = {}
        self._tx_of: dict[int, int] = {}  # TxProfile id -> local id of its transaction
        self._pending: dict[int, _Pending] = {}  # connector id -> RemoteStart TxProfile
        self._seen_tx: dict[int, int] = {}  # connector id -> local id of the transaction last offered energy
        self._offered: dict[int, Decimal] = {}  # connector id -> limit last given to the hardware
        self._batch: dict[int, Decimal] | None = None
        self._load()

    def handlers(self) -> dict[str, Handler]:
        return {
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.get_composite_schedule,
            "SetChargingProfile": self.set_charging_profile,
        }

    # -- the installed profiles -----------------------------------------------------------------------
    def profiles(self) -> list[ChargingProfile]:
        return list(self._profiles.values())

    def _load(self) -> None:
        dropped: list[int] = []
        for connector_id, body in self.store.profiles():
            try:
                profile = ChargingProfile.from_payload(connector_id, body)
            except ProfileError as exc:
                log.warning("%s: dropping unreadable stored charging profile: %s", self.st.charge_box_id, exc)
                dropped.append(int(body.get("chargingProfileId", -1)))
                continue
            if profile.purpose is Purpose.TX:
                # Its transaction ended with the power cycle (every open transaction is stopped at start).
                dropped.append(profile.profile_id)
                continue
            self._keep(profile, body)
        if dropped:
            self.store.delete_profiles(dropped)

    def _install(self, profile: ChargingProfile, body: Payload, local_tx: int | None) -> bool:
        """Add or replace (same id, or same purpose + stackLevel on the same connector: OCPP 1.6 §5.16.3)."""
        replaced = [
            pid
            for pid, p in self._profiles.items()
            if pid == profile.profile_id
            or (
                p.purpose is profile.purpose
                and p.stack_level == profile.stack_level
                and p.connector_id == profile.connector_id
            )
        ]
        if len(self._profiles) - len(replaced) + 1 > self.st.config.get_int("MaxChargingProfilesInstalled"):
            return False
        with self.store.atomic():
            self.store.delete_profiles(replaced)
            self.store.put_profile(profile.profile_id, profile.connector_id, body)
        for pid in replaced:
            self._forget(pid)
        self._keep(profile, body)
        if local_tx is not None:
            self._tx_of[profile.profile_id] = local_tx
        return True

    def _keep(self, profile: ChargingProfile, body: Payload) -> None:
        self._profiles[profile.profile_id] = profile
        self._bodies[profile.profile_id] = body
        for unit in ("A", "W"):  # convert once, at installation, not in every GetCompositeSchedule
            profile.converted(unit, self.electrical.voltage)

    def _forget(self, profile_id: int) -> None:
        self._profiles.pop(profile_id, None)
        self._bodies.pop(profile_id, None)
        self._tx_of.pop(profile_id, None)

    def _delete(self, profile_ids: list[int]) -> None:
        self.store.delete_profiles(profile_ids)
        for pid in profile_ids:
            self._forget(pid)

    def _sync(self) -> None:
        """TxProfiles follow their transaction: they take its transactionId once StartTransaction.conf gave it,
        and go when it is no longer running."""
        gone: list[int] = []
        for pid, local_id in list(self._tx_of.items()):
            profile = self._profiles[pid]
            tx = self.st.connectors[profile.connector_id - 1].transaction
            if tx is None or tx.local_id != local_id:
                gone.append(pid)
            elif tx.transaction_id is not None and profile.transaction_id is None:
                body = {**self._bodies[pid], "transactionId": tx.transaction_id}
                self.store.put_profile(pid, profile.connector_id, body)
                self._keep(replace(profile, transaction_id=tx.transaction_id), body)
        if gone:
            self._delete(gone)

    def _transactions(self) -> dict[int, Transaction]:
        return {
            c.connector_id: Transaction(c.transaction.start_time, c.transaction.transaction_id)
            for c in self.st.connectors
            if c.transaction is not None
        }

    # -- acceptance (OCPP 1.6 §3.13.1, §5.16; errata v4.0 3.88; OCTT TC_058; limit checks: our choice) -----
    def _rejection(self, profile: ChargingProfile) -> str | None:
        """Why SetChargingProfile must answer Rejected, or None."""
        config = self.st.config
        sched = profile.schedule
        periods = sched.periods
        if profile.purpose is Purpose.CHARGE_POINT_MAX and profile.connector_id != 0:
            return "ChargePointMaxProfile is only for connector 0"
        if profile.purpose is Purpose.TX and profile.connector_id == 0:
            return "a TxProfile needs a connector > 0"
        if profile.purpose is not Purpose.TX and profile.transaction_id is not None:
            return "transactionId is only for a TxProfile"
        if not 0 <= profile.stack_level <= config.get_int("ChargeProfileMaxStackLevel"):
            return f"stackLevel {profile.stack_level} outside 0..ChargeProfileMaxStackLevel"
        if not periods or len(periods) > config.get_int("ChargingScheduleMaxPeriods"):
            return f"{len(periods)} periods (1..ChargingScheduleMaxPeriods)"
        allowed = {"A": "Current", "W": "Power"}.get(sched.charging_rate_unit)
        if allowed is None or allowed not in config.get_list("ChargingScheduleAllowedChargingRateUnit"):
            return f"chargingRateUnit {sched.charging_rate_unit} not allowed"
        if periods[0].start_period != 0:
            return "the first startPeriod must be 0"
        if any(b.start_period <= a.start_period for a, b in pairwise(periods)):
            return "startPeriod values must increase"
        for p in periods:
            if p.limit < 0 or (p.limit * 10) % 1 != 0:
                return f"limit {p.limit} is not a non-negative value with one decimal"
            if p.number_phases is not None and not 1 <= p.number_phases <= 3:
                return f"numberPhases {p.number_phases} outside 1..3"
        if sched.duration is not None and sched.duration < 0:
            return "negative duration"
        if sched.min_charging_rate is not None and sched.min_charging_rate < 0:
            return "negative minChargingRate"
        if profile.kind is not Kind.RELATIVE and sched.start_schedule is None:
            return f"an {profile.kind} profile needs startSchedule"
        if profile.kind is Kind.RECURRING and profile.recurrency is None:
            return "a Recurring profile needs recurrencyKind"
        if profile.kind is Kind.RELATIVE and profile.purpose is Purpose.CHARGE_POINT_MAX:
            return "a ChargePointMaxProfile cannot be Relative (it has no transaction to start from)"
        if profile.valid_from is not None and profile.valid_to is not None and profile.valid_to <= profile.valid_from:
            return "validTo is not after validFrom"
        return None

    # -- CS→CP calls ------------------------------------------------------------------------------------
    def set_charging_profile(self, req: Payload) -> Payload:
        st = self.st
        connector_id = int(req["connectorId"])
        if not 0 <= connector_id <= len(st.connectors):
            # errata v4.0 3.38/3.39: an invalid connectorId is a PropertyConstraintViolation
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"no connector {connector_id}")
        body = req["csChargingProfiles"]
        try:
            profile = ChargingProfile.from_payload(connector_id, body)
        except ProfileError as exc:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(exc)) from None
        self._sync()
        reason = self._rejection(profile)
        local_tx = None
        if reason is None and profile.purpose is Purpose.TX:
            tx = st.connectors[connector_id - 1].transaction
            if tx is None:
                reason = f"no transaction on connector {connector_id}"  # OCTT TC_058_1
            elif profile.transaction_id is not None and profile.transaction_id != tx.transaction_id:
                reason = f"transaction {profile.transaction_id} is not running on connector {connector_id}"
            else:
                local_tx = tx.local_id
                if tx.transaction_id is not None:
                    profile = replace(profile, transaction_id=tx.transaction_id)
                    body = {**body, "transactionId": tx.transaction_id}
        if reason is None and not self._install(profile, body, local_tx):
            reason = "MaxChargingProfilesInstalled reached"
        if reason is not None:
            log.info("%s: SetChargingProfile %s rejected: %s", st.charge_box_id, profile.profile_id, reason)
            return {"status": "Rejected"}
        st.defer(self.reapply)
        return {"status": "Accepted"}

    def clear_charging_profile(self, req: Payload) -> Payload:
        self._sync()
        if req.get("id") is not None:
            # OCPP 1.6 §5.5; errata v4.0 3.25/3.26: with an id, that profile only; the other fields are ignored
            ids = [int(req["id"])] if int(req["id"]) in self._profiles else []
        else:
            connector_id = req.get("connectorId")
            purpose = req.get("chargingProfilePurpose")
            level = req.get("stackLevel")
            ids = [
                pid
                for pid, p in self._profiles.items()
                if (connector_id is None or p.connector_id == int(connector_id))
                and (purpose is None or p.purpose == purpose)
                and (level is None or p.stack_level == int(level))
            ]
        if not ids:
            return {"status": "Unknown"}
        self._delete(ids)
        self.st.defer(self.reapply)
        return {"status": "Accepted"}

    def get_composite_schedule(self, req: Payload) -> Payload:
        st = self.st
        connector_id = int(req["connectorId"])
        duration = int(req["duration"])
        if not 0 <= connector_id <= len(st.connectors) or not 0 <= duration <= MAX_COMPOSITE_DURATION_S:
            return {"status": "Rejected"}
        unit = req.get("chargingRateUnit")
        if unit is None:
            unit = "A" if "Current" in st.config.get_list("ChargingScheduleAllowedChargingRateUnit") else "W"
        self._sync()
        # From the request's whole second: profile instants are whole seconds in practice, so the periods
        # come out exact, and the report starts less than a second before receipt (OCPP 1.6 §5.7).
        start = float(math.floor(st.now()))
        composite = composite_schedule(
            self.profiles(),
            connector_id,
            start,
            duration,
            unit,
            electrical=self.electrical,
            transactions=self._transactions(),
        )
        when = iso_utc(start)
        schedule: Payload = {
            "duration": duration,
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [
                {"startPeriod": p.start_period, "limit": p.limit, "numberPhases": p.number_phases}
                for p in composite.periods
            ],
        }
        if self.include_start_schedule:
            schedule["startSchedule"] = when
        return {"status": "Accepted", "connectorId": connector_id, "scheduleStart": when, "chargingSchedule": schedule}

    # -- RemoteStartTransaction with a TxProfile (OCPP 1.6 §5.16.2) ----------------------------------------
    def hold_remote_profile(self, connector_id: int, id_tag: str, body: Payload) -> bool:
        """Keep the TxProfile of an accepted RemoteStartTransaction for the transaction it starts; False when the
        profile is not acceptable (the remote start is then Rejected)."""
        try:
            profile = ChargingProfile.from_payload(connector_id, body)
        except ProfileError:
            return False
        reason = self._rejection(profile)
        if profile.purpose is not Purpose.TX:
            reason = "only a TxProfile may come with RemoteStartTransaction"
        elif reason is None and profile.transaction_id is not None:
            reason = "a RemoteStartTransaction profile has no transactionId"
        if reason is not None:
            log.info("%s: RemoteStartTransaction profile rejected: %s", self.st.charge_box_id, reason)
            return False
        self._pending[connector_id] = _Pending(profile, body, id_tag, self.st.mono())
        return True

    def _transaction_started(self, c: Connector, tx: ActiveTransaction) -> None:
        pending = self._pending.pop(c.connector_id, None)
        if pending is None or pending.id_tag.upper() != tx.id_tag.upper():
            return
        window = self.st.config.get_int("ConnectionTimeOut") + self.st.settings.network.response_timeout_s
        if self.st.mono() - pending.held_at > window + REMOTE_PROFILE_GRACE_S:
            return
        if not self._install(pending.profile, pending.body, tx.local_id):
            log.warning("%s: RemoteStartTransaction profile dropped (profile limit)", self.st.charge_box_id)

    # -- applying the limit ------------------------------------------------------------------------------------
    def limit_for(self, c: Connector) -> float | None:
        """The current (A per phase) connector `c` may offer now; None without a transaction.

        Called by `CoreProfile._offer_energy`; sets the connector's `limit_withheld` fact (0 A ⇒ SuspendedEVSE),
        lets the other connectors give way under a shared ChargePointMaxProfile, and arms the timer for the
        next change point.
        """
        tx = c.transaction
        if tx is None:
            c.limit_withheld = False
            self._offered.pop(c.connector_id, None)
            return None
        if self._seen_tx.get(c.connector_id) != tx.local_id:
            self._seen_tx[c.connector_id] = tx.local_id
            self._transaction_started(c, tx)
        batch = self._batch
        if batch is None:
            self._sync()
            limits = applied_limits(self.profiles(), self.st.now(), self._transactions(), electrical=self.electrical)
        else:
            limits = batch
        limit = limits[c.connector_id]
        c.limit_withheld = limit == 0
        self._offered[c.connector_id] = limit
        if batch is None:
            changed = [
                other
                for other in self.st.connectors
                if other is not c
                and other.transaction is not None
                and self._offered.get(other.connector_id) != limits[other.connector_id]
            ]
            self._offer(changed, limits)
            self._arm()
        return float(limit)

    def _offer(self, connectors: list[Connector], limits: dict[int, Decimal]) -> None:
        self._batch = limits
        try:
            for c in connectors:
                self._offer_energy(c)
        finally:
            self._batch = None

    def reapply(self, refresh: bool = True) -> None:
        """Give every connector with a transaction its current limit (after a profile change, at a change point)."""
        self._sync()
        running = [c for c in self.st.connectors if c.transaction is not None]
        withheld = [c.limit_withheld for c in running]
        if running:
            limits = applied_limits(self.profiles(), self.st.now(), self._transactions(), electrical=self.electrical)
            self._offer(running, limits)
        self._arm()
        if refresh and withheld != [c.limit_withheld for c in running]:
            self.st.refresh_status()  # 0 A ⇔ SuspendedEVSE

    def on_transaction_stopped(self, c: Connector, tx: ActiveTransaction) -> None:
        """A TxProfile SHALL cease to be valid when its transaction terminates (OCPP 1.6 §3.13.1, §7.10)."""
        c.limit_withheld = False
        self._offered.pop(c.connector_id, None)
        self._delete([pid for pid, local_id in self._tx_of.items() if local_id == tx.local_id])
        self.reapply(refresh=False)  # the others may now have more of a shared ChargePointMaxProfile

    def _arm(self) -> None:
        st = self.st
        transactions = self._transactions()
        if not transactions:
            st.timers.cancel(TIMER)
            return
        now = st.now()
        change = next_change(self.profiles(), now, transactions, electrical=self.electrical, horizon=MAX_TIMER_S)
        st.timers.arm(TIMER, st.mono() + max(0.001, change - now), self.reapply)
