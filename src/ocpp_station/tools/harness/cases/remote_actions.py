"""OCTT module 05 "Remote Actions" happy flow (OCTT document §2.5): TC_010_CS, TC_011_1_CS, TC_011_2_CS,
TC_012_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.csms import Expect, StationCall
from ocpp_station.tools.harness.states import (
    charging,
    ensure_configuration,
    get_configuration,
    parse_bool,
    transaction_started,
)

MODULE = "05 Remote Actions"


async def tc_010(ctx: CaseContext) -> None:
    """TC_010_CS Remote Start Charging Session - Cable Plugged in First.

    The document's scenario is exactly the reusable state "Charging" (Table 105: GetConfiguration of
    AuthorizeRemoteTxRequests, plug in, Preparing, RemoteStartTransaction Accepted, Authorize if
    AuthorizeRemoteTxRequests, StartTransaction and Charging in either order)."""
    await charging(ctx)


async def remote_start_first(ctx: CaseContext) -> StationCall:
    """Steps 1-8 of TC_011_1 / TC_011_2 (and the Before steps of TC_024): GetConfiguration of
    AuthorizeRemoteTxRequests, RemoteStartTransaction Accepted, [if true] Authorize.req answered Accepted,
    then StatusNotification(Preparing), in this order. Returns the Preparing StatusNotification.req."""
    settings = ctx.settings
    connector = settings.connector_id
    # Steps 1-2: "The key is AuthorizeRemoteTxRequests"; "The configurationKey.key is AuthorizeRemoteTxRequests".
    reply = await get_configuration(ctx, ["AuthorizeRemoteTxRequests"])
    keys = [kv.key for kv in reply.keys]
    check(keys == ["AuthorizeRemoteTxRequests"], f"step 2: configurationKey lists {keys}")
    authorize_remote = parse_bool(reply.keys[0], "AuthorizeRemoteTxRequests")
    # Steps 3-4: status is Accepted.
    answer = await ctx.csms.call_result(
        "RemoteStartTransaction", {"connectorId": connector, "idTag": settings.valid_id_tag}
    )
    check(answer["status"] == "Accepted", f"step 4: RemoteStartTransaction.conf status is {answer['status']}")
    # Steps 5-6 [if AuthorizeRemoteTxRequests = true]: Authorize.conf idTagInfo.status is Accepted.
    if authorize_remote:
        authorize = await ctx.csms.expect(
            "Authorize", {"idTag": settings.valid_id_tag}, triggered_by="RemoteStartTransaction"
        )
        check(authorize.response_payload["idTagInfo"]["status"] == "Accepted", "step 6: the idTag is not Accepted")
    # Step 7: status is Preparing.
    return await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Preparing"},
        triggered_by="RemoteStartTransaction",
    )


async def tc_011_1(ctx: CaseContext) -> None:
    """TC_011_1_CS Remote Start Charging Session – Remote Start First."""
    settings = ctx.settings
    connector = settings.connector_id
    await remote_start_first(ctx)
    # [EV driver plugs in the cable.] Steps 9 and 11 (may be reversed, OCTT §1.2); step 11: Charging.
    await ctx.control.plug(connector)
    # Step 10: StartTransaction.conf idTagInfo.status is Accepted.
    await transaction_started(ctx, connector, settings.valid_id_tag)


async def tc_011_2(ctx: CaseContext) -> None:
    """TC_011_2_CS Remote Start Charging Session – Time Out."""
    settings = ctx.settings
    timeout = settings.connection_timeout
    # Configuration state: ConnectionTimeOut is <Configured connectionTimeout>.
    await ensure_configuration(ctx, {"ConnectionTimeOut": str(timeout)})
    preparing = await remote_start_first(ctx)
    # [After the configured connection timeout has been reached.] Step 9: status is Available.
    available = await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": settings.connector_id, "status": "Available"},
        timeout=timeout + settings.late_tolerance + settings.message_timeout,
    )
    # Harness addition: ConnectionTimeOut counts from the start of Preparing (OCPP 1.6 §9.1.7).
    waited = available.received_at - preparing.received_at
    check(
        timeout - settings.early_tolerance <= waited <= timeout + settings.late_tolerance,
        f"Available {waited:.2f} s after Preparing, expected ConnectionTimeOut = {timeout} s"
        f" (-{settings.early_tolerance:g}/+{settings.late_tolerance:g} s)",
    )


async def tc_012(ctx: CaseContext) -> None:
    """TC_012_CS Remote Stop Charging Session."""
    transaction = await charging(ctx)
    # Steps 1-2: RemoteStopTransaction.conf status is Accepted.
    reply = await ctx.csms.call_result("RemoteStopTransaction", {"transactionId": transaction.transaction_id})
    check(reply["status"] == "Accepted", f"step 2: RemoteStopTransaction.conf status is {reply['status']}")
    # Steps 3 and 5 may be reversed: reason is Remote; status is Finishing.
    stop, _finishing = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            Expect("StatusNotification", {"connectorId": transaction.connector_id, "status": "Finishing"}),
        ],
        triggered_by="RemoteStopTransaction",
    )
    check(stop.payload.get("reason") == "Remote", f"step 3: reason is {stop.payload.get('reason')}, expected Remote")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_010", "Remote Start Charging Session - Cable Plugged in First", CORE, MODULE, "2.5.1", tc_010),
    TestCase("TC_011_1", "Remote Start Charging Session - Remote Start First", CORE, MODULE, "2.5.2", tc_011_1),
    TestCase("TC_011_2", "Remote Start Charging Session - Time Out", CORE, MODULE, "2.5.3", tc_011_2),
    TestCase("TC_012", "Remote Stop Charging Session", CORE, MODULE, "2.5.4", tc_012),
)
