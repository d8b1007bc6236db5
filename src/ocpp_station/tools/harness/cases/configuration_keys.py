"""OCTT module 16 "Configuration Keys" non-happy flow (OCTT document §2.15): TC_040_1_CS, TC_040_2_CS."""

from __future__ import annotations

from ocpp_station.protocol.rpc import ErrorCode
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.states import read_key, status_or_call_error

MODULE = "16 Configuration Keys"


async def tc_040_1(ctx: CaseContext) -> None:
    """TC_040_1_CS Configuration key - NotSupported: key "Testing", value "true" → status NotSupported."""
    reply = await ctx.csms.call_result("ChangeConfiguration", {"key": "Testing", "value": "true"})
    check(reply["status"] == "NotSupported", f"step 2: status is {reply['status']}, expected NotSupported")


async def tc_040_2(ctx: CaseContext) -> None:
    """TC_040_2_CS Configuration key - Invalid value: MeterValueSampleInterval = -1 → status Rejected, or a
    CallError PropertyConstraintViolation."""
    key = "MeterValueSampleInterval"
    # Harness addition (OCPP 1.6 §5.3: Rejected = "did not set the configuration"): read the value before
    # and after, and require it unchanged.
    before = await read_key(ctx, key)
    reply = await ctx.csms.call("ChangeConfiguration", {"key": key, "value": "-1"})
    status_or_call_error(reply, step="2", status="Rejected", error=ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
    after = await read_key(ctx, key)
    check(
        (before and before.value) == (after and after.value),
        f"{key} changed from {before and before.value!r} to {after and after.value!r} although the change failed",
    )


CASES: tuple[TestCase, ...] = (
    TestCase("TC_040_1", "Configuration key - NotSupported", CORE, MODULE, "2.15.1", tc_040_1),
    TestCase("TC_040_2", "Configuration key - Invalid value", CORE, MODULE, "2.15.2", tc_040_2),
)
