"""OCTT module 17 "Fault Behavior" (OCTT document §2.16): TC_041_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase
from ocpp_station.tools.harness.states import set_charge_point_faulted

MODULE = "17 Fault Behavior"


async def tc_041(ctx: CaseContext) -> None:
    """TC_041_CS Fault Behavior."""
    settings = ctx.settings
    connector = settings.connector_id
    # [Set the Charge Point in fault state.] Step 1: status is Faulted (reusable state SetChargePointFaulted:
    # connectorId 0 and every connector).
    await set_charge_point_faulted(ctx)
    # Step 3: [The EV Driver tries to start a transaction.]: cable in, card presented.
    await ctx.control.plug(connector)
    await ctx.control.present_id_tag(settings.valid_id_tag, connector)
    # The tool waits for <Configured Transaction Duration> to verify that no transaction is started.
    await ctx.csms.expect_nothing("StartTransaction", settings.transaction_duration)


CASES: tuple[TestCase, ...] = (TestCase("TC_041", "Fault Behavior", CORE, MODULE, "2.16.1", tc_041),)
