"""OCTT modules 10/11 "Basic Actions" non-happy flow (OCTT document §2.10): TC_023_4_CS, TC_023_5_CS,
TC_024_CS.

The document's TC_023_CS is the local flavour (TC_023_4: the EV driver presents an invalid idTag); the
tool's TC_023_5 is the same scenario with the invalid idTag sent in a RemoteStartTransaction.req, which
AuthorizeRemoteTxRequests = true makes the Charge Point authorize like a local one.
"""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, NotApplicable, TestCase, check
from ocpp_station.tools.harness.cases.remote_actions import remote_start_first
from ocpp_station.tools.harness.settings import DETACHABLE
from ocpp_station.tools.harness.states import ensure_configuration, read_key

MODULE = "10 Basic Actions Non-Happy"

# TC_023 Configuration State: MinimumStatusDuration is "10" (a status has to last that long to be reported).
TC_023_MINIMUM_STATUS_DURATION = 10


async def _authorize_invalid(ctx: CaseContext, present: bool) -> None:
    """TC_023: [EV driver plugs in the cable.] Preparing; the invalid idTag (presented, or remotely sent)
    gives Authorize.req answered Invalid; the Charge Point does NOT start a transaction."""
    settings = ctx.settings
    connector = settings.connector_id
    tag = settings.invalid_id_tag
    # Step 1: status is Preparing -- reported once it has lasted MinimumStatusDuration.
    await ctx.control.plug(connector)
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Preparing"},
        timeout=TC_023_MINIMUM_STATUS_DURATION + settings.message_timeout,
    )
    # [EV driver presents invalid identification.] (or the remote start with it)
    if present:
        await ctx.control.present_id_tag(tag, connector)
    else:
        reply = await ctx.csms.call_result("RemoteStartTransaction", {"connectorId": connector, "idTag": tag})
        check(reply["status"] == "Accepted", f"RemoteStartTransaction.conf status is {reply['status']}")
    # Steps 3-4: Authorize.req; Authorize.conf idTagInfo.status is Invalid.
    authorize = await ctx.csms.expect("Authorize", {"idTag": tag})
    status = authorize.response_payload["idTagInfo"]["status"]
    check(status == "Invalid", f"step 4: Authorize.conf status is {status}, expected Invalid")
    # Expected result: the Charge Point does NOT start a transaction.
    await ctx.csms.expect_nothing("StartTransaction", settings.transaction_duration)


async def tc_023_4(ctx: CaseContext) -> None:
    """TC_023_4_CS Start Charging Session – Authorize invalid (local: document TC_023_CS)."""
    await ensure_configuration(
        ctx, {"MinimumStatusDuration": str(TC_023_MINIMUM_STATUS_DURATION), "LocalPreAuthorize": "true"}
    )
    await _authorize_invalid(ctx, present=True)


async def tc_023_5(ctx: CaseContext) -> None:
    """TC_023_5_CS Start Charging Session – Authorize invalid (remote flavour)."""
    remote = await read_key(ctx, "AuthorizeRemoteTxRequests")
    if remote is not None and remote.readonly and (remote.value or "").strip().lower() == "false":
        raise NotApplicable("AuthorizeRemoteTxRequests is read-only false: a remote start is never authorized")
    await ensure_configuration(
        ctx,
        {
            "MinimumStatusDuration": str(TC_023_MINIMUM_STATUS_DURATION),
            "LocalPreAuthorize": "true",
            "AuthorizeRemoteTxRequests": "true",
        },
    )
    await _authorize_invalid(ctx, present=False)


async def tc_024(ctx: CaseContext) -> None:
    """TC_024_CS Start Charging Session - Lock Failure."""
    settings = ctx.settings
    connector = settings.connector_id
    # Steps 1-8 ("executed during the Before steps"): GetConfiguration, RemoteStartTransaction Accepted,
    # [if AuthorizeRemoteTxRequests] Authorize Accepted, StatusNotification Preparing.
    await remote_start_first(ctx)
    # [EV driver plugs in the cable halfway.]: the lock cannot close.
    await ctx.control.set_lock_failure(connector, True)
    await ctx.control.plug(connector)
    # Step 9: errorCode is ConnectorLockFailure, status is Faulted.
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Faulted", "errorCode": "ConnectorLockFailure"},
    )
    # Expected result: the Charging Station does NOT start a transaction.
    await ctx.csms.expect_nothing("StartTransaction", settings.transaction_duration)


CASES: tuple[TestCase, ...] = (
    TestCase("TC_023_4", "Start Charging Session - Authorize invalid", CORE, MODULE, "2.10.1", tc_023_4),
    TestCase("TC_023_5", "Start Remote Charging Session - Authorize invalid", CORE, MODULE, "2.10.1", tc_023_5),
    TestCase("TC_024", "Start Charging Session - Lock Failure", CORE, MODULE, "2.10.2", tc_024, hardware=(DETACHABLE,)),
)
