"""The charging station core: plain Python driven by events and an injected clock, no I/O.

The link shell feeds it inbound calls (`handle_call`), asks it what to send next (`next_call`),
reports the fate of what it sent (`on_result` / `on_failure`) and wakes it at `next_deadline()`.
Hardware and the control API reach it through `HardwareListener` and `ControlledStation`.
The behaviour of each OCPP feature profile lives in its own module; this module is the hub:
registration (BootNotification, Heartbeat), StatusNotification, the outbound queues and dispatch.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ocpp_station.clock import Clock, iso_utc, parse_iso
from ocpp_station.hardware.interfaces import StationHardware
from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import Call, CallError, CallResult, ErrorCode, Message, new_unique_id
from ocpp_station.security.certificates import CertificateStore
from ocpp_station.settings import StationSettings
from ocpp_station.station.authorization import Authorizer
from ocpp_station.station.certificate_persistence import StorePersistence
from ocpp_station.station.configuration import Configuration
from ocpp_station.station.connector import Connector, Status, derive_station_status, derive_status
from ocpp_station.station.contract import CallRejected, Handler, NoSuchConnector, Registration
from ocpp_station.station.outbox import OutboundCall, Payload, StatusEntry, Timers
from ocpp_station.station.ports import KeyStore, Store
from ocpp_station.station.profiles.core_profile import CoreProfile
from ocpp_station.station.profiles.firmware_management import FirmwareManagement
from ocpp_station.station.profiles.local_auth_list_management import LocalAuthListManagement
from ocpp_station.station.profiles.remote_trigger import RemoteTrigger
from ocpp_station.station.profiles.reservation import Reservation
from ocpp_station.station.profiles.security import Security
from ocpp_station.station.profiles.smart_charging import SmartCharging
from ocpp_station.station.queue_limits import QueueGuard
from ocpp_station.station.security_log import SecurityLog

__all__ = ["CallRejected", "Handler", "Registration", "Station"]

log = logging.getLogger("ocpp_station.station")

# OCPP 1.6 §4.2.1: with interval 0 the station picks a sane, non-flooding retry delay itself.
DEFAULT_BOOT_RETRY_S = 30.0
# StatusNotifications waiting to be sent before they are collapsed to the latest per connector.
STATUS_QUEUE_LIMIT = 64
# Retry after a BootNotification that got no answer at all.
BOOT_FAILURE_RETRY_S = 10.0


class Station:
    """One charging station. Owns no thread, task or socket (fleet tests run thousands per process)."""

    def __init__(
        self,
        *,
        charge_box_id: str,
        settings: StationSettings,
        configuration: Configuration,
        store: Store,
        clock: Clock,
        hardware: StationHardware,
        keys: KeyStore,
    ) -> None:
        self._charge_box_id = charge_box_id
        self.settings = settings
        self.config = configuration
        self.store = store
        self.clock = clock
        self.hardware = hardware
        self.timers = Timers()
        self.connectors = [Connector(i + 1) for i in range(len(hardware.connectors))]
        self.station_inoperative = store.get_meta("inoperative.0") == "1"
        self.station_fault: str | None = None
        self.station_fault_info: str | None = None
        self._station_reported: tuple[Status, str | None] | None = None
        for c in self.connectors:
            c.inoperative = store.get_meta(f"inoperative.{c.connector_id}") == "1"
            hw = hardware.connectors[c.connector_id - 1]
            c.plugged = hw.plugged
            c.cable_in_socket = hw.cable_in_socket
            c.ev_ready = hw.ev_ready
            c.fault = hw.fault

        self.registration = Registration.BOOTING
        self.connected = False
        self._boot_not_before = 0.0
        self._boot_in_flight = False
        self._heartbeat_due = False
        self._status_queue: deque[StatusEntry] = deque()
        self._sent_status: dict[int, str] = {}
        self._outbox: deque[OutboundCall] = deque()
        self._waker: Callable[[], None] = lambda: None
        self._deferred: list[Callable[[], None]] = []
        # Reported through TriggerMessage; the Firmware Management module moves them on.
        self.diagnostics_status = "Idle"
        self.firmware_status = "Idle"
        self.reset_request: str | None = None  # "Soft" / "Hard" once a Reset was accepted
        # Errata v4.0 3.35: a triggered BootNotification is rejected once Accepted, until the next reset, reboot
        # or reconnect (a central system that restarted can then learn the vendor, model and firmware).
        self.boot_trigger_allowed = False
        # Messages go out in the order of the events that caused them: each queued item takes the next number.
        self._order = 0
        self._queued_order: dict[int, int] = {}  # durable queue seq → order (messages of this run)
        self.reconnect_request: str | None = None  # why the link should reconnect now (security whitepaper A05)

        self.local_list = LocalAuthListManagement(self, store)
        self.auth = Authorizer(self, store, self.local_list)
        self.reservation = Reservation(self, store)
        self.smart_charging = SmartCharging(self, store, lambda c: self.core.offer_energy(c))
        self.queue_guard = QueueGuard(self, store)
        self.security_log = SecurityLog(self, store)
        self.certificates = CertificateStore(
            StorePersistence(store),
            max_length=configuration.get_int("CertificateStoreMaxLength"),
            additional_root_certificate_check=configuration.get_bool("AdditionalRootCertificateCheck"),
        )
        self.firmware = FirmwareManagement(self, store, certificates=self.certificates, security_log=self.security_log)
        self.remote_trigger = RemoteTrigger(self, hardware)
        self.security = Security(
            self,
            store,
            keys,
            certificates=self.certificates,
            security_log=self.security_log,
            firmware=self.firmware,
            remote_trigger=self.remote_trigger,
        )
        self.core = CoreProfile(
            self,
            store,
            hardware,
            auth=self.auth,
            reservation=self.reservation,
            smart_charging=self.smart_charging,
            queue_guard=self.queue_guard,
        )
        self._handlers: dict[str, Handler] = {}
        for profile in (
            self.core,
            self.local_list,
            self.remote_trigger,
            self.reservation,
            self.firmware,
            self.smart_charging,
            self.security,
        ):
            self._handlers.update(profile.handlers())
        configuration.subscribe(self._on_config_changed)
        hardware.set_listener(self.core)

    # -- identity -------------------------------------------------------------------------------
    @property
    def charge_box_id(self) -> str:
        return self._charge_box_id

    def set_waker(self, waker: Callable[[], None]) -> None:
        self._waker = waker

    def wake(self) -> None:
        self._waker()

    def now(self) -> float:
        return self.clock.now()

    def defer(self, action: Callable[[], None]) -> None:
        """Run `action` once the response to the current call has been sent (e.g. OCTT TC_018_1 order)."""
        self._deferred.append(action)

    def after_response(self) -> None:
        actions, self._deferred = self._deferred, []
        for action in actions:
            try:
                action()
            except Exception:
                # The .conf is already sent: a failing follow-up must not take the link down with it.
                log.exception("%s: internal error after a response", self.charge_box_id)
        if actions:
            self.wake()

    def mono(self) -> float:
        return self.clock.monotonic()

    def connector(self, connector_id: int) -> Connector:
        if not 1 <= connector_id <= len(self.connectors):
            raise NoSuchConnector(f"no connector {connector_id} (this station has {len(self.connectors)})")
        return self.connectors[connector_id - 1]

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Power on: recover from the store, then register (OCPP 1.6 §4.2: BootNotification after every boot)."""
        self.core.recover()
        self.security.on_power_on()
        self.registration = Registration.BOOTING
        self._boot_not_before = self.mono()
        self.wake()

    def on_connected(self) -> None:
        self.connected = True
        if self.registration == Registration.ACCEPTED:
            self.boot_trigger_allowed = True  # a reconnect (errata v4.0 3.35)
        # The statuses queued while offline too: the current status, not the history (OCTT TC_037_1, TC_039).
        self._collapse_statuses()
        self.wake()

    def on_disconnected(self) -> None:
        self.connected = False
        self.wake()  # whoever waits for the queue to drain must learn the link is gone
        self._boot_in_flight = False
        self._heartbeat_due = False
        pending, self._outbox = self._outbox, deque()
        for call in pending:
            if call.on_failure is not None:
                call.on_failure("disconnected")
        self._collapse_statuses()

    def _collapse_statuses(self) -> None:
        # OCPP 1.6 §4.9: after an offline period report the current status, not the history (in event order).
        latest: dict[int, StatusEntry] = {}
        for entry in self._status_queue:
            latest.pop(entry.connector_id, None)
            latest[entry.connector_id] = entry
        self._status_queue = deque(
            e
            for e in latest.values()
            if self._sent_status.get(e.connector_id) != e.payload["status"] or e.payload["errorCode"] != "NoError"
        )

    def request_reconnect(self, reason: str) -> None:
        """Ask the link to close the connection normally and connect again at once (security whitepaper A01,
        A02.FR.08, A05.FR.06/07: new credentials, certificate or profile take effect on the next connection)."""
        self.reconnect_request = reason
        self.wake()

    def take_reconnect_request(self) -> str | None:
        reason, self.reconnect_request = self.reconnect_request, None
        return reason

    def has_messages_to_send(self) -> bool:
        """Something is queued: a status, a message of the outbox or a transaction-related message."""
        return bool(self._status_queue or self._outbox or self.store.queue_length())

    @property
    def online(self) -> bool:
        return self.connected and self.registration == Registration.ACCEPTED

    # -- timers -----------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        timer = self.timers.next_deadline()
        status = self._status_deadline()
        if status is None or timer is None:
            return timer if status is None else status
        return min(timer, status)

    def tick(self) -> None:
        if self.timers.fire_due(self.mono()):
            self.wake()

    def _status_deadline(self) -> float | None:
        if not self._status_queue or not self.online:
            return None
        return min(e.eligible_at for e in self._status_queue)

    # -- outbound ---------------------------------------------------------------------------------
    def next_call(self) -> OutboundCall | None:
        """The next message to send now, or None (OCPP 1.6 §4.2.1 governs what may go before Accepted)."""
        if not self.connected:
            return None
        if self.registration != Registration.ACCEPTED:
            if self._boot_in_flight or self.mono() < self._boot_not_before:
                return self.remote_trigger.pop_allowed_while_pending()
            self._boot_in_flight = True
            return OutboundCall(
                "BootNotification",
                self._boot_payload(),
                new_unique_id(),
                on_result=self._on_boot_result,
                on_failure=self._on_boot_failure,
            )
        # In the order of the events that caused them: a transaction's StartTransaction before the Charging
        # status it causes, its StopTransaction before the statuses and notifications that follow its end.
        # A status held back by MinimumStatusDuration, or a queued message waiting for its retry, lets the
        # others pass.
        status_at = self._eligible_status(self.mono()) if self._status_queue else None
        queued = self.core.next_queued_call()
        if status_at is None and queued is None and not self._outbox:
            if self._heartbeat_due:
                self._heartbeat_due = False
                return OutboundCall("Heartbeat", {}, new_unique_id(), on_result=self.on_heartbeat_result)
            return None
        status_order = math.inf if status_at is None else self._status_queue[status_at].order
        outbox_order = self._outbox[0].order if self._outbox else math.inf
        # A queued message from an earlier run has no number: it goes before everything of this one.
        queued_order = math.inf if queued is None else self._queued_order.get(queued.queue_seq or 0, 0)
        first = min(status_order, outbox_order, queued_order)
        if first == queued_order:
            return queued
        if first == status_order and status_at is not None:
            return self._pop_status(status_at)
        return self._outbox.popleft()

    def _eligible_status(self, now: float) -> int | None:
        """Where the first status that may be sent now stands in the queue (MinimumStatusDuration, §9.1.20)."""
        for index, entry in enumerate(self._status_queue):
            if entry.eligible_at <= now:
                return index
        return None

    def _pop_status(self, index: int) -> OutboundCall:
        entry = self._status_queue[index]
        del self._status_queue[index]
        return self._status_call(entry)

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def send(
        self,
        action: str,
        payload: Payload,
        on_result: Callable[[Payload], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Queue a message that is not transaction-related (it may overtake the queue, OCPP 1.6 §3.7)."""
        call = OutboundCall(action, payload, new_unique_id(), on_result, on_failure)
        if first and self._outbox:
            # Ahead of the others, still after what was queued before them.
            call.order = math.nextafter(self._outbox[0].order, -math.inf)
            self._outbox.appendleft(call)
        else:
            call.order = self._next_order()
            self._outbox.append(call)
        self.wake()

    def waiting_calls(self) -> Iterable[OutboundCall]:
        return self._outbox

    def enqueue(self, action: str, payload: Payload, local_tx: int | None) -> None:
        seq = self.store.enqueue(action, payload, local_tx, new_unique_id())
        self._queued_order[seq] = self._next_order()
        self.wake()

    def on_result(self, call: OutboundCall, payload: Payload) -> None:
        if call.queue_seq is not None:
            self._queued_order.pop(call.queue_seq, None)
            self.core.on_queued_result(call, payload)
        elif call.on_result is not None:
            call.on_result(payload)
        self.wake()

    def on_failure(self, call: OutboundCall, reason: str) -> str:
        """reason: 'error' (CallError), 'timeout' (no answer in time) or 'disconnected' (link lost).

        Returns what happens to the message next, for the link's one log line about the event."""
        if call.queue_seq is not None:
            outcome = self.core.on_queued_failure(call, reason)
            head = self.store.queue_head()
            if head is None or head.seq != call.queue_seq:
                self._queued_order.pop(call.queue_seq, None)  # dropped after its last attempt
        else:
            if call.on_failure is not None:
                call.on_failure(reason)
            if call.action == "BootNotification":
                outcome = f"BootNotification sent again in {BOOT_FAILURE_RETRY_S:g} s"
            else:
                outcome = "not resent (only transaction-related messages are retried, OCPP 1.6 §3.7)"
        self.wake()
        return outcome

    # -- registration -------------------------------------------------------------------------------
    def _boot_payload(self) -> Payload:
        ident = self.settings.identity
        payload: Payload = {
            "chargePointVendor": ident.vendor,
            "chargePointModel": ident.model,
            "chargePointSerialNumber": ident.serial_number,
            "firmwareVersion": self.firmware_version(),
            "meterType": ident.meter_type,
            "meterSerialNumber": ident.meter_serial_number,
        }
        return {k: v for k, v in payload.items() if v}

    def _set_clock(self, now: float) -> None:
        before = self.clock.now()
        self.clock.set_now(now)
        self.security.on_clock_set(before, now)

    def firmware_version(self) -> str:
        return self.store.get_meta("firmware_version") or self.settings.identity.firmware_version

    def _on_boot_result(self, payload: Payload) -> None:
        self._boot_in_flight = False
        status = payload["status"]
        interval = int(payload["interval"])
        try:
            self._set_clock(parse_iso(payload["currentTime"]))
        except ValueError:
            log.warning("%s: BootNotification.conf currentTime unreadable: %r", self.charge_box_id, payload)
        if status == "Accepted":
            self.registration = Registration.ACCEPTED
            self.boot_trigger_allowed = False
            if interval > 0:
                self.config.set_internal("HeartbeatInterval", str(interval))
            self._arm_heartbeat()
            # Errata v4.0 3.22: after acceptance report connector 0 and every connector.
            self._status_queue.clear()
            self._station_reported = None
            for c in self.connectors:
                c.reported = None
            self.refresh_status()
            self.core.on_accepted()
            self.firmware.on_accepted()
        else:
            self.registration = Registration(status)
            # OCPP 1.6 §4.2.1: interval = minimum wait before the next BootNotification.
            delay = float(interval) if interval > 0 else DEFAULT_BOOT_RETRY_S
            self._boot_not_before = self.mono() + delay
            self.timers.arm("boot", self._boot_not_before, self.wake)

    def _on_boot_failure(self, reason: str) -> None:
        self._boot_in_flight = False
        if reason != "disconnected":
            self._boot_not_before = self.mono() + BOOT_FAILURE_RETRY_S
            self.timers.arm("boot", self._boot_not_before, self.wake)

    def boot_now(self) -> None:
        """A triggered BootNotification (OCPP 1.6 §4.2.1: the one reason to send it before the interval)."""
        if self.registration != Registration.ACCEPTED:
            self._boot_not_before = self.mono()
            self.timers.cancel("boot")
            self.wake()
            return
        # Errata v4.0 3.35, after a reconnect: the answer is handled as any BootNotification.conf.
        self.boot_trigger_allowed = False
        self.send("BootNotification", self._boot_payload(), self._on_boot_result, first=True)

    def _arm_heartbeat(self) -> None:
        interval = self.config.get_int("HeartbeatInterval")
        if interval > 0:
            self.timers.arm("heartbeat", self.mono() + interval, self._heartbeat_timer)
        else:
            self.timers.cancel("heartbeat")

    def _heartbeat_timer(self) -> None:
        # Offline there is nobody to tell; the reconnect itself shows the station is alive.
        self._heartbeat_due = self.connected
        self._arm_heartbeat()

    def on_heartbeat_result(self, payload: Payload) -> None:
        try:
            self._set_clock(parse_iso(payload["currentTime"]))
        except ValueError:
            log.warning("%s: Heartbeat.conf currentTime unreadable", self.charge_box_id)

    def _on_config_changed(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval" and self.registration == Registration.ACCEPTED:
            self._arm_heartbeat()
        self.core.on_config_changed(key, value)

    # -- StatusNotification --------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Queue a StatusNotification for every connector whose derived status changed (OCPP 1.6 §4.9)."""
        self.reservation.terminate_unusable()
        self.reservation.sync()
        if self.registration == Registration.ACCEPTED:
            # OCPP 1.6 §4.9: a StatusNotification for a change of status or of error (e.g. Faulted with OtherError
            # becoming Faulted with PowerMeterFailure).
            station_status = derive_station_status(self.station_inoperative, self.station_fault)
            if (station_status, self.station_fault) != self._station_reported:
                self._station_reported = (station_status, self.station_fault)
                self._queue_status(0, station_status, self.station_fault, self.station_fault_info)
            for c in self.connectors:
                status = derive_status(c, self.station_inoperative, self.station_fault)
                if (status, c.fault) != c.reported:
                    c.reported = (status, c.fault)
                    self._queue_status(c.connector_id, status, c.fault, c.fault_info)
        # After the statuses: what the change allows (an installation announced as Installing) follows them on the
        # wire (errata 3.49: the connectors are Unavailable before the installation begins).
        self.firmware.on_facts_changed()

    def report_error(self, connector_id: int, status: Status, error_code: str, info: str | None) -> None:
        """A StatusNotification carrying an error that is not a status change (e.g. LocalListConflict)."""
        self._queue_status(connector_id, status, error_code, info)

    def _queue_status(self, connector_id: int, status: Status, error: str | None, info: str | None) -> None:
        payload: Payload = {
            "connectorId": connector_id,
            "errorCode": error or "NoError",
            "status": str(status),
            "timestamp": iso_utc(self.now()),
        }
        if info:
            payload["info"] = info[:50]
        minimum = self.config.get_int("MinimumStatusDuration")
        if minimum > 0:
            # OCPP 1.6 §9.1.20: a status that lasted less than MinimumStatusDuration is not reported;
            # and if the connector is back where the central system last saw it, there is nothing to say.
            kept = deque(
                e for e in self._status_queue if e.connector_id != connector_id or e.eligible_at <= self.mono()
            )
            suppressed = len(kept) != len(self._status_queue)
            self._status_queue = kept
            if suppressed and self._sent_status.get(connector_id) == str(status) and error is None:
                return
        self._status_queue.append(StatusEntry(connector_id, payload, self.mono() + max(0, minimum), self._next_order()))
        if len(self._status_queue) > STATUS_QUEUE_LIMIT:
            # Bounded under a flood of status changes (e.g. ChangeAvailability toggled thousands of times):
            # keep each connector's latest, as after an offline period (OCPP 1.6 §4.9).
            self._status_queue = deque({e.connector_id: e for e in self._status_queue}.values())
        self.wake()

    def _status_call(self, entry: StatusEntry) -> OutboundCall:
        def sent(_: Payload) -> None:
            self._sent_status[entry.connector_id] = entry.payload["status"]

        def lost(reason: str) -> None:
            if reason == "disconnected":
                self._status_queue.appendleft(entry)

        return OutboundCall("StatusNotification", entry.payload, new_unique_id(), sent, lost)

    # -- inbound ------------------------------------------------------------------------------------
    def handle_call(self, call: Call) -> Message | None:
        """Answer one CS→CP call; None means no answer may be sent (Rejected registration, §4.2.1)."""
        if self.registration == Registration.REJECTED:
            log.info("%s: ignoring %s while registration is Rejected", self.charge_box_id, call.action)
            return None
        handler = self._handlers.get(call.action)
        if handler is None:
            return CallError(call.unique_id, *self._unhandled(call.action))
        try:
            schemas.validate_request(call.action, call.payload)
        except schemas.SchemaViolation as exc:
            return CallError(call.unique_id, exc.code, exc.description)
        try:
            response = handler(call.payload)
        except CallRejected as exc:
            return CallError(call.unique_id, exc.code, exc.description)
        except Exception:
            log.exception("%s: internal error handling %s", self.charge_box_id, call.action)
            return CallError(call.unique_id, ErrorCode.INTERNAL_ERROR, f"{call.action} could not be processed")
        try:
            schemas.validate_response(call.action, response)
        except schemas.SchemaViolation as exc:
            log.error("%s: own %s response invalid: %s", self.charge_box_id, call.action, exc.description)
            return CallError(call.unique_id, ErrorCode.INTERNAL_ERROR, "response failed validation")
        return CallResult(call.unique_id, response)

    def _unhandled(self, action: str) -> tuple[ErrorCode, str]:
        # OCPP-J 1.6 §4.2.3: NotImplemented = unknown action; NotSupported = known but not supported.
        if action in schemas.CS_TO_CP_ACTIONS or action in schemas.SECURITY_ACTIONS:
            return ErrorCode.NOT_SUPPORTED, f"{action} is not supported by this charge point"
        if action in schemas.CP_TO_CS_ACTIONS or action in schemas.SECURITY_CP_TO_CS_ACTIONS:
            return ErrorCode.NOT_SUPPORTED, f"{action} is sent by a charge point, not to one"
        return ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}"

    # -- what the control API shows ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        now = self.now()
        main = self.hardware.main_meter.read(now)
        connectors: list[dict[str, Any]] = [
            {
                "connectorId": 0,
                "status": str(derive_station_status(self.station_inoperative, self.station_fault)),
                "errorCode": self.station_fault or "NoError",
                "pluggedIn": False,
                "transactionId": None,
                "idTag": None,
                "energyWh": round(main.energy_import_wh, 3),
                "powerW": round(main.power_import_w, 3),
            }
        ]
        for c in self.connectors:
            hw = self.hardware.connectors[c.connector_id - 1]
            reading = hw.meter.read(now)
            tx = c.transaction
            connectors.append(
                {
                    "connectorId": c.connector_id,
                    "status": str(derive_status(c, self.station_inoperative, self.station_fault)),
                    "errorCode": c.fault or "NoError",
                    "pluggedIn": c.plugged,
                    "cableInSocket": hw.cable_in_socket,
                    "locked": hw.locked,
                    "transactionId": None if tx is None else tx.transaction_id,
                    "idTag": None if tx is None else tx.id_tag,
                    "energyWh": round(reading.energy_import_wh, 3),
                    "powerW": round(reading.power_import_w, 3),
                }
            )
        return {
            "chargeBoxId": self.charge_box_id,
            "connected": self.connected,
            # null until the first BootNotification.conf (the control API's contract)
            "registration": None if self.registration == Registration.BOOTING else str(self.registration),
            "connectors": connectors,
        }

    # -- events from the shell -----------------------------------------------------------------------
    def on_free_disk(self, free_bytes: int | None) -> None:
        """The free space where the store lives, measured by the shell (None: cannot be measured)."""
        self.queue_guard.on_free_disk(free_bytes)
