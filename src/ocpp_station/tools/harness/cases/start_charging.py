"""OCTT module 02 "Start Charging Session" (OCTT document §2.2): TC_003_CS, TC_004_1_CS, TC_004_2_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.states import authorized, ensure_configuration, transaction_started

MODULE = "02 Start Charging Session"


async def tc_003(ctx: CaseContext) -> None:
    """TC_003_CS Regular Charging Session - Plugin First."""
    settings = ctx.settings
    csms = ctx.csms
    connector = settings.connector_id
    tag = settings.valid_id_tag
    # [EV driver plugs in the cable.] Step 1: status is Preparing.
    await ctx.control.plug(connector)
    await csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})
    # [EV driver presents identification.] Step 3-4: Authorize, answered Accepted.
    await ctx.control.present_id_tag(tag, connector)
    authorize = await csms.expect("Authorize", {"idTag": tag})
    check(authorize.response_payload["idTagInfo"]["status"] == "Accepted", "the tool did not accept the idTag")
    # Steps 5 and 7 "may be reversed"; step 7: status is Charging.
    await transaction_started(ctx, connector, tag)


async def tc_004_1(ctx: CaseContext) -> None:
    """TC_004_1_CS Regular Charging Session – Identification First."""
    settings = ctx.settings
    connector = settings.connector_id
    # Configuration state: MeterValueSampleInterval is <Configured Meter Value interval>.
    await ensure_configuration(ctx, {"MeterValueSampleInterval": str(settings.meter_value_interval)})
    # Step 1: reusable state Authorized (Authorize.req Accepted, StatusNotification Preparing).
    await authorized(ctx)
    # Step 2: [EV driver plugs in the cable.] Steps 3 and 5 may be reversed; step 5: status is Charging.
    await ctx.control.plug(connector)
    # Step 4: StartTransaction.conf idTagInfo.status is Accepted.
    await transaction_started(ctx, connector, settings.valid_id_tag)


async def tc_004_2(ctx: CaseContext) -> None:
    """TC_004_2_CS Regular Charging Session – Identification First - ConnectionTimeOut."""
    settings = ctx.settings
    connector = settings.connector_id
    timeout = settings.connection_timeout
    # Configuration state: ConnectionTimeOut is <Configured connectionTimeout>.
    await ensure_configuration(ctx, {"ConnectionTimeOut": str(timeout)})
    # Step 1: reusable state Authorized; no cable follows.
    await authorized(ctx)
    preparing = next(
        call
        for call in reversed(ctx.csms.station_calls)
        if call.action == "StatusNotification" and call.payload["connectorId"] == connector
    )
    # Step 2: [After the configured connectionTimeOut has expired.] status is Available; nothing else
    # (in particular no StartTransaction.req) in between.
    available = await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Available"},
        timeout=timeout + settings.late_tolerance + settings.message_timeout,
    )
    # Harness addition: ConnectionTimeOut counts from the start of Preparing (OCPP 1.6 §9.1.7), so Available
    # may come neither before the timeout nor much after it.
    waited = available.received_at - preparing.received_at
    check(
        timeout - settings.early_tolerance <= waited <= timeout + settings.late_tolerance,
        f"Available {waited:.2f} s after Preparing, expected ConnectionTimeOut = {timeout} s"
        f" (-{settings.early_tolerance:g}/+{settings.late_tolerance:g} s)",
    )


CASES: tuple[TestCase, ...] = (
    TestCase("TC_003", "Regular Charging Session - Plugin First", CORE, MODULE, "2.2.1", tc_003),
    TestCase("TC_004_1", "Regular Charging Session - Identification First", CORE, MODULE, "2.2.2", tc_004_1),
    TestCase(
        "TC_004_2",
        "Regular Charging Session - Identification First - ConnectionTimeOut",
        CORE,
        MODULE,
        "2.2.3",
        tc_004_2,
    ),
)
