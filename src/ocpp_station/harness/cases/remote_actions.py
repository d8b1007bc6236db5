"""OCTT module 05 "Remote Actions" happy flow (OCTT document §2.5): TC_010_CS."""

from __future__ import annotations

from ..case import CORE, CaseContext, TestCase
from ..states import charging

MODULE = "05 Remote Actions"


async def tc_010(ctx: CaseContext) -> None:
    """TC_010_CS Remote Start Charging Session - Cable Plugged in First.

    The document's scenario is exactly the reusable state "Charging" (Table 105: GetConfiguration of
    AuthorizeRemoteTxRequests, plug in, Preparing, RemoteStartTransaction Accepted, Authorize if
    AuthorizeRemoteTxRequests, StartTransaction and Charging in either order)."""
    await charging(ctx)


CASES: tuple[TestCase, ...] = (
    TestCase("TC_010", "Remote Start Charging Session - Cable Plugged in First", CORE, MODULE, "2.5.1", tc_010),
)
