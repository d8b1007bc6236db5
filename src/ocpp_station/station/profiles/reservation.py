"""The Reservation profile: ReserveNow and CancelReservation (OCPP 1.6 §3.11, §5.1, §5.13).

A reservation holds one connector (or, with ReserveConnectorZeroSupported, any one connector of the
station) for one idTag or its parentIdTag until expiryDate. Reservations live in the store and survive
restarts; the connector facts they imply (`Connector.reserved`) are recomputed by `sync()` before
every status refresh, so Reserved is derived like every other status.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.station.connector import Connector
from ocpp_station.station.contract import CallRejected, Handler, StationContext
from ocpp_station.station.outbox import Payload
from ocpp_station.station.ports import Store

log = logging.getLogger("ocpp_station.reservation")


@dataclass(frozen=True, slots=True)
class Booking:
    reservation_id: int
    connector_id: int  # 0 = any connector of the station
    id_tag: str
    parent_id_tag: str | None
    expiry: float

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        # OCPP 1.6 §5.13: the reserved idTag, or any idTag sharing the reservation's parentIdTag.
        if id_tag.upper() == self.id_tag.upper():
            return True
        return (
            self.parent_id_tag is not None
            and parent_id_tag is not None
            and (parent_id_tag.upper() == self.parent_id_tag.upper())
        )


class Reservation:
    def __init__(self, station: StationContext, store: Store) -> None:
        self.st = station
        self.store = store
        self.bookings: dict[int, Booking] = {}
        for body in store.reservations():
            booking = Booking(**body)
            self.bookings[booking.reservation_id] = booking
            self._arm_expiry(booking)

    def handlers(self) -> dict[str, Handler]:
        return {"ReserveNow": self.reserve_now, "CancelReservation": self.cancel_reservation}

    def _enabled(self) -> bool:
        return "Reservation" in self.st.config.get_list("SupportedFeatureProfiles")

    # -- CS→CP calls ------------------------------------------------------------------------------
    def reserve_now(self, req: Payload) -> Payload:
        st = self.st
        connector_id = int(req["connectorId"])
        reservation_id = int(req["reservationId"])
        if not self._enabled() or not 0 <= connector_id <= len(st.connectors):
            # OCTT TC_048_4 / TC_050_4; a negative connectorId (OCPP 1.6 §6.37: 0 or a connector) was
            # booked and then crashed every status refresh, even after a restart (found by fuzzing).
            return {"status": "Rejected"}
        if connector_id == 0 and not st.config.get_bool("ReserveConnectorZeroSupported"):
            return {"status": "Rejected"}
        if not -(2**31) <= reservation_id < 2**31:
            # OCPP 1.6 integers are 32-bit in every peer implementation; 10**30 crashed the store (found by fuzzing).
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "reservationId is not a 32-bit integer")
        replaced = self.bookings.get(reservation_id)
        status = self._refusal(connector_id, replaced)
        if status is not None:
            return {"status": status}
        try:
            expiry = parse_iso(req["expiryDate"])
        except ValueError:
            raise CallRejected(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "expiryDate is not a date-time") from None
        booking = Booking(reservation_id, connector_id, req["idTag"], req.get("parentIdTag"), expiry)
        # OCPP 1.6 §5.13: a known reservationId replaces that reservation.
        self.bookings[reservation_id] = booking
        self.store.put_reservation(reservation_id, connector_id, asdict(booking))
        self._arm_expiry(booking)
        st.defer(st.refresh_status)
        return {"status": "Accepted"}

    def _refusal(self, connector_id: int, replaced: Booking | None) -> str | None:
        st = self.st
        if st.station_fault is not None:
            return "Faulted"
        if st.station_inoperative:
            return "Unavailable"
        if connector_id > 0:
            c = st.connector(connector_id)
            if c.fault is not None:
                return "Faulted"
            if c.inoperative:
                return "Unavailable"
            holder = self.booking_for(c)
            if self._occupied(c) or (holder is not None and holder is not replaced):
                return "Occupied"  # OCTT TC_048_2: occupied or already reserved
            return None
        if not any(self._free(c) for c in st.connectors):
            if all(c.fault is not None for c in st.connectors):
                return "Faulted"
            if all(c.inoperative for c in st.connectors):
                return "Unavailable"
            return "Occupied"  # OCTT TC_050_2
        others = [b for b in self._zero_bookings() if b is not replaced]
        return "Occupied" if len(self._unbooked_free()) <= len(others) else None

    def cancel_reservation(self, req: Payload) -> Payload:
        booking = self.bookings.get(int(req["reservationId"]))
        if booking is None:
            return {"status": "Rejected"}  # OCTT TC_052
        self.end(booking, "cancelled")
        self.st.defer(self.st.refresh_status)
        return {"status": "Accepted"}

    # -- bookkeeping ------------------------------------------------------------------------------
    def _occupied(self, c: Connector) -> bool:
        occupied = c.transaction is not None or c.authorization is not None or c.plugged or c.finishing
        return occupied or c.cable_in_socket  # a detachable cable left in the socket: Preparing, occupied

    def _free(self, c: Connector) -> bool:
        return not self._occupied(c) and c.fault is None and not c.inoperative

    def _zero_bookings(self) -> list[Booking]:
        return sorted((b for b in self.bookings.values() if b.connector_id == 0), key=lambda b: b.reservation_id)

    def _holdable(self, c: Connector) -> bool:
        # Free, or held already and only plugged in since (it stays Reserved until the identity is presented:
        # OCPP 1.6 §4.9 G2).
        plugged_only = c.plugged and c.transaction is None and c.authorization is None and not c.finishing
        return self._free(c) or (c.reserved and plugged_only and c.fault is None and not c.inoperative)

    def _unbooked_free(self) -> list[Connector]:
        specific = {b.connector_id for b in self.bookings.values() if b.connector_id > 0}
        return [c for c in self.st.connectors if self._holdable(c) and c.connector_id not in specific]

    def booking_for(self, c: Connector) -> Booking | None:
        """The reservation holding this connector: its own, or a station-wide one it is kept free for."""
        if not self.bookings:
            return None  # the common case, asked on every status refresh
        for booking in self.bookings.values():
            if booking.connector_id == c.connector_id:
                return booking
        # OCPP 1.6 §5.13: for connector 0 the station keeps enough connectors free; once only as many
        # free connectors remain as there are such reservations, those connectors are held (Reserved: our
        # choice, as §5.13 says nothing of the status and OCTT TC_049 expects Reserved; connector 0 itself
        # cannot report Reserved, OCPP 1.6 §7.7).
        zero = self._zero_bookings()
        free = self._unbooked_free()
        if not zero or c not in free or len(free) > len(zero):
            return None
        return zero[free.index(c)]

    def claim(self, c: Connector, id_tag: str, parent_id_tag: str | None) -> tuple[bool, int | None]:
        """May `id_tag` start on `c`, and which reservation does that start consume?"""
        if not self.bookings:
            return True, None
        own = next((b for b in self.bookings.values() if b.connector_id == c.connector_id), None)
        if own is not None:
            admitted = own.admits(id_tag, parent_id_tag)
            return admitted, own.reservation_id if admitted else None
        zero = self._zero_bookings()
        for booking in zero:
            if booking.admits(id_tag, parent_id_tag):
                return True, booking.reservation_id
        remaining = [x for x in self._unbooked_free() if x is not c]
        return len(remaining) >= len(zero), None

    def refuses(self, c: Connector, id_tag: str) -> bool:
        """The connector is held for a reservation without parentIdTag that is not this idTag's: refused on the
        spot. OCPP 1.6 §5.13 has the station ask for an incoming idTag's parent (Authorize.req) only when the
        reservation has a parentIdTag (OCTT TC_046_1: an Authorize.req carries only the reserved idTag)."""
        holder = self.booking_for(c)
        return holder is not None and holder.parent_id_tag is None and not holder.admits(id_tag, None)

    def needs_parent_check(self, c: Connector, id_tag: str) -> bool:
        """True when the connector is held for someone else unless the tag's parent matches."""
        holder = self.booking_for(c)
        return holder is not None and not holder.admits(id_tag, None)

    def sync(self) -> None:
        for c in self.st.connectors:
            c.reserved = self.booking_for(c) is not None

    def end(self, booking: Booking, why: str) -> None:
        if self.bookings.pop(booking.reservation_id, None) is None:
            return
        self.store.delete_reservation(booking.reservation_id)
        self.st.timers.cancel(("reservation", booking.reservation_id))
        log.info("%s: reservation %d %s", self.st.charge_box_id, booking.reservation_id, why)

    def _arm_expiry(self, booking: Booking) -> None:
        delay = max(0.0, booking.expiry - self.st.now())

        def expire() -> None:
            if self.bookings.get(booking.reservation_id) is booking:
                self.end(booking, "expired")  # OCTT TC_047: the connector becomes Available again
                self.st.refresh_status()

        self.st.timers.arm(("reservation", booking.reservation_id), self.st.mono() + delay, expire)

    def terminate_unusable(self) -> None:
        """A connector (or the station) going Faulted or Unavailable ends its reservation (OCPP 1.6 §3.11)."""
        for booking in list(self.bookings.values()):
            if booking.connector_id == 0:
                usable = not (self.st.station_fault or self.st.station_inoperative)
            else:
                c = self.st.connector(booking.connector_id)
                usable = c.fault is None and not c.inoperative and not self.st.station_fault
                usable = usable and not self.st.station_inoperative
            if not usable:
                self.end(booking, "terminated: connector not usable")
