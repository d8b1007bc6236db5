"""The Remote Trigger profile: TriggerMessage (OCPP 1.6 §5.17); the message goes after the response."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from ocpp_station.clock import iso_utc
from ocpp_station.hardware.interfaces import StationHardware
from ocpp_station.protocol.rpc import ErrorCode, new_unique_id
from ocpp_station.station.connector import derive_station_status, derive_status
from ocpp_station.station.contract import CallRejected, Handler, Registration, StationContext
from ocpp_station.station.metering import meter_value, sampled_values
from ocpp_station.station.outbox import OutboundCall, Payload

PROFILE = "RemoteTrigger"
# The requested messages whose meaning depends on connectorId (OCPP 1.6 §5.17: for the others it is ignored).
_PER_CONNECTOR = frozenset({"MeterValues", "StatusNotification"})
_DEFAULT_MEASURAND = "Energy.Active.Import.Register"


class RemoteTrigger:
    def __init__(self, station: StationContext, hardware: StationHardware) -> None:
        self.st = station
        self.hardware = hardware
        self._while_pending: deque[OutboundCall] = deque()
        self._waiting: dict[tuple[str, Any], Payload] = {}  # payload of the last triggered call per kind

    def handlers(self) -> dict[str, Handler]:
        return {"TriggerMessage": self.trigger_message}

    def pop_allowed_while_pending(self) -> OutboundCall | None:
        # OCPP 1.6 §4.2.1: while Pending, only messages the central system triggered may be sent.
        return self._while_pending.popleft() if self._while_pending else None

    def _send(self, calls: list[OutboundCall]) -> None:
        """Queue the triggered messages ahead of other non-transaction messages, in their given order."""
        accepted = self.st.registration == Registration.ACCEPTED
        queue = self.st.waiting_calls() if accepted else self._while_pending
        calls = [c for c in calls if not self._refresh_waiting(c, queue)]
        if accepted:
            for call in reversed(calls):
                self.st.send(call.action, call.payload, call.on_result, call.on_failure, first=True)
        else:
            self._while_pending.extend(calls)
            self.st.wake()

    def _refresh_waiting(self, call: OutboundCall, queue: Iterable[OutboundCall]) -> bool:
        """Bounded under a flood of TriggerMessage: a triggered message of the same kind that still waits
        to be sent gets the fresh payload instead of a second copy (either way the central system learns
        the current state, OCPP 1.6 §5.17)."""
        key = (call.action, call.payload.get("connectorId"))
        previous = self._waiting.get(key)
        self._waiting[key] = call.payload
        for waiting in queue:
            if previous is not None and waiting.payload is previous:
                waiting.payload = call.payload
                return True
        return False

    def trigger_message(self, req: Payload) -> Payload:
        st = self.st
        if PROFILE not in st.config.get_list("SupportedFeatureProfiles"):
            # OCPP-J 1.6 §4.2.3: a known action of a profile this build does not support.
            raise CallRejected(ErrorCode.NOT_SUPPORTED, "the Remote Trigger profile is not supported")
        return {"status": self.trigger(req["requestedMessage"], req.get("connectorId"))}

    def trigger(self, requested: str, connector_id: int | None) -> str:
        """Accept (and defer) one triggered message; the status of TriggerMessage / ExtendedTriggerMessage.conf."""
        st = self.st
        out_of_range = connector_id is not None and not 0 <= int(connector_id) <= len(st.connectors)
        if requested in _PER_CONNECTOR and out_of_range:
            return "Rejected"  # OCTT TC_055: NumberOfConnectors + 1
        if requested == "BootNotification":
            # Errata v4.0 3.35: once Accepted, a triggered BootNotification is rejected until the next reset,
            # reboot or reconnect.
            if st.registration == Registration.ACCEPTED and not st.boot_trigger_allowed:
                return "Rejected"
            # While Pending it is the central system's way to ask for the next BootNotification now
            # (OCPP 1.6 §4.2.1), answered and handled as any other.
            st.defer(st.boot_now)
        elif requested == "Heartbeat":
            heartbeat = OutboundCall("Heartbeat", {}, new_unique_id(), on_result=st.on_heartbeat_result)
            st.defer(lambda: self._send([heartbeat]))
        elif requested == "StatusNotification":
            st.defer(lambda: self._status(connector_id))
        elif requested == "MeterValues":
            st.defer(lambda: self._meter_values(connector_id))
        elif requested in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            if "FirmwareManagement" not in st.config.get_list("SupportedFeatureProfiles"):
                return "NotImplemented"  # OCPP 1.6 §5.17: not implemented by this build
            st.defer(lambda: self._file_status(requested))
        else:
            return "NotImplemented"
        return "Accepted"

    def send_triggered(self, action: str, payload: Payload) -> None:
        """A triggered message another profile composes (ExtendedTriggerMessage's security notifications)."""
        self._send([OutboundCall(action, payload, new_unique_id())])

    def _file_status(self, action: str) -> None:
        # The current activity; Idle only here, in a triggered notification (OCPP 1.6 §4.4, §4.5).
        st = self.st
        status = st.diagnostics_status if action == "DiagnosticsStatusNotification" else st.firmware_status
        self._send([OutboundCall(action, {"status": status}, new_unique_id())])

    def _status(self, connector_id: int | None) -> None:
        st = self.st
        now = iso_utc(st.now())
        # OCPP 1.6 §5.17: without connectorId, connector 0 (the station) and every connector.
        ids = range(len(st.connectors) + 1) if connector_id is None else [int(connector_id)]
        calls = []
        for cid in ids:
            if cid == 0:
                status, error = (
                    derive_station_status(st.station_inoperative, st.station_fault),
                    st.station_fault,
                )
            else:
                c = st.connector(cid)
                status, error = derive_status(c, st.station_inoperative, st.station_fault), c.fault
            payload = {
                "connectorId": cid,
                "errorCode": error or "NoError",
                "status": str(status),
                "timestamp": now,
            }
            calls.append(OutboundCall("StatusNotification", payload, new_unique_id()))
        self._send(calls)

    def _meter_values(self, connector_id: int | None) -> None:
        st = self.st
        # Errata v4.0 3.46: the most recent values of every measurand in MeterValuesSampledData.
        measurands = st.config.get_list("MeterValuesSampledData") or [_DEFAULT_MEASURAND]
        ids = range(1, len(st.connectors) + 1) if connector_id is None else [int(connector_id)]
        calls = []
        for cid in ids:
            meter = self.hardware.main_meter if cid == 0 else self.hardware.connectors[cid - 1].meter
            reading = meter.read(st.now())
            # A measurand list this meter measures none of would make an empty (schema-invalid) sampledValue.
            values = sampled_values(reading, measurands, "Trigger") or sampled_values(
                reading, [_DEFAULT_MEASURAND], "Trigger"
            )
            payload: Payload = {"connectorId": cid, "meterValue": [meter_value(iso_utc(reading.timestamp), values)]}
            tx = st.connector(cid).transaction if cid > 0 else None
            if tx is not None and tx.transaction_id is not None:
                payload["transactionId"] = tx.transaction_id
            calls.append(OutboundCall("MeterValues", payload, new_unique_id()))
        self._send(calls)
