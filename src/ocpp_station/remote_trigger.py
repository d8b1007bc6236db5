"""The Remote Trigger profile: TriggerMessage (OCPP 1.6 §5.17); the message goes after the response."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from .clock import iso_utc
from .connector import derive_station_status, derive_status
from .metering import meter_value, sampled_values
from .outbox import OutboundCall, Payload
from .rpc import new_unique_id

if TYPE_CHECKING:
    from .station import Handler, Station


class RemoteTrigger:
    def __init__(self, station: Station) -> None:
        self.st = station
        self._while_pending: deque[OutboundCall] = deque()

    def handlers(self) -> dict[str, Handler]:
        return {"TriggerMessage": self.trigger_message}

    def pop_allowed_while_pending(self) -> OutboundCall | None:
        # OCPP 1.6 §4.2.1: while Pending, only messages the central system triggered may be sent.
        return self._while_pending.popleft() if self._while_pending else None

    def _send(self, action: str, payload: Payload) -> None:
        from .station import Registration

        if self.st.registration == Registration.ACCEPTED:
            self.st.send(action, payload, first=True)
        else:
            self._while_pending.append(OutboundCall(action, payload, new_unique_id()))
            self.st.wake()

    def trigger_message(self, req: Payload) -> Payload:
        from .station import Registration

        st = self.st
        requested = req["requestedMessage"]
        connector_id = req.get("connectorId")
        if connector_id is not None and not 0 <= int(connector_id) <= len(st.connectors):
            return {"status": "Rejected"}
        if requested == "BootNotification":
            # Errata v4.0 3.35: once Accepted, a triggered BootNotification is rejected.
            if st.registration == Registration.ACCEPTED:
                return {"status": "Rejected"}
            st.defer(lambda: self._send("BootNotification", st._boot_payload()))
        elif requested == "Heartbeat":
            st.defer(lambda: self._send("Heartbeat", {}))
        elif requested == "StatusNotification":
            st.defer(lambda: self._status(connector_id))
        elif requested == "MeterValues":
            st.defer(lambda: self._meter_values(connector_id))
        elif requested == "DiagnosticsStatusNotification":
            st.defer(lambda: self._send("DiagnosticsStatusNotification", {"status": st.diagnostics_status}))
        elif requested == "FirmwareStatusNotification":
            st.defer(lambda: self._send("FirmwareStatusNotification", {"status": st.firmware_status}))
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def _status(self, connector_id: int | None) -> None:
        st = self.st
        now = iso_utc(st.now())
        ids = range(len(st.connectors) + 1) if connector_id is None else [int(connector_id)]
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
            self._send("StatusNotification", payload)

    def _meter_values(self, connector_id: int | None) -> None:
        st = self.st
        measurands = st.config.get_list("MeterValuesSampledData") or ["Energy.Active.Import.Register"]
        ids = range(1, len(st.connectors) + 1) if connector_id is None else [int(connector_id)]
        for cid in ids:
            meter = st.hardware.main_meter if cid == 0 else st.hardware.connectors[cid - 1].meter
            reading = meter.read(st.now())
            payload: Payload = {
                "connectorId": cid,
                "meterValue": [meter_value(iso_utc(reading.timestamp), sampled_values(reading, measurands, "Trigger"))],
            }
            tx = st.connector(cid).transaction if cid > 0 else None
            if tx is not None and tx.transaction_id is not None:
                payload["transactionId"] = tx.transaction_id
            self._send("MeterValues", payload)
