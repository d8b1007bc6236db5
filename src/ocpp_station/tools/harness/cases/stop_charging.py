"""OCTT module 03 "Stop Charging Session" (OCTT document §2.3): TC_068_CS, TC_069_CS, TC_005_1_CS,
TC_005_2_CS, TC_005_3_CS.

The TC_005 cases run on the detachable-cable build: there the EV-side unplug leaves the cable in the
station's socket, so the connector lock and the Finishing status can be observed. Their validations keep
the fixed-cable alternatives the document allows ("Finishing OR Available", "Unlocked OR NotSupported").
"""

from __future__ import annotations

from collections.abc import Iterable

from ocpp_station.protocol.rpc import Call, Payload
from ocpp_station.tools.harness.case import CORE, CaseContext, NotApplicable, TestCase, check
from ocpp_station.tools.harness.cases._steps import status_is
from ocpp_station.tools.harness.csms import STATION_ACTIONS, Expect
from ocpp_station.tools.harness.settings import DETACHABLE
from ocpp_station.tools.harness.states import Transaction, charging, ensure_configuration, read_key

MODULE = "03 Stop Charging Session"

EV_SIDE_DISCONNECTED = "EV side disconnected"  # StatusNotification.req info of TC_005_3 step 1


async def expect_none_of(ctx: CaseContext, actions: Iterable[str], for_seconds: float) -> None:
    """'The Charge Point does NOT send X.req and does NOT send Y.req': none of `actions` for `for_seconds`;
    any other request is left for the next step to judge."""
    forbidden = set(actions)
    others = [Expect(action) for action in sorted(STATION_ACTIONS - forbidden)]
    await ctx.csms.expect_nothing(None, for_seconds, tolerate=others)


async def _stopped(ctx: CaseContext, transaction: Transaction, statuses: tuple[str, ...]) -> Payload:
    """'[Step A and step B may be reversed.] StopTransaction.req / StatusNotification.req' (OCTT §1.2):
    the StopTransaction.req of the transaction and the connector's status; returns the StopTransaction.req."""
    stop, _status = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            status_is(transaction.connector_id, statuses),
        ]
    )
    return stop.payload


def _same_tag(a: object, b: str) -> bool:
    # IdToken is case-insensitive (OCPP 1.6 §7.28).
    return isinstance(a, str) and a.casefold() == b.casefold()


async def _bench_lock(ctx: CaseContext, connector: int) -> bool | None:
    """What the test bench shows of the connector lock (None: the control API does not report it)."""
    locked = (await ctx.control.connector_state(connector)).get("locked")
    return locked if isinstance(locked, bool) else None


async def tc_068(ctx: CaseContext) -> None:
    """TC_068_CS Stop transaction - IdTag in StopTransaction matches IdTag in StartTransaction."""
    settings = ctx.settings
    # Reusable state Charging.
    transaction = await charging(ctx)
    connector = transaction.connector_id
    # [EV driver swipes a card with <Configured Valid IdTag 2>] at the connector under test (one reader per
    # connector, so the prerequisite about the other connector does not arise).
    await ctx.control.present_id_tag(settings.valid_id_tag_2, connector)
    # Step 1: no Authorize.req and no StopTransaction.req.
    await expect_none_of(ctx, ("Authorize", "StopTransaction"), settings.transaction_duration)
    # [EV driver swipes the card used to start the transaction.] Steps 3 and 5 may be reversed.
    await ctx.control.present_id_tag(transaction.id_tag, connector)
    stop = await _stopped(ctx, transaction, ("Finishing",))
    # Step 3: the idTag matches the idTag that was used to start the transaction; step 5: Finishing.
    check(
        _same_tag(stop.get("idTag"), transaction.id_tag),
        f"step 3: StopTransaction.req idTag is {stop.get('idTag')!r}, expected {transaction.id_tag!r}",
    )


async def tc_069(ctx: CaseContext) -> None:
    """TC_069_CS Stop transaction - ParentIdTag in StopTransaction matches ParentIdTag in StartTransaction."""
    settings = ctx.settings
    parent = settings.parent_id_tag

    def with_parent(call: Call) -> Payload:
        # The tool's answers give the valid idTags the parentIdTag <Configured ParentId>, so the transaction
        # starts with it (Charging) and the second idTag shares it (step 2).
        reply = ctx.csms.default_response(call)
        info = reply.get("idTagInfo")
        if isinstance(info, dict) and info.get("status") == "Accepted":
            info["parentIdTag"] = parent
        return reply

    for action in ("Authorize", "StartTransaction"):
        ctx.csms.respond_with(action, with_parent, once=False)
    # Reusable state Charging (with <Configured Valid IdTag>).
    transaction = await charging(ctx)
    connector = transaction.connector_id
    other = settings.valid_id_tag_2
    check(not _same_tag(other, transaction.id_tag), "<Configured Valid IdTag 2> must differ from the valid idTag")
    # [EV driver swipes a card with a different idTag and the same parentIdTag.] Step 1: Authorize.req.
    await ctx.control.present_id_tag(other, connector)
    authorize = await ctx.csms.expect("Authorize")
    check(
        not _same_tag(authorize.payload["idTag"], transaction.id_tag),
        "step 1: Authorize.req idTag is the one that started the transaction",
    )
    # Step 2 (the tool's answer): Accepted, with the parentIdTag the transaction was started with.
    info = authorize.response_payload["idTagInfo"]
    check(
        info["status"] == "Accepted" and info.get("parentIdTag") == parent,
        f"step 2: Authorize.conf idTagInfo is {info}",
    )
    # Steps 3 and 5 may be reversed; step 3: the idTag matches step 1; step 5: Finishing.
    stop = await _stopped(ctx, transaction, ("Finishing",))
    check(
        _same_tag(stop.get("idTag"), authorize.payload["idTag"]),
        f"step 3: StopTransaction.req idTag is {stop.get('idTag')!r}, expected {authorize.payload['idTag']!r}",
    )


async def _stop_on_ev_side_disconnect_prerequisite(ctx: CaseContext) -> None:
    """'StopTransactionOnEVSideDisconnect does NOT have the accessibility ReadOnly in combination with value
    false' (TC_005_1, TC_005_2)."""
    key = await read_key(ctx, "StopTransactionOnEVSideDisconnect")
    if key is not None and key.readonly and (key.value or "").strip().lower() == "false":
        raise NotApplicable("StopTransactionOnEVSideDisconnect is read-only false")


async def _ev_side_stop(ctx: CaseContext, statuses: tuple[str, ...]) -> Transaction:
    """Reusable state Charging, then [EV driver unplugs cable on EV side.]: StopTransaction.req with reason
    EVDisconnected (step 1) and the connector's status (step 3), in either order."""
    transaction = await charging(ctx)
    await ctx.control.unplug(transaction.connector_id, side="ev")
    stop = await _stopped(ctx, transaction, statuses)
    check(stop.get("reason") == "EVDisconnected", f"step 1: reason is {stop.get('reason')}, expected EVDisconnected")
    return transaction


async def tc_005_1(ctx: CaseContext) -> None:
    """TC_005_1_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = true -
    UnlockConnectorOnEVSideDisconnect = true."""
    await _stop_on_ev_side_disconnect_prerequisite(ctx)
    await ensure_configuration(
        ctx,
        {
            "MinimumStatusDuration": "0",
            "StopTransactionOnEVSideDisconnect": "true",
            "UnlockConnectorOnEVSideDisconnect": "true",
        },
    )
    # Steps 1 and 3: reason EVDisconnected; status Finishing (the cable is still in the socket).
    transaction = await _ev_side_stop(ctx, ("Finishing",))
    # Harness addition (OCPP 1.6 §9.1.33): the station unlocked the cable at the EV-side disconnect.
    check(
        await _bench_lock(ctx, transaction.connector_id) is not True,
        "the cable is still locked although UnlockConnectorOnEVSideDisconnect is true",
    )


async def tc_005_2(ctx: CaseContext) -> None:
    """TC_005_2_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = true -
    UnlockConnectorOnEVSideDisconnect = false."""
    await _stop_on_ev_side_disconnect_prerequisite(ctx)
    await ensure_configuration(
        ctx,
        {
            "MinimumStatusDuration": "0",
            "StopTransactionOnEVSideDisconnect": "true",
            "UnlockConnectorOnEVSideDisconnect": "false",
        },
    )
    # Steps 1 and 3: reason EVDisconnected; status Finishing OR Available.
    transaction = await _ev_side_stop(ctx, ("Finishing", "Available"))
    connector = transaction.connector_id
    detachable = ctx.settings.hardware_variant == DETACHABLE
    # Harness addition (OCPP 1.6 §9.1.33): the cable stays locked in the socket after the EV-side stop.
    if detachable:
        check(
            await _bench_lock(ctx, connector) is not False,
            "the cable was unlocked at the EV-side disconnect although UnlockConnectorOnEVSideDisconnect is false",
        )
    # Steps 5-6: UnlockConnector.conf status is Unlocked OR NotSupported.
    reply = await ctx.csms.call_result("UnlockConnector", {"connectorId": connector})
    check(
        reply["status"] in ("Unlocked", "NotSupported"),
        f"step 6: UnlockConnector.conf status is {reply['status']}, expected Unlocked or NotSupported",
    )
    if detachable and reply["status"] == "Unlocked":
        check(await _bench_lock(ctx, connector) is not True, "UnlockConnector answered Unlocked, the cable is locked")


async def tc_005_3(ctx: CaseContext) -> None:
    """TC_005_3_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = false -
    UnlockConnectorOnEVSideDisconnect = false."""
    settings = ctx.settings
    # Prerequisite: StopTransactionOnEVSideDisconnect is implemented AND read-write.
    key = await read_key(ctx, "StopTransactionOnEVSideDisconnect")
    if key is None or key.readonly:
        raise NotApplicable("StopTransactionOnEVSideDisconnect is not implemented read-write")
    await ensure_configuration(
        ctx,
        {
            "MinimumStatusDuration": "0",
            "StopTransactionOnEVSideDisconnect": "false",
            "UnlockConnectorOnEVSideDisconnect": "false",
        },
    )
    transaction = await charging(ctx)
    connector = transaction.connector_id
    # [EV driver unplugs cable on EV side.] Step 1: SuspendedEV AND/OR SuspendedEVSE, info "EV side
    # disconnected" -- and no StopTransaction.req: the transaction goes on.
    suspended = ("SuspendedEV", "SuspendedEVSE")
    await ctx.control.unplug(connector, side="ev")
    status = await ctx.csms.expect("StatusNotification", lambda p: p["connectorId"] == connector)
    check(status.payload["status"] in suspended, f"step 1: status is {status.payload['status']}, expected SuspendedEV")
    info = status.payload.get("info")
    check(
        isinstance(info, str) and info.casefold() == EV_SIDE_DISCONNECTED.casefold(),
        f"step 1: info is {info!r}, expected {EV_SIDE_DISCONNECTED!r}",
    )
    # Harness addition (OCPP 1.6 §4.10): StopTransactionOnEVSideDisconnect=false keeps the cable locked.
    if settings.hardware_variant == DETACHABLE:
        check(await _bench_lock(ctx, connector) is not False, "the cable was unlocked while the transaction goes on")
    # Steps 3-4.
    reply = await ctx.csms.call_result("RemoteStopTransaction", {"transactionId": transaction.transaction_id})
    check(reply["status"] == "Accepted", f"step 4: RemoteStopTransaction.conf status is {reply['status']}")
    # Steps 5 and 7 may be reversed: Finishing (OR Available in case of a fixed cable); reason Remote. The
    # "AND/OR" of step 1 lets the other suspended status follow.
    stop, _status = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            status_is(connector, ("Finishing", "Available")),
        ],
        tolerate=(*settings.tolerated_actions, status_is(connector, suspended)),
        triggered_by="RemoteStopTransaction",
    )
    check(stop.payload.get("reason") == "Remote", f"step 7: reason is {stop.payload.get('reason')}, expected Remote")


CASES: tuple[TestCase, ...] = (
    TestCase(
        "TC_068",
        "Stop transaction - IdTag in StopTransaction matches IdTag in StartTransaction",
        CORE,
        MODULE,
        "2.3.1",
        tc_068,
    ),
    TestCase(
        "TC_069",
        "Stop transaction - ParentIdTag in StopTransaction matches ParentIdTag in StartTransaction",
        CORE,
        MODULE,
        "2.3.2",
        tc_069,
    ),
    TestCase(
        "TC_005_1",
        "EV Side Disconnected - StopTransactionOnEVSideDisconnect = true - UnlockConnectorOnEVSideDisconnect = true",
        CORE,
        MODULE,
        "2.3.3",
        tc_005_1,
        hardware=(DETACHABLE,),
    ),
    TestCase(
        "TC_005_2",
        "EV Side Disconnected - StopTransactionOnEVSideDisconnect = true - UnlockConnectorOnEVSideDisconnect = false",
        CORE,
        MODULE,
        "2.3.4",
        tc_005_2,
        hardware=(DETACHABLE,),
    ),
    TestCase(
        "TC_005_3",
        "EV Side Disconnected - StopTransactionOnEVSideDisconnect = false - UnlockConnectorOnEVSideDisconnect = false",
        CORE,
        MODULE,
        "2.3.5",
        tc_005_3,
        hardware=(DETACHABLE,),
    ),
)
