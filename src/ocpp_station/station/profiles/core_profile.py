"""The Core profile: authorization, transactions, meter values, remote control, availability, reset.

Every transaction fact is committed to the store before the station acts on it or reports it, and the
transaction-related messages (StartTransaction, StopTransaction, periodic and clock-aligned MeterValues)
go through the durable, ordered queue of OCPP 1.6 §3.7.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp_station.clock import iso_utc
from ocpp_station.hardware.interfaces import StationHardware
from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.station.authorization import Authorizer, Decision
from ocpp_station.station.configuration import TooManyKeys
from ocpp_station.station.connector import ActiveTransaction, Authorization, Connector
from ocpp_station.station.contract import CallRejected, Handler, StationContext
from ocpp_station.station.metering import meter_value, sampled_values
from ocpp_station.station.outbox import OutboundCall, Payload
from ocpp_station.station.ports import Store, StoreWriteError
from ocpp_station.station.profiles.reservation import Reservation
from ocpp_station.station.profiles.smart_charging import SmartCharging
from ocpp_station.station.queue_limits import QueueGuard

log = logging.getLogger("ocpp_station.core")

QUEUED_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


class CoreProfile:
    """Also the station's HardwareListener: hardware events arrive here."""

    def __init__(
        self,
        station: StationContext,
        store: Store,
        hardware: StationHardware,
        *,
        auth: Authorizer,
        reservation: Reservation,
        smart_charging: SmartCharging,
        queue_guard: QueueGuard,
    ) -> None:
        self.st = station
        self.store = store
        self.hardware = hardware
        self.auth = auth
        self.reservation = reservation
        self.smart_charging = smart_charging
        self.queue_guard = queue_guard  # the queue's bound and its policy (queue_limits.py)

    def handlers(self) -> dict[str, Handler]:
        return {
            "ChangeAvailability": self.change_availability,
            "ChangeConfiguration": self.change_configuration,
            "ClearCache": self.clear_cache,
            "DataTransfer": self.data_transfer,
            "GetConfiguration": self.get_configuration,
            "RemoteStartTransaction": self.remote_start_transaction,
            "RemoteStopTransaction": self.remote_stop_transaction,
            "Reset": self.reset,
            "UnlockConnector": self.unlock_connector,
        }

    # -- start-up ---------------------------------------------------------------------------------
    def recover(self) -> None:
        """Transactions still open in the store were cut by a power loss: end them (OCPP 1.6 §4.10)."""
        for record in self.store.open_transactions():
            c = self.st.connector(record.connector_id)
            c.transaction = ActiveTransaction(
                record.local_id,
                record.id_tag,
                record.parent_id_tag,
                record.transaction_id,
                record.meter_start,
                record.start_time,
                self.st.mono(),
            )
            reason = self.store.get_meta("stop_reason") or "PowerLoss"
            # A cable still in keeps the connector Finishing (stop_transaction sets it): the transaction has
            # stopped but the connector is not free (OCPP 1.6 §4.9); the status after the boot then already
            # reports it (OCTT TC_032_2 step 7 "only send when not already notified of the status Finishing").
            self.stop_transaction(c, reason, None)
        self.store.set_meta("stop_reason", "")

    def on_accepted(self) -> None:
        self._arm_aligned()

    def power_failure(self) -> None:
        """Mains lost, backup supply on: stop every transaction before going down (reason PowerLoss,
        OCPP 1.6 §7.39; OCTT TC_032_1)."""
        for c in self.st.connectors:
            self.stop_transaction(c, "PowerLoss", None)

    # -- hardware events (HardwareListener) ------------------------------------------------------------
    def on_plug_changed(self, connector_id: int, plugged: bool) -> None:
        c = self.st.connector(connector_id)
        hw = self.hardware.connectors[connector_id - 1]
        ev_left = c.plugged and not plugged
        c.plugged = plugged
        c.ev_ready = hw.ev_ready
        # A detachable cable unplugged at the EV stays in the socket: Finishing until it is taken out.
        c.cable_in_socket = hw.cable_in_socket
        if plugged:
            c.finishing = False
            tx = c.transaction
            if tx is not None and tx.ev_disconnected:
                # OCPP 1.6 §4.10 (StopTransactionOnEVSideDisconnect=false): the EV is back, energy may flow again.
                tx.ev_disconnected = False
                if c.fault is None:
                    c.fault_info = None  # the "EV side disconnected" note
                self.offer_energy(c)
            self.try_start(c)
        else:
            if ev_left and c.transaction is not None:
                self._ev_side_disconnected(c)
            c.finishing = c.finishing and c.cable_in_socket
            if not c.cable_in_socket and c.fault == "ConnectorLockFailure" and hw.fault is None:
                # OCTT TC_024: the lock failure of the start attempt ends when the cable is taken away.
                c.fault, c.fault_info = None, None
        self.st.refresh_status()

    def _ev_side_disconnected(self, c: Connector) -> None:
        tx = c.transaction
        assert tx is not None
        if self.st.config.get_bool("StopTransactionOnEVSideDisconnect"):
            # OCPP 1.6 §9.1.33: unlock on the EV-side disconnect only if UnlockConnectorOnEVSideDisconnect;
            # otherwise the cable stays locked until UnlockConnector (OCTT TC_005_2).
            unlock = self.st.config.get_bool("UnlockConnectorOnEVSideDisconnect")
            self.stop_transaction(c, "EVDisconnected", None, unlock=unlock)
        else:
            # OCPP 1.6 §4.10: the transaction goes on, SuspendedEV, cable stays locked.
            tx.ev_disconnected = True
            self.offer_energy(c)
            c.fault_info = "EV side disconnected"

    def on_fault_changed(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        if connector_id == 0:
            self.st.station_fault, self.st.station_fault_info = error_code, info
            for c in self.st.connectors:
                self.offer_energy(c)
        else:
            c = self.st.connector(connector_id)
            c.fault, c.fault_info = error_code, info
            if error_code is not None:
                c.authorization = None
            self.offer_energy(c)
        self.st.refresh_status()

    def on_ev_ready_changed(self, connector_id: int, ev_ready: bool) -> None:
        self.st.connector(connector_id).ev_ready = ev_ready
        self.st.refresh_status()

    def on_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        st = self.st
        if self._release_held_cable(id_tag, connector_id):
            return
        # OCPP 1.6 §3.5: presenting the idTag of a running transaction stops it, without Authorize.
        for c in st.connectors:
            tx = c.transaction
            same_tag = tx is not None and tx.id_tag.upper() == id_tag.upper()
            if same_tag and connector_id in (None, c.connector_id):
                self.stop_transaction(c, "Local", id_tag)
                st.refresh_status()
                return
        target = self._connector_for_start(connector_id, id_tag)
        if target is None:
            running = [
                c
                for c in st.connectors
                if c.transaction is not None
                and c.transaction.parent_id_tag
                and (connector_id is None or connector_id == c.connector_id)
            ]
            if running:
                self._stop_by_parent(id_tag, running)
            else:
                log.info("%s: idTag presented but no connector can start", st.charge_box_id)
            return
        self._authorize_for(target, id_tag, remote=False)

    def _release_held_cable(self, id_tag: str, connector_id: int | None) -> bool:
        """Errata v4.0 3.5: the owner of a cable held after a DeAuthorized stop presents the idTag (or one
        with the same parentIdTag, as far as the list or cache know it): unlock it."""
        parent = self.auth.parent_of(id_tag)
        for c in self.st.connectors:
            if c.held_for is None or connector_id not in (None, c.connector_id):
                continue
            owner, owner_parent = c.held_for
            same_parent = owner_parent is not None and parent is not None and owner_parent.upper() == parent.upper()
            if owner.upper() == id_tag.upper() or same_parent:
                c.held_for = None
                self.hardware.connectors[c.connector_id - 1].unlock()
                return True
        return False

    def _stop_by_parent(self, id_tag: str, running: list[Connector]) -> None:
        # OCPP 1.6 §3.5: another idTag may stop a transaction if both share the parentIdTag.
        def decided(decision: Decision) -> None:
            if not decision.accepted or decision.parent_id_tag is None:
                return
            for c in running:
                tx = c.transaction
                if tx is not None and tx.parent_id_tag == decision.parent_id_tag:
                    self.stop_transaction(c, "Local", id_tag)
                    self.st.refresh_status()
                    return

        self.auth.authorize(id_tag, decided)

    def _can_start(self, c: Connector) -> bool:
        return (
            c.transaction is None
            and c.held_for is None  # errata v4.0 3.5: a held cable is its owner's until released
            and not c.inoperative
            and not self.st.station_inoperative
            and c.fault is None
            and self.st.station_fault is None
        )

    def _connector_for_start(self, connector_id: int | None, id_tag: str | None = None) -> Connector | None:
        if connector_id is not None:
            c = self.st.connector(connector_id)
            return c if self._can_start(c) and c.authorization is None else None
        free = [c for c in self.st.connectors if self._can_start(c) and c.authorization is None]
        bookings = self.reservation

        def preference(c: Connector) -> tuple[int, int, int]:
            # A cable already waiting first (OCPP 1.6 §4.9 Preparing), then the tag's own reservation,
            # then connectors nobody holds; connectors held for someone else last.
            holder = bookings.booking_for(c)
            own = holder is not None and id_tag is not None and holder.admits(id_tag, None)
            waiting = c.plugged and not c.finishing
            return (0 if waiting else 1, 0 if own else 1 if holder is None else 2, c.connector_id)

        candidates = sorted((c for c in free if not c.finishing or c.plugged), key=preference)
        return candidates[0] if candidates else None

    def _authorize_for(self, c: Connector, id_tag: str, remote: bool) -> None:
        if self.reservation.refuses(c, id_tag):
            log.info("%s: %s refused: connector %d is reserved", self.st.charge_box_id, id_tag, c.connector_id)
            return
        # A connector held by a reservation for someone else shows nothing until the tag's parent is
        # known (OCTT TC_046_1: only the reserved idTag makes it Preparing).
        # Without a cable the connector turns Preparing only once the idTag is accepted: OCTT orders
        # Authorize.req before StatusNotification(Preparing) (TC_011_1/_2, TC_024, TC_046_1, TC_061 step 7).
        # With the cable in, Preparing (from Reserved) comes first (Table 105 "Charging", steps 7 and 9).
        if c.plugged and not self.reservation.needs_parent_check(c, id_tag):
            c.authorization = Authorization(id_tag, None, remote)
            self.st.refresh_status()

        def decided(decision: Decision) -> None:
            auth = c.authorization
            if auth is not None and auth.id_tag != id_tag:
                return  # superseded by another start on this connector
            admitted, reservation_id = self.reservation.claim(c, id_tag, decision.parent_id_tag)
            if not decision.accepted or not admitted or not self._can_start(c) or c.transaction is not None:
                c.authorization = None
                self.st.refresh_status()
                return
            if auth is None:
                auth = c.authorization = Authorization(id_tag, None, remote)
            auth.parent_id_tag = decision.parent_id_tag
            auth.reservation_id = reservation_id
            auth.decided = True
            self._authorized(c)

        self.auth.authorize(id_tag, decided)

    def _authorized(self, c: Connector) -> None:
        if c.plugged:
            # Preparing is reported before the transaction starts, also from Reserved with the cable already in
            # (OCPP 1.6 §4.9: Reserved → Preparing (G2) → Charging; there is no Reserved → Charging).
            self.st.refresh_status()
            self.try_start(c)
        else:
            # OCPP 1.6 §9.1.7 ConnectionTimeOut: the cable must follow within this time.
            timeout = self.st.config.get_int("ConnectionTimeOut")
            self.st.timers.arm(("connection", c.connector_id), self.st.mono() + timeout, lambda: self._expire(c))
        self.st.refresh_status()

    def _expire(self, c: Connector) -> None:
        if c.transaction is None and c.authorization is not None and not c.plugged:
            c.authorization = None
            self.st.refresh_status()

    # -- transactions ----------------------------------------------------------------------------------
    def try_start(self, c: Connector) -> None:
        auth = c.authorization
        st = self.st
        if auth is None or not auth.decided or not c.plugged or not self._can_start(c):
            return
        hw = self.hardware.connectors[c.connector_id - 1]
        if not hw.lock():
            # OCTT TC_024: a lock failure is Faulted/ConnectorLockFailure and no transaction starts.
            c.authorization = None
            c.fault, c.fault_info = "ConnectorLockFailure", None
            st.refresh_status()
            return
        st.timers.cancel(("connection", c.connector_id))
        now = st.now()
        reading = hw.meter.read(now)
        meter_start = int(reading.energy_import_wh)
        payload: Payload = {
            "connectorId": c.connector_id,
            "idTag": auth.id_tag,
            "meterStart": meter_start,
            "timestamp": iso_utc(now),
        }
        if auth.reservation_id is not None:
            payload["reservationId"] = auth.reservation_id
        with self.store.atomic():
            local_id = self.store.create_transaction(
                c.connector_id, auth.id_tag, auth.parent_id_tag, meter_start, now, auth.reservation_id
            )
            st.enqueue("StartTransaction", payload, local_id)
            self._persist_register(c.connector_id, reading.energy_import_wh)
        c.transaction = ActiveTransaction(local_id, auth.id_tag, auth.parent_id_tag, None, meter_start, now, st.mono())
        c.authorization = None
        c.finishing = False
        if auth.reservation_id is not None:
            # OCPP 1.6 §5.13: the reservation ends when its transaction starts.
            booking = self.reservation.bookings.get(auth.reservation_id)
            if booking is not None:
                self.reservation.end(booking, "used")
        self.offer_energy(c)
        self._arm_sampling(c)
        st.refresh_status()
        st.wake()

    def stop_transaction(self, c: Connector, reason: str, id_tag: str | None, *, unlock: bool = True) -> None:
        tx = c.transaction
        st = self.st
        if tx is None:
            return
        hw = self.hardware.connectors[c.connector_id - 1]
        now = st.now()
        hw.set_energy_offered(now, False, None)
        reading = hw.meter.read(now)
        payload: Payload = {
            "meterStop": int(reading.energy_import_wh),
            "timestamp": iso_utc(now),
            "reason": reason,
        }
        if id_tag is not None:
            payload["idTag"] = id_tag
        data = self._stop_transaction_data(c, reading)
        if data:
            payload["transactionData"] = data
        with self.store.atomic():
            st.enqueue("StopTransaction", payload, tx.local_id)
            self.store.mark_stopped(tx.local_id)
            self._persist_register(c.connector_id, reading.energy_import_wh)
        c.transaction = None
        c.fault_info = None
        st.timers.cancel(("sample", c.connector_id))
        # OCPP 1.6 §4.10: a normal stop unlocks the cable (also after a StopTransactionOnEVSideDisconnect=false
        # suspension, OCTT TC_005_3); a fixed cable has no lock to open.
        if unlock and not hw.fixed_cable:
            hw.unlock()
        c.finishing = c.plugged or c.cable_in_socket
        self.smart_charging.on_transaction_stopped(c, tx)
        st.refresh_status()
        st.wake()

    def _stop_transaction_data(self, c: Connector, reading: Any) -> list[dict[str, Any]]:
        measurands = self.st.config.get_list("StopTxnSampledData")
        if not measurands:
            return []
        values = sampled_values(reading, measurands, "Transaction.End")
        return [meter_value(iso_utc(reading.timestamp), values)] if values else []

    def offer_energy(self, c: Connector) -> None:
        hw = self.hardware.connectors[c.connector_id - 1]
        tx = c.transaction
        enabled = (
            tx is not None
            and not tx.deauthorized
            and not tx.ev_disconnected
            and c.fault is None
            and self.st.station_fault is None
        )
        hw.set_energy_offered(self.st.now(), enabled, self.smart_charging.limit_for(c))

    def _persist_register(self, connector_id: int, energy_wh: float) -> None:
        # Meter registers survive restarts so that readings never go backwards (errata v4.0 3.9).
        self.store.set_meta(f"energy.{connector_id}", repr(energy_wh))

    def running(self, transaction_id: int) -> Connector | None:
        for c in self.st.connectors:
            if c.transaction is not None and c.transaction.transaction_id == transaction_id:
                return c
        return None

    # -- the transaction-related message queue (OCPP 1.6 §3.7) ---------------------------------------
    def next_queued_call(self) -> OutboundCall | None:
        st = self.st
        self.queue_guard.recheck()
        head = self.store.queue_head()
        if head is None:
            return None
        if head.not_before > st.now():
            st.timers.arm("queue-retry", st.mono() + (head.not_before - st.now()), st.wake)
            return None
        payload = dict(head.payload)
        if head.local_tx is not None and head.action != "StartTransaction":
            record = self.store.transaction_record(head.local_tx)
            # Errata v4.0 3.18: without a transactionId from the central system, send -1.
            tid = record.transaction_id if record is not None and record.transaction_id is not None else -1
            payload["transactionId"] = tid
        return OutboundCall(head.action, payload, head.unique_id, queue_seq=head.seq)

    def on_queued_result(self, call: OutboundCall, payload: Payload) -> None:
        st = self.st
        head = self.store.queue_head()
        if head is None or head.seq != call.queue_seq:
            return
        if call.action == "StartTransaction":
            info = payload["idTagInfo"]
            transaction_id = int(payload["transactionId"])
            with self.store.atomic():
                self.store.set_transaction_id(head.local_tx or 0, transaction_id, "accepted")
                self.store.dequeue(head.seq)
            self.auth.remember(call.payload["idTag"], info)
            for c in st.connectors:
                tx = c.transaction
                if tx is not None and tx.local_id == head.local_tx:
                    tx.transaction_id = transaction_id
                    if info.get("parentIdTag") and tx.parent_id_tag is None:
                        tx.parent_id_tag = info["parentIdTag"]
                        self.store.set_transaction_parent(tx.local_id, tx.parent_id_tag)
                    if info["status"] != "Accepted":
                        self._deauthorize(c)
        else:
            self.store.dequeue(head.seq)
            if call.action == "StopTransaction" and "idTagInfo" in payload and "idTag" in call.payload:
                self.auth.remember(call.payload["idTag"], payload["idTagInfo"])

    def _deauthorize(self, c: Connector) -> None:
        # OCPP 1.6 §3.5.4 / errata v4.0 3.17: the central system refused the idTag of a running transaction.
        if self.st.config.get_bool("StopTransactionOnInvalidId"):
            tx = c.transaction
            assert tx is not None
            hw = self.hardware.connectors[c.connector_id - 1]
            # Errata v4.0 3.5: stop normally, but keep the cable locked until its owner comes back, so that
            # nobody else can walk away with it.
            held = not hw.fixed_cable and c.plugged
            self.stop_transaction(c, "DeAuthorized", None, unlock=not held)
            c.held_for = (tx.id_tag, tx.parent_id_tag) if held else None
        else:
            tx = c.transaction
            assert tx is not None
            tx.deauthorized = True
            self.offer_energy(c)
        self.st.refresh_status()

    def on_queued_failure(self, call: OutboundCall, reason: str) -> str:
        """Apply the retry rules; returns what happens next (the link puts it in its one log line)."""
        st = self.st
        if reason == "disconnected":
            # Not a failure to process (a CallError, OCPP-J errata 3.3; OCPP 1.6 §3.7.1): our reading. It is resent
            # after reconnection, with the same id allowed (OCPP-J errata 3.1).
            return "kept queued for the next connection"
        head = self.store.queue_head()
        if head is None or head.seq != call.queue_seq:
            return "already settled"
        attempts = head.attempts + 1
        allowed = max(1, st.config.get_int("TransactionMessageAttempts"))
        if attempts >= allowed:
            with self.store.atomic():
                if call.action == "StartTransaction" and head.local_tx is not None:
                    self.store.set_transaction_id(head.local_tx, None, "failed")
                self.store.dequeue(head.seq)
            return f"dropped after {attempts} failed attempt(s) (TransactionMessageAttempts {allowed})"
        # OCPP 1.6 §9.1.32: wait interval × number of previous transmissions before each resend.
        interval = st.config.get_int("TransactionMessageRetryInterval") * attempts
        self.store.defer(head.seq, attempts, st.now() + interval, head.unique_id)
        return f"attempt {attempts} of {allowed} failed, resent in {interval} s (TransactionMessageRetryInterval)"

    # -- meter values ----------------------------------------------------------------------------------
    def _arm_sampling(self, c: Connector, previous: float | None = None) -> None:
        interval = self.st.config.get_int("MeterValueSampleInterval")
        key = ("sample", c.connector_id)
        if interval <= 0 or c.transaction is None:
            self.st.timers.cancel(key)
            return
        # OCPP 1.6 §3.16.1: "periodically at this interval from the start of the charging transaction": on
        # the grid start + k × interval, so a late timer does not push every later sample (OCTT TC_070, TC_036).
        now = self.st.mono()
        start = c.transaction.start_mono
        due = start + (max(0.0, now - start) // interval + 1) * interval if previous is None else previous + interval
        while due <= now:
            due += interval  # a stall longer than the interval: the missed slots are gone, stay on the grid
        self.st.timers.arm(key, due, lambda: self._sample(c, due))

    def _sample(self, c: Connector, due: float) -> None:
        tx = c.transaction
        if tx is None:
            return
        measurands = self.st.config.get_list("MeterValuesSampledData") or ["Energy.Active.Import.Register"]
        self._queue_meter_values(c.connector_id, tx.local_id, measurands, "Sample.Periodic", self.st.now())
        self._arm_sampling(c, due)

    def _queue_meter_values(
        self, connector_id: int, local_tx: int | None, measurands: list[str], context: str, at: float
    ) -> None:
        st = self.st
        if not self.queue_guard.allows_meter_values():
            return  # queue full or disk low: samples pause, Start/Stop still queue (queue_limits.py)
        meter = self.hardware.main_meter if connector_id == 0 else self.hardware.connectors[connector_id - 1].meter
        reading = meter.read(st.now())
        values = sampled_values(reading, measurands, context)
        if not values:
            return
        payload: Payload = {"connectorId": connector_id, "meterValue": [meter_value(iso_utc(at), values)]}
        try:
            with self.store.atomic():
                st.enqueue("MeterValues", payload, local_tx)
                if connector_id > 0:
                    self._persist_register(connector_id, reading.energy_import_wh)
        except StoreWriteError as exc:  # e.g. SQLITE_FULL: a sample is lost, the timer (and the station) go on
            log.warning("%s: MeterValues not queued: %s", st.charge_box_id, exc)
            return
        st.wake()

    def _arm_aligned(self, after: float | None = None) -> None:
        interval = self.st.config.get_int("ClockAlignedDataInterval")
        if interval <= 0:
            self.st.timers.cancel("aligned")
            return
        # Strictly after the boundary just reported: a wall clock set back a little (BootNotification /
        # Heartbeat currentTime) must not report the same boundary twice (OCTT TC_071).
        now = self.st.now() if after is None else max(self.st.now(), after)
        # OCPP 1.6 §9.1.5: slots are counted from midnight (UTC), so readings fall on the boundaries.
        day_start = now - (now % 86_400)
        boundary = day_start + ((now - day_start) // interval + 1) * interval
        self.st.timers.arm("aligned", self.st.mono() + (boundary - now), lambda: self._aligned(boundary))

    def _aligned(self, boundary: float) -> None:
        # Empty MeterValuesAlignedData: Energy.Active.Import.Register, as for the sampled data (OCTT TC_071;
        # errata v4.0 3.15: with the interval > 0 sending MeterValues is mandatory).
        measurands = self.st.config.get_list("MeterValuesAlignedData") or ["Energy.Active.Import.Register"]
        self._queue_meter_values(0, None, measurands, "Sample.Clock", boundary)
        for c in self.st.connectors:
            if c.transaction is not None:
                self._queue_meter_values(c.connector_id, c.transaction.local_id, measurands, "Sample.Clock", boundary)
        self._arm_aligned(boundary)

    def on_config_changed(self, key: str, value: str) -> None:
        if key == "ClockAlignedDataInterval":
            self._arm_aligned()
        elif key == "MeterValueSampleInterval":
            for c in self.st.connectors:
                self._arm_sampling(c)

    # -- CS→CP calls -----------------------------------------------------------------------------------
    def change_availability(self, req: Payload) -> Payload:
        st = self.st
        connector_id = int(req["connectorId"])
        inoperative = req["type"] == "Inoperative"
        if not 0 <= connector_id <= len(st.connectors):
            return {"status": "Rejected"}  # no such connector (a negative id crashed: found by fuzzing)
        targets = st.connectors if connector_id == 0 else [st.connector(connector_id)]
        if connector_id == 0:
            st.station_inoperative = inoperative
            if not inoperative:
                for c in st.connectors:
                    c.inoperative = False
                    self.store.set_meta(f"inoperative.{c.connector_id}", "0")
        else:
            targets[0].inoperative = inoperative
        # OCPP 1.6 §5.2: the state persists across reboots.
        self.store.set_meta(f"inoperative.{connector_id}", "1" if inoperative else "0")
        if inoperative:
            for c in targets:
                c.authorization = None
        busy = inoperative and any(c.transaction is not None for c in targets)
        st.defer(st.refresh_status)
        # OCPP 1.6 §5.2: with a transaction running the change waits for its end (derive_status
        # keeps the transaction's status until then).
        return {"status": "Scheduled" if busy else "Accepted"}

    def change_configuration(self, req: Payload) -> Payload:
        status = self.st.config.change(req["key"], req["value"])
        return {"status": str(status)}

    def get_configuration(self, req: Payload) -> Payload:
        try:
            return self.st.config.get_configuration(req.get("key"))
        except TooManyKeys as exc:
            raise CallRejected(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, str(exc)) from None

    def clear_cache(self, req: Payload) -> Payload:
        # Errata v4.0 3.23: Accepted when the cache was cleared; this station always has one.
        self.store.cache_clear()
        return {"status": "Accepted"}

    def data_transfer(self, req: Payload) -> Payload:
        # OCPP 1.6 §4.3: no vendor-specific messages are defined by this station.
        if req["vendorId"] == self.st.settings.identity.vendor_id:
            return {"status": "UnknownMessageId"}
        return {"status": "UnknownVendorId"}

    def remote_start_transaction(self, req: Payload) -> Payload:
        st = self.st
        connector_id = req.get("connectorId")
        profile = req.get("chargingProfile")
        if profile is not None and profile.get("chargingProfilePurpose") != "TxProfile":
            # OCPP 1.6 §5.11: only a TxProfile may accompany a remote start (OCTT TC_060).
            return {"status": "Rejected"}
        if connector_id is not None and not 1 <= int(connector_id) <= len(st.connectors):
            return {"status": "Rejected"}  # connector 0 or unknown (OCTT TC_027)
        id_tag = req["idTag"]
        c = self._connector_for_start(None if connector_id is None else int(connector_id), id_tag)
        if c is None:
            return {"status": "Rejected"}
        if self.reservation.refuses(c, id_tag) or (
            not st.config.get_bool("AuthorizeRemoteTxRequests") and not self.reservation.claim(c, id_tag, None)[0]
        ):
            return {"status": "Rejected"}  # held by a reservation for another idTag (OCPP 1.6 §5.13)
        if profile is not None and not self.smart_charging.hold_remote_profile(c.connector_id, id_tag, profile):
            return {"status": "Rejected"}  # a TxProfile it cannot run (OCPP 1.6 §5.16.2; OCTT TC_060)

        def begin() -> None:
            if c.authorization is not None or not self._can_start(c):
                return
            if st.config.get_bool("AuthorizeRemoteTxRequests"):
                self._authorize_for(c, id_tag, remote=True)
                return
            admitted, reservation_id = self.reservation.claim(c, id_tag, None)
            if admitted:
                c.authorization = Authorization(id_tag, None, True, reservation_id, decided=True)
                self._authorized(c)

        st.defer(begin)
        return {"status": "Accepted"}

    def remote_stop_transaction(self, req: Payload) -> Payload:
        c = self.running(int(req["transactionId"]))
        if c is None:
            return {"status": "Rejected"}
        self.st.defer(lambda: self.stop_transaction(c, "Remote", None))
        return {"status": "Accepted"}

    def reset(self, req: Payload) -> Payload:
        st = self.st
        kind = req["type"]

        def go() -> None:
            for c in st.connectors:
                self.stop_transaction(c, f"{kind}Reset", None)
            self.store.set_meta("reset.last", kind)  # §8 ResetOrReboot after the boot (security whitepaper)
            st.reset_request = kind
            st.wake()

        st.defer(go)
        return {"status": "Accepted"}

    def unlock_connector(self, req: Payload) -> Payload:
        st = self.st
        connector_id = int(req["connectorId"])
        if not 1 <= connector_id <= len(st.connectors):
            return {"status": "NotSupported"}
        hw = self.hardware.connectors[connector_id - 1]
        if hw.fixed_cable:
            # OCTT TC_017_2 / TC_018_2: a fixed cable cannot be unlocked; a transaction goes on.
            return {"status": "NotSupported"}
        c = st.connector(connector_id)
        if not hw.unlock():
            return {"status": "UnlockFailed"}
        c.held_for = None  # the central system released it (errata v4.0 3.5 hold)
        if c.transaction is not None:
            # OCPP 1.6 §5.18 / OCTT TC_018_1: stop (UnlockCommand) after the conf.
            st.defer(lambda: self.stop_transaction(c, "UnlockCommand", None))
        return {"status": "Unlocked"}
