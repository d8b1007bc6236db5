"""OCTT module 07 "Unlocking" happy flow (OCTT document §2.7): TC_017_1_CS, TC_017_2_CS, TC_018_1_CS,
TC_018_2_CS -- each on its hardware variant (the _1 cases need a detachable cable, the _2 ones a fixed one)."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.csms import Expect
from ocpp_station.tools.harness.settings import DETACHABLE, FIXED_CABLE
from ocpp_station.tools.harness.states import charging

MODULE = "07 Unlocking"


async def _unlock(ctx: CaseContext, expected: str) -> None:
    """Steps 1-2: UnlockConnector.req for <Configured ConnectorId>; UnlockConnector.conf status is `expected`."""
    reply = await ctx.csms.call_result("UnlockConnector", {"connectorId": ctx.settings.connector_id})
    check(reply["status"] == expected, f"step 2: UnlockConnector.conf status is {reply['status']}, expected {expected}")


async def tc_017_1(ctx: CaseContext) -> None:
    """TC_017_1_CS Unlock connector - no charging session running (Not fixed cable)."""
    await _unlock(ctx, "Unlocked")


async def tc_017_2(ctx: CaseContext) -> None:
    """TC_017_2_CS Unlock connector - no charging session running (Fixed cable)."""
    await _unlock(ctx, "NotSupported")


async def tc_018_1(ctx: CaseContext) -> None:
    """TC_018_1_CS Unlock Connector - With Charging Session (Not fixed cable)."""
    transaction = await charging(ctx)
    connector = transaction.connector_id
    await _unlock(ctx, "Unlocked")
    # Steps 3 and 5 (may be reversed, OCTT §1.2): reason is UnlockCommand; status is Finishing.
    stop, _finishing = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"}),
        ],
        triggered_by="UnlockConnector",
    )
    check(
        stop.payload.get("reason") == "UnlockCommand",
        f"step 3: reason is {stop.payload.get('reason')}, expected UnlockCommand",
    )
    # [EV driver unplugs the cable.] Step 7: status is Available.
    await ctx.control.unplug(connector)
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Available"})


async def tc_018_2(ctx: CaseContext) -> None:
    """TC_018_2_CS Unlock Connector - With Charging Session (Fixed cable)."""
    transaction = await charging(ctx)
    await _unlock(ctx, "NotSupported")
    # Harness addition: NotSupported means nothing was done, so the transaction is still running.
    state = await ctx.control.connector_state(transaction.connector_id)
    check(
        state.get("transactionId") == transaction.transaction_id,
        f"after UnlockConnector NotSupported the test bench shows transaction {state.get('transactionId')},"
        f" expected {transaction.transaction_id} to go on",
    )


CASES: tuple[TestCase, ...] = (
    TestCase(
        "TC_017_1",
        "Unlock connector - no charging session running (Not fixed cable)",
        CORE,
        MODULE,
        "2.7.1",
        tc_017_1,
        hardware=(DETACHABLE,),
    ),
    TestCase(
        "TC_017_2",
        "Unlock connector - no charging session running (Fixed cable)",
        CORE,
        MODULE,
        "2.7.2",
        tc_017_2,
        hardware=(FIXED_CABLE,),
    ),
    TestCase(
        "TC_018_1",
        "Unlock Connector - With Charging Session (Not fixed cable)",
        CORE,
        MODULE,
        "2.7.3",
        tc_018_1,
        hardware=(DETACHABLE,),
    ),
    TestCase(
        "TC_018_2",
        "Unlock Connector - With Charging Session (Fixed cable)",
        CORE,
        MODULE,
        "2.7.4",
        tc_018_2,
        hardware=(FIXED_CABLE,),
    ),
)
