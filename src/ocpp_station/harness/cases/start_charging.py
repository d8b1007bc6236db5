"""OCTT module 02 "Start Charging Session" (OCTT document §2.2): TC_003_CS."""

from __future__ import annotations

from ..case import CORE, CaseContext, TestCase, check
from ..csms import Expect

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
    start, _charging = await csms.expect_unordered(
        [
            Expect("StartTransaction", {"connectorId": connector, "idTag": tag}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Charging"}),
        ]
    )
    check(start.response_payload["idTagInfo"]["status"] == "Accepted", "the tool did not accept the transaction")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_003", "Regular Charging Session - Plugin First", CORE, MODULE, "2.2.1", tc_003),
)
