"""OCTT module 12 "Remote Actions" non-happy flow (OCTT document §2.11): TC_026_CS, TC_027_CS, TC_028_CS."""

from __future__ import annotations

from ocpp_station.protocol.rpc import CallError
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.states import charging, ensure_configuration

MODULE = "12 Remote Actions Non-Happy"


async def tc_026(ctx: CaseContext) -> None:
    """TC_026_CS Remote Start Charging Session – Rejected."""
    await ensure_configuration(ctx, {"LocalPreAuthorize": "false"})
    transaction = await charging(ctx)
    # Step 1: connectorId is the one of the reusable state Charging. Step 2: status is Rejected.
    reply = await ctx.csms.call_result(
        "RemoteStartTransaction", {"connectorId": transaction.connector_id, "idTag": ctx.settings.valid_id_tag}
    )
    check(reply["status"] == "Rejected", f"step 2: RemoteStartTransaction.conf status is {reply['status']}")


async def tc_027(ctx: CaseContext) -> None:
    """TC_027_CS Remote start transaction - connector id shall not be 0: status Rejected, OR a CallError."""
    reply = await ctx.csms.call("RemoteStartTransaction", {"connectorId": 0, "idTag": ctx.settings.valid_id_tag})
    if isinstance(reply, CallError):
        ctx.note(f"RemoteStartTransaction with connectorId 0 answered with CallError {reply.code}")
        return
    check(reply["status"] == "Rejected", f"step 2: RemoteStartTransaction.conf status is {reply['status']}")


async def tc_028(ctx: CaseContext) -> None:
    """TC_028_CS Remote Stop Transaction – Rejected."""
    transaction = await charging(ctx)
    # Step 1: transactionId is <Unknown transactionId> (not the running one).
    unknown = transaction.transaction_id + 1000
    reply = await ctx.csms.call_result("RemoteStopTransaction", {"transactionId": unknown})
    check(reply["status"] == "Rejected", f"step 2: RemoteStopTransaction.conf status is {reply['status']}")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_026", "Remote Start Charging Session - Rejected", CORE, MODULE, "2.11.1", tc_026),
    TestCase("TC_027", "Remote start transaction - connector id shall not be 0", CORE, MODULE, "2.11.2", tc_027),
    TestCase("TC_028", "Remote Stop Transaction - Rejected", CORE, MODULE, "2.11.3", tc_028),
)
