"""OCTT module 06 "Resetting" happy flow (OCTT document §2.6): TC_013_CS, TC_014_CS, TC_015_CS, TC_016_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.cases._steps import boot_statuses, expect_boot
from ocpp_station.tools.harness.csms import CaseFailure, Expect, StationCall
from ocpp_station.tools.harness.states import charging, connector_ids, set_connector_unavailable

MODULE = "06 Resetting"


async def _reset(ctx: CaseContext, kind: str) -> None:
    """Reset.req with the type (tool validation "The type is Hard/Soft"); Reset.conf status is Accepted."""
    reply = await ctx.csms.call_result("Reset", {"type": kind})
    check(reply["status"] == "Accepted", f"Reset.conf status is {reply['status']}, expected Accepted")


async def _soft_boot(ctx: CaseContext) -> StationCall | None:
    """TC_014 / TC_016 step 7: '[This message is optional.] The Charge Point sends a BootNotification.req'."""
    try:
        return await expect_boot(ctx, triggered_by="Reset")
    except CaseFailure as failure:
        if ctx.csms.unconsumed() or not str(failure).startswith("timed out"):
            raise
    ctx.note("Soft reset: the station sent no BootNotification.req (optional in the document)")
    return None


def _check_restarted(ctx: CaseContext, boot: StationCall, connection: int) -> None:
    # Harness addition: a hard reset restarts all the hardware (OCPP 1.6 §5.14), so the BootNotification
    # cannot come over the connection that carried the Reset.req.
    check(
        boot.connection > connection,
        "the BootNotification.req after the Hard reset came over the connection of the Reset.req:"
        " the station did not restart",
    )


async def _without_transaction(ctx: CaseContext, kind: str) -> None:
    """TC_013 (Hard) / TC_014 (Soft): the connector made Unavailable stays Unavailable across the reset."""
    connector = ctx.settings.connector_id
    connectors = await connector_ids(ctx)
    # Steps 1-4: ChangeAvailability(<Configured ConnectorId>, Inoperative) Accepted; StatusNotification
    # (connectorId <Configured ConnectorId>, Unavailable): the reusable state SetConnectorUnavailable.
    await set_connector_unavailable(ctx)
    connection = ctx.csms.connection_count
    # Steps 5-6.
    await _reset(ctx, kind)
    # Steps 7-10: BootNotification (optional for Soft), then a StatusNotification per connector and
    # connectorId 0: <Configured ConnectorId> Unavailable (OCPP 1.6 §5.14: the state persists), the others
    # Available.
    if kind == "Hard":
        boot: StationCall | None = await expect_boot(ctx, triggered_by="Reset")
        assert boot is not None
        _check_restarted(ctx, boot, connection)
    else:
        boot = await _soft_boot(ctx)
    if boot is not None:
        await ctx.csms.expect_unordered(boot_statuses(connectors, {connector: ("Unavailable",)}))
    # Steps 11-14.
    reply = await ctx.csms.call_result("ChangeAvailability", {"connectorId": connector, "type": "Operative"})
    check(reply["status"] == "Accepted", f"step 12: ChangeAvailability.conf status is {reply['status']}")
    await ctx.csms.expect(
        "StatusNotification", {"connectorId": connector, "status": "Available"}, triggered_by="ChangeAvailability"
    )


async def _with_transaction(ctx: CaseContext, kind: str) -> None:
    """TC_015 (Hard) / TC_016 (Soft): the transaction is stopped with reason HardReset / SoftReset."""
    connector = ctx.settings.connector_id
    connectors = await connector_ids(ctx)
    transaction = await charging(ctx)
    reason = f"{kind}Reset"
    stop_step = Expect("StopTransaction", {"transactionId": transaction.transaction_id})
    finishing = Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"})
    connection = ctx.csms.connection_count
    # Steps 1-2.
    await _reset(ctx, kind)
    stop: StationCall | None = None
    boot: StationCall | None
    if kind == "Soft":
        # Steps 3-6: StopTransaction (reason SoftReset) and StatusNotification Finishing ("may be reversed":
        # the document's general convention for StopTransaction / Finishing), before the optional reboot.
        stop, _finishing = await ctx.csms.expect_unordered([stop_step, finishing], triggered_by="Reset")
        boot = await _soft_boot(ctx)
    else:
        # Step 3 "[Needs to be sent either before or after step 7.]"; step 5 (Finishing) "[Needs to be sent
        # if step 3 is sent. Otherwise it is optional.]": until the BootNotification, read what comes.
        finished = False
        while True:
            item = await ctx.csms.expect_one_of(
                [stop_step, finishing, Expect("BootNotification")],
                timeout=ctx.settings.connect_timeout,
                triggered_by="Reset",
            )
            if item.action == "BootNotification":
                boot = item
                break
            if item.action == "StopTransaction":
                check(stop is None, "a second StopTransaction.req for the transaction before the reboot")
                stop = item
            else:
                finished = True
        check(
            stop is None or finished,
            "step 5: StopTransaction.req was sent before the reboot, but no StatusNotification.req Finishing",
        )
        status = boot.response_payload["status"]
        check(status == "Accepted", f"the tool answered the BootNotification.req {status}, expected Accepted")
        _check_restarted(ctx, boot, connection)
    if boot is not None:
        # Step 9: the connector which had the transaction Finishing OR Preparing (the cable is still in), the
        # others Available; for Hard, a StopTransaction not sent yet comes now ("after step 7").
        steps = boot_statuses(connectors, {connector: ("Finishing", "Preparing")})
        if stop is None:
            steps.append(stop_step)
        found = await ctx.csms.expect_unordered(steps)
        if stop is None:
            stop = found[-1]
    assert stop is not None
    check(
        stop.payload.get("reason") == reason,
        f"step 3: StopTransaction.req reason is {stop.payload.get('reason')}, expected {reason}",
    )


async def tc_013(ctx: CaseContext) -> None:
    """TC_013_CS Hard Reset Without transaction."""
    await _without_transaction(ctx, "Hard")


async def tc_014(ctx: CaseContext) -> None:
    """TC_014_CS Soft Reset Without Transaction."""
    await _without_transaction(ctx, "Soft")


async def tc_015(ctx: CaseContext) -> None:
    """TC_015_CS Hard Reset With Transaction."""
    await _with_transaction(ctx, "Hard")


async def tc_016(ctx: CaseContext) -> None:
    """TC_016_CS Soft Reset With Transaction."""
    await _with_transaction(ctx, "Soft")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_013", "Hard Reset Without transaction", CORE, MODULE, "2.6.1", tc_013),
    TestCase("TC_014", "Soft Reset Without Transaction", CORE, MODULE, "2.6.2", tc_014),
    TestCase("TC_015", "Hard Reset With Transaction", CORE, MODULE, "2.6.3", tc_015),
    TestCase("TC_016", "Soft Reset With Transaction", CORE, MODULE, "2.6.4", tc_016),
)
