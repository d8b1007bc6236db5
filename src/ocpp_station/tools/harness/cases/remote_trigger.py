"""OCTT module 22 "Remote Trigger" (OCTT document §2.21): TC_054_CS, TC_055_CS.

Every triggered message must follow the TriggerMessage.conf (OCPP 1.6 §5.17: "The Charge Point SHALL first
send the TriggerMessage response, before sending the requested message"); the harness checks that order on
the frame log. A Heartbeat the station sent on its own schedule before the .conf does not answer the trigger
and is skipped (one sent between the .conf and the triggered one MAY count, §5.17).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ocpp_station.protocol.rpc import CallError, Payload
from ocpp_station.tools.harness.case import REMOTE_TRIGGER, CaseContext, NotApplicable, TestCase, check
from ocpp_station.tools.harness.csms import CaseFailure, StationCall
from ocpp_station.tools.harness.states import read_key

MODULE = "22 Remote Trigger"
# Requests a station also sends on its own schedule: an early one is not the triggered one.
_PERIODIC = ("Heartbeat",)


def _frame_index(ctx: CaseContext, prefix: list[Any]) -> int:
    """The index in the frame log of the last frame the station sent that starts with `prefix` (-1: none)."""
    frames = ctx.csms.frames
    for index in range(len(frames) - 1, -1, -1):
        frame = frames[index]
        if frame.direction != "CP→CS":
            continue
        try:
            message = json.loads(frame.text)
        except ValueError:
            continue
        if isinstance(message, list) and message[: len(prefix)] == prefix:
            return index
    return -1


async def trigger(
    ctx: CaseContext, requested: str, connector_id: int | None = None, *, step: str, accept: tuple[str, ...]
) -> tuple[str, int]:
    """TriggerMessage.req; returns the .conf status and the position of the .conf in the frame log."""
    payload: Payload = {"requestedMessage": requested}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    reply = await ctx.csms.call_result("TriggerMessage", payload)
    status = str(reply["status"])
    check(status in accept, f"step {step}: TriggerMessage.conf status is {status}, expected {' or '.join(accept)}")
    # One request of ours is outstanding at a time, so the station's last CallResult is this .conf.
    return status, _frame_index(ctx, [3])


async def expect_triggered(
    ctx: CaseContext, conf_index: int, action: str, where: Mapping[str, Any] | None = None, *, step: str
) -> StationCall:
    """The triggered request, sent after the TriggerMessage.conf at `conf_index`."""
    while True:
        found = await ctx.csms.expect(action, where, triggered_by="TriggerMessage")
        index = _frame_index(ctx, [2, found.unique_id])
        if index > conf_index:
            return found
        if action not in _PERIODIC:
            raise CaseFailure(
                f"step {step}: {action}.req was sent before the TriggerMessage.conf (OCPP 1.6 §5.17: the response"
                " first, then the requested message)"
            )


async def require_profile(ctx: CaseContext) -> None:
    """Prerequisite "The Charge Point supports the Remote Trigger feature profile"."""
    kv = await read_key(ctx, "SupportedFeatureProfiles")
    profiles = [name.strip() for name in ((kv and kv.value) or "").split(",")]
    if "RemoteTrigger" not in profiles:
        raise NotApplicable(
            f"the station does not support RemoteTrigger (SupportedFeatureProfiles {','.join(profiles)})"
        )


async def tc_054(ctx: CaseContext) -> None:
    """TC_054_CS Trigger Message: MeterValues, Heartbeat, StatusNotification, DiagnosticsStatusNotification,
    FirmwareStatusNotification, each after its TriggerMessage.conf."""
    await require_profile(ctx)
    connector = ctx.settings.connector_id
    # Steps 1-4: MeterValues for <Configured ConnectorId>.
    _, conf = await trigger(ctx, "MeterValues", connector, step="2", accept=("Accepted",))
    await expect_triggered(ctx, conf, "MeterValues", {"connectorId": connector}, step="3")
    # Steps 5-8: Heartbeat.
    _, conf = await trigger(ctx, "Heartbeat", step="6", accept=("Accepted",))
    await expect_triggered(ctx, conf, "Heartbeat", step="7")
    # Steps 9-12: StatusNotification for <Configured ConnectorId>.
    _, conf = await trigger(ctx, "StatusNotification", connector, step="10", accept=("Accepted",))
    await expect_triggered(ctx, conf, "StatusNotification", {"connectorId": connector}, step="11")
    # Steps 13-16: DiagnosticsStatusNotification, status Idle.
    _, conf = await trigger(ctx, "DiagnosticsStatusNotification", step="14", accept=("Accepted",))
    diagnostics = await expect_triggered(ctx, conf, "DiagnosticsStatusNotification", step="15")
    check(
        diagnostics.payload["status"] == "Idle",
        f"step 15: DiagnosticsStatusNotification status is {diagnostics.payload['status']}, expected Idle",
    )
    # Steps 17-20: FirmwareStatusNotification (Accepted OR NotImplemented); "sent if implemented", status Idle.
    status, conf = await trigger(ctx, "FirmwareStatusNotification", step="18", accept=("Accepted", "NotImplemented"))
    if status == "Accepted":
        firmware = await expect_triggered(ctx, conf, "FirmwareStatusNotification", step="19")
        check(
            firmware.payload["status"] == "Idle",
            f"step 19: FirmwareStatusNotification status is {firmware.payload['status']}, expected Idle",
        )


async def tc_055(ctx: CaseContext) -> None:
    """TC_055_CS Trigger Message - Rejected: MeterValues for connectorId NumberOfConnectors + 1."""
    await require_profile(ctx)
    number = await read_key(ctx, "NumberOfConnectors")
    check(number is not None and (number.value or "").isdigit(), f"NumberOfConnectors is unreadable ({number!r})")
    assert number is not None and number.value is not None
    beyond = int(number.value) + 1
    # Steps 1-2: status is Rejected (the scenario also allows a CallError).
    reply = await ctx.csms.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": beyond})
    if isinstance(reply, CallError):
        ctx.note(f"step 2: answered with CallError {reply.code} (the scenario allows a CallError)")
    else:
        check(
            reply["status"] == "Rejected", f"step 2: TriggerMessage.conf status is {reply['status']}, expected Rejected"
        )
    # Expected behaviour: the requested message is not sent.
    await ctx.csms.expect_nothing("MeterValues", ctx.settings.transaction_duration, {"connectorId": beyond})


CASES: tuple[TestCase, ...] = (
    TestCase("TC_054", "Trigger Message", REMOTE_TRIGGER, MODULE, "2.21.1", tc_054),
    TestCase("TC_055", "Trigger Message - Rejected", REMOTE_TRIGGER, MODULE, "2.21.2", tc_055),
)
