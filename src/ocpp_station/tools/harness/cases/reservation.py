"""OCTT module 21 "Reservation" (OCTT document §2.20): TC_046_1_CS, TC_046_2_CS, TC_047_CS, TC_048_1_CS to
TC_048_4_CS, TC_049_CS, TC_050_1_CS to TC_050_4_CS, TC_051_CS, TC_052_CS, TC_053_1_CS, TC_053_2_CS.

Station variants (`TestCase.config_overrides`): the "Reservation of a Charge Point" cases need
ReserveConnectorZeroSupported true (read-only over OCPP: the bench configures it); TC_048_4 and TC_050_4 need a
station that does NOT support the Reservation profile (SupportedFeatureProfiles without Reservation).

The document has one TC_053 (a local start); the tool splits it into TC_053_1 (local, as written) and TC_053_2
(the same reservation used by a remote start of <Configured Valid IdTag 2>, octt16-testcases.md §4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from ocpp_station.protocol.rpc import Call, Payload
from ocpp_station.tools.harness.case import RESERVATION, CaseContext, CaseFunction, TestCase, check
from ocpp_station.tools.harness.csms import Expect, StationCall
from ocpp_station.tools.harness.states import (
    authorized,
    charging,
    connector_ids,
    reserve_now,
    reserved,
    set_charge_point_faulted,
    set_charge_point_unavailable,
    set_connector_faulted,
    set_connector_occupied,
    set_connector_unavailable,
    transaction_started,
)

MODULE = "21 Reservation"
RESERVATION_ID = 1
HOUR = timedelta(hours=1)

# The station variants of the Prerequisite(s).
CONNECTOR_ZERO = (("ReserveConnectorZeroSupported", "true"),)
WITHOUT_RESERVATION = (
    ("SupportedFeatureProfiles", "Core,FirmwareManagement,LocalAuthListManagement,SmartCharging,RemoteTrigger"),
)


# --- steps --------------------------------------------------------------------------------------------


async def _unused_connectors_unavailable(ctx: CaseContext) -> None:
    """Reusable state "SetConnectorUnavailable for all unused connectors" (all but <Configured ConnectorId>)."""
    for connector in await connector_ids(ctx):
        if connector != ctx.settings.connector_id:
            await set_connector_unavailable(ctx, connector)


async def _reserve_now(
    ctx: CaseContext,
    connector_id: int,
    *,
    id_tag: str | None = None,
    parent_id_tag: str | None = None,
    expires_in: timedelta = HOUR,
) -> str:
    """Step 1-2: ReserveNow.req; returns the ReserveNow.conf status."""
    return await reserve_now(
        ctx, connector_id, RESERVATION_ID, id_tag=id_tag, parent_id_tag=parent_id_tag, expires_in=expires_in
    )


async def _expect_refusal(ctx: CaseContext, connector_id: int, status: str) -> None:
    """The non-happy cases: ReserveNow.req for `connector_id`, the .conf's status must be `status`."""
    answer = await _reserve_now(ctx, connector_id)
    check(answer == status, f"step 2: ReserveNow.conf status is {answer}, expected {status}")


def _check_start(start: StationCall, id_tag: str, reservation_id: int | None, step: str) -> None:
    """StartTransaction.req: the idTag, and reservationId (None: "reservationId should be omitted")."""
    payload = start.payload
    check(
        payload.get("idTag") == id_tag,
        f"{step}: StartTransaction.req idTag is {payload.get('idTag')!r}, expected {id_tag!r}",
    )
    if reservation_id is None:
        check(
            "reservationId" not in payload,
            f"{step}: StartTransaction.req has reservationId {payload.get('reservationId')}, expected none",
        )
    else:
        check(
            payload.get("reservationId") == reservation_id,
            f"{step}: StartTransaction.req reservationId is {payload.get('reservationId')}, expected {reservation_id}",
        )


async def _start_after_plug(ctx: CaseContext) -> StationCall:
    """[EV driver plugs in cable] StartTransaction.req and StatusNotification(Charging), in either order
    (document §1.2); the tool accepts the transaction."""
    connector = ctx.settings.connector_id
    await ctx.control.plug(connector)
    start, _charging = await transaction_started(ctx, connector, None)
    return start


def _with_parent(ctx: CaseContext) -> Callable[[Call], Payload]:
    """The tool's answers when <Configured Valid IdTag> and <Configured Valid IdTag 2> share the parent
    <Configured ParentId> (TC_053): their idTagInfo carries parentIdTag."""
    settings = ctx.settings
    family = {settings.valid_id_tag.casefold(), settings.valid_id_tag_2.casefold()}

    def answer(call: Call) -> Payload:
        reply = ctx.csms.default_response(call)
        info = reply.get("idTagInfo")
        if isinstance(info, dict) and str(call.payload.get("idTag", "")).casefold() in family:
            reply["idTagInfo"] = {**info, "parentIdTag": settings.parent_id_tag}
        return reply

    return answer


# --- 2.20.1 Reservation of a Connector ----------------------------------------------------------------


async def tc_046_1(ctx: CaseContext) -> None:
    """TC_046_1_CS Reservation of a Connector - Local start transaction."""
    settings = ctx.settings
    connector = settings.connector_id
    tag = settings.valid_id_tag
    await _unused_connectors_unavailable(ctx)
    # Steps 1-4: ReserveNow (<Configured ConnectorId>, <Configured Valid IdTag>) Accepted, then Reserved.
    await reserved(ctx, RESERVATION_ID, id_tag=tag)
    # [EV driver swipes a card (not the idTag from step 1)]: the connector is held for the reservation, so
    # nothing happens ("Step 5: The idTag [of an Authorize.req] matches the idTag from step 1").
    await ctx.control.present_id_tag(settings.valid_id_tag_2, connector)
    # [EV driver swipes the card with the idTag from step 1]: step 5 an optional Authorize.req (answered
    # Accepted), then step 7 StatusNotification Preparing.
    await ctx.control.present_id_tag(tag, connector)
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Preparing"},
        tolerate=(*settings.tolerated_actions, Expect("Authorize", {"idTag": tag})),
    )
    # Steps 9-12 [EV driver plugs in cable at the reserved Connector]: StartTransaction with the idTag and the
    # reservationId of step 1, and Charging.
    start = await _start_after_plug(ctx)
    _check_start(start, tag, RESERVATION_ID, "step 9")


async def tc_046_2(ctx: CaseContext) -> None:
    """TC_046_2_CS Reservation of a Connector - Remote start transaction."""
    await reserved(ctx, RESERVATION_ID)
    # Step 5: reusable state Charging (Authorize.req optional: the state expects it as AuthorizeRemoteTxRequests says).
    transaction = await charging(ctx)
    _check_start(transaction.start, ctx.settings.valid_id_tag, RESERVATION_ID, "step 5")


async def tc_047(ctx: CaseContext) -> None:
    """TC_047_CS Reservation of a Connector - Expire."""
    settings = ctx.settings
    connector = settings.connector_id
    offset = settings.reservation_expiry_offset
    await _unused_connectors_unavailable(ctx)
    # Step 1: expiryDate is the current time plus <Configured Reservation Expiry Date Offset>; steps 2-4.
    earliest = time.monotonic() + offset
    await reserved(ctx, RESERVATION_ID, expires_in=timedelta(seconds=offset))
    # Step 5 [EV driver does not arrive before the expiry date]: Available for the same connector.
    available = await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Available"},
        timeout=offset + settings.message_timeout,
    )
    # Expected result: "After the expiry date, the Charge Point makes the Reserved connector Available again."
    check(
        available.received_at >= earliest - settings.early_tolerance,
        f"step 5: Available {earliest - available.received_at:.2f} s before the reservation's expiryDate",
    )
    # Step 7: [The tool will start a transaction with another valid id tag to ensure the reservation is expired.]
    await charging(ctx, settings.valid_id_tag_2)


async def tc_048_1(ctx: CaseContext) -> None:
    """TC_048_1_CS Reservation of a Connector - Faulted."""
    await set_connector_faulted(ctx)
    await _expect_refusal(ctx, ctx.settings.connector_id, "Faulted")


async def tc_048_2(ctx: CaseContext) -> None:
    """TC_048_2_CS Reservation of a Connector - Occupied."""
    await set_connector_occupied(ctx)
    await _expect_refusal(ctx, ctx.settings.connector_id, "Occupied")


async def tc_048_3(ctx: CaseContext) -> None:
    """TC_048_3_CS Reservation of a Connector - Unavailable."""
    await set_connector_unavailable(ctx)
    await _expect_refusal(ctx, ctx.settings.connector_id, "Unavailable")


async def tc_048_4(ctx: CaseContext) -> None:
    """TC_048_4_CS Reservation of a Connector - Rejected (a station that does NOT support Reservation)."""
    await _expect_refusal(ctx, ctx.settings.connector_id, "Rejected")


# --- 2.20.2 Reservation of a Charge Point -------------------------------------------------------------


async def tc_049(ctx: CaseContext) -> None:
    """TC_049_CS Reservation of a Charge Point - Transaction (ReserveConnectorZeroSupported true)."""
    settings = ctx.settings
    await _unused_connectors_unavailable(ctx)
    # Steps 1-4: ReserveNow for connectorId 0, Accepted; the one connector left is Reserved.
    status = await _reserve_now(ctx, 0)
    check(status == "Accepted", f"step 2: ReserveNow.conf status is {status}, expected Accepted")
    await ctx.csms.expect(
        "StatusNotification", {"connectorId": settings.connector_id, "status": "Reserved"}, triggered_by="ReserveNow"
    )
    # Step 5: [The tool will start a transaction on the reserved connector] Charging.
    transaction = await charging(ctx)
    _check_start(transaction.start, settings.valid_id_tag, RESERVATION_ID, "step 5")


async def tc_050_1(ctx: CaseContext) -> None:
    """TC_050_1_CS Reservation of a Charge Point - Faulted."""
    await set_charge_point_faulted(ctx)
    await _expect_refusal(ctx, 0, "Faulted")


async def tc_050_2(ctx: CaseContext) -> None:
    """TC_050_2_CS Reservation of a Charge Point - Occupied ("SetConnectorOccupied for all connectors")."""
    for connector in await connector_ids(ctx):
        await set_connector_occupied(ctx, connector)
    await _expect_refusal(ctx, 0, "Occupied")


async def tc_050_3(ctx: CaseContext) -> None:
    """TC_050_3_CS Reservation of a Charge Point - Unavailable."""
    await set_charge_point_unavailable(ctx)
    await _expect_refusal(ctx, 0, "Unavailable")


async def tc_050_4(ctx: CaseContext) -> None:
    """TC_050_4_CS Reservation of a Charge Point - Rejected (a station that does NOT support Reservation)."""
    await _expect_refusal(ctx, 0, "Rejected")


# --- 2.20.3 Cancel Reservation ------------------------------------------------------------------------


async def tc_051(ctx: CaseContext) -> None:
    """TC_051_CS Cancel Reservation."""
    settings = ctx.settings
    await reserved(ctx, RESERVATION_ID, id_tag=settings.valid_id_tag)
    # Steps 1-4: the reservationId of the reusable state Reserved; Accepted; Available for that connector.
    reply = await ctx.csms.call_result("CancelReservation", {"reservationId": RESERVATION_ID})
    check(
        reply["status"] == "Accepted", f"step 2: CancelReservation.conf status is {reply['status']}, expected Accepted"
    )
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": settings.connector_id, "status": "Available"},
        triggered_by="CancelReservation",
    )
    # Step 5: Charging with <Configured Valid IdTag 2>; "reservationId should be omitted".
    transaction = await charging(ctx, settings.valid_id_tag_2)
    _check_start(transaction.start, settings.valid_id_tag_2, None, "step 5")


async def tc_052(ctx: CaseContext) -> None:
    """TC_052_CS Cancel Reservation - Rejected: a reservationId that does NOT match the one of Reserved."""
    await reserved(ctx, RESERVATION_ID)
    reply = await ctx.csms.call_result("CancelReservation", {"reservationId": RESERVATION_ID + 1})
    check(
        reply["status"] == "Rejected", f"step 2: CancelReservation.conf status is {reply['status']}, expected Rejected"
    )


# --- 2.20.4 Use a reserved Connector with parentIdTag ------------------------------------------------


async def _reserved_for_parent(ctx: CaseContext) -> None:
    """TC_053 steps 1-4: ReserveNow with idTag <Configured Valid IdTag 1> and parentIdTag <Configured ParentId>,
    Accepted, then Reserved; the tool's idTagInfo for both valid idTags carries that parent from now on."""
    settings = ctx.settings
    answer = _with_parent(ctx)
    for action in ("Authorize", "StartTransaction"):
        ctx.csms.respond_with(action, answer, once=False)
    await _unused_connectors_unavailable(ctx)
    await reserved(ctx, RESERVATION_ID, id_tag=settings.valid_id_tag, parent_id_tag=settings.parent_id_tag)


async def tc_053_1(ctx: CaseContext) -> None:
    """TC_053_1_CS Use a reserved Connector with parentIdTag - Local start (document TC_053_CS)."""
    settings = ctx.settings
    await _reserved_for_parent(ctx)
    # Step 5: reusable state Authorized with <Configured Valid IdTag 2>.
    await authorized(ctx, settings.valid_id_tag_2)
    # Steps 6-10: [EV driver plugs in the cable]; StartTransaction and Charging "may be reversed"; the
    # StartTransaction.req's reservationId is the one of step 1.
    start = await _start_after_plug(ctx)
    _check_start(start, settings.valid_id_tag_2, RESERVATION_ID, "step 7")


async def tc_053_2(ctx: CaseContext) -> None:
    """TC_053_2_CS Use a reserved Connector with parentIdTag - Remote start (the tool's variant of TC_053_CS):
    the cable is plugged in and <Configured Valid IdTag 2> is started remotely on the reserved connector."""
    settings = ctx.settings
    connector = settings.connector_id
    tag = settings.valid_id_tag_2
    await _reserved_for_parent(ctx)
    # [EV driver plugs in the cable]: the connector stays Reserved (OCPP 1.6 §4.9: only the reservation's
    # identity (G2) leaves Reserved), as in reusable state Charging.
    await ctx.control.plug(connector)
    reply = await ctx.csms.call_result("RemoteStartTransaction", {"connectorId": connector, "idTag": tag})
    check(reply["status"] == "Accepted", f"RemoteStartTransaction.conf status is {reply['status']}, expected Accepted")
    # The parent of the idTag is not known locally: the station SHALL ask with an Authorize.req (OCPP 1.6 §5.13);
    # Authorize and Preparing "may be reversed" (as in reusable state Authorized).
    await ctx.csms.expect_unordered(
        [
            Expect("Authorize", {"idTag": tag}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Preparing"}),
        ],
        triggered_by="RemoteStartTransaction",
    )
    start, _charging = await transaction_started(ctx, connector, None, triggered_by="RemoteStartTransaction")
    _check_start(start, tag, RESERVATION_ID, "StartTransaction.req")


def _case(
    tool_id: str, title: str, section: str, run: CaseFunction, overrides: tuple[tuple[str, str], ...] = ()
) -> TestCase:
    return TestCase(tool_id, title, RESERVATION, MODULE, section, run, config_overrides=overrides)


CASES: tuple[TestCase, ...] = (
    _case("TC_046_1", "Reservation of a Connector - Local start transaction", "2.20.1", tc_046_1),
    _case("TC_046_2", "Reservation of a Connector - Remote start transaction", "2.20.1", tc_046_2),
    _case("TC_047", "Reservation of a Connector - Expire", "2.20.1", tc_047),
    _case("TC_048_1", "Reservation of a Connector - Faulted", "2.20.1", tc_048_1),
    _case("TC_048_2", "Reservation of a Connector - Occupied", "2.20.1", tc_048_2),
    _case("TC_048_3", "Reservation of a Connector - Unavailable", "2.20.1", tc_048_3),
    _case("TC_048_4", "Reservation of a Connector - Rejected", "2.20.1", tc_048_4, WITHOUT_RESERVATION),
    _case("TC_049", "Reservation of a Charge Point - Transaction", "2.20.2", tc_049, CONNECTOR_ZERO),
    _case("TC_050_1", "Reservation of a Charge Point - Faulted", "2.20.2", tc_050_1, CONNECTOR_ZERO),
    _case("TC_050_2", "Reservation of a Charge Point - Occupied", "2.20.2", tc_050_2, CONNECTOR_ZERO),
    _case("TC_050_3", "Reservation of a Charge Point - Unavailable", "2.20.2", tc_050_3, CONNECTOR_ZERO),
    _case("TC_050_4", "Reservation of a Charge Point - Rejected", "2.20.2", tc_050_4, WITHOUT_RESERVATION),
    _case("TC_051", "Cancel Reservation", "2.20.3", tc_051),
    _case("TC_052", "Cancel Reservation - Rejected", "2.20.3", tc_052),
    _case("TC_053_1", "Use a reserved Connector with parentIdTag - Local", "2.20.4", tc_053_1),
    _case("TC_053_2", "Use a reserved Connector with parentIdTag - Remote", "2.20.4", tc_053_2),
)
