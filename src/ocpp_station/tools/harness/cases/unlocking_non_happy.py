"""OCTT module 13 "Unlocking" non-happy flow (OCTT document §2.12): TC_030_CS, TC_031_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.settings import DETACHABLE
from ocpp_station.tools.harness.states import connector_ids

MODULE = "13 Unlocking Non-Happy"


async def tc_030(ctx: CaseContext) -> None:
    """TC_030_CS Unlock Connector – Unlock Failure (a connector lock that can fail: detachable cable)."""
    connector = ctx.settings.connector_id
    # Prerequisite: [the Charge Point is in a state where a connector lock failure can be triggered.]
    await ctx.control.set_unlock_failure(connector, True)
    # Steps 1-2: UnlockConnector.conf status is UnlockFailed.
    reply = await ctx.csms.call_result("UnlockConnector", {"connectorId": connector})
    check(reply["status"] == "UnlockFailed", f"step 2: UnlockConnector.conf status is {reply['status']}")


async def tc_031(ctx: CaseContext) -> None:
    """TC_031_CS Unlock Connector – Unknown Connector."""
    # Step 1: connectorId is <Unknown connectorId>: one past the station's last connector.
    unknown = max(await connector_ids(ctx)) + 1
    reply = await ctx.csms.call_result("UnlockConnector", {"connectorId": unknown})
    check(reply["status"] == "NotSupported", f"step 2: UnlockConnector.conf status is {reply['status']}")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_030", "Unlock Connector - Unlock Failure", CORE, MODULE, "2.12.1", tc_030, hardware=(DETACHABLE,)),
    TestCase("TC_031", "Unlock Connector - Unknown Connector", CORE, MODULE, "2.12.2", tc_031),
)
