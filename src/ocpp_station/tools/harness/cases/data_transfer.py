"""OCTT module 24 "Data Transfer" (OCTT document §2.23): TC_062_CS."""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check

MODULE = "24 Data Transfer"

# "a specific vendorId": one the station under test has no vendor-specific extension for.
TOOL_VENDOR_ID = "org.openchargealliance.octt"


async def tc_062(ctx: CaseContext) -> None:
    """TC_062_CS Data Transfer to a Charge Point."""
    reply = await ctx.csms.call_result(
        "DataTransfer", {"vendorId": TOOL_VENDOR_ID, "messageId": "TestMessage", "data": "OCTT"}
    )
    # Step 2: Rejected OR UnknownMessageId OR UnknownVendorId; Accepted is allowed, with a warning.
    status = reply["status"]
    if status == "Accepted":
        ctx.note("warning: the Charge Point accepted the DataTransfer.req of an unknown vendor")
        return
    check(
        status in ("Rejected", "UnknownMessageId", "UnknownVendorId"),
        f"step 2: DataTransfer.conf status is {status}",
    )


CASES: tuple[TestCase, ...] = (TestCase("TC_062", "Data Transfer to a Charge Point", CORE, MODULE, "2.23.1", tc_062),)
