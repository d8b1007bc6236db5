"""OCTT module 15 "Offline Behavior" non-happy flow (OCTT document §2.14): TC_036_CS, TC_037_1_CS,
TC_037_2_CS, TC_037_3_CS, TC_038_CS, TC_039_CS.

"[Remove / Restore connectivity between Charge Point and Central System.]" is the control API's network
switch (a pulled cable: the Central System sees the connection drop, no closing handshake).
"""

from __future__ import annotations

import asyncio
import time

from ocpp_station.clock import parse_iso
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.cases._steps import (
    meter_value_times,
    sampled_value_problems,
    spacing_problems,
    until_connector_status,
)
from ocpp_station.tools.harness.csms import Expect, StationCall, Tolerance
from ocpp_station.tools.harness.states import (
    charging,
    ensure_configuration,
    id_tag_cached,
    id_tag_local_auth_list,
    transaction_started,
)

MODULE = "15 Offline Behavior"
OFFLINE_SAMPLES = 3  # TC_036: "[Wait till charge point sends few meter values (at least 3)]"
# An idTag in the local list that the Central System answers differently makes the station report a
# LocalListConflict on connectorId 0 (OCPP 1.6 §3.5.2, §7.6): TC_037_2 / TC_037_3 allow it.
LOCAL_LIST_CONFLICT = Expect("StatusNotification", {"connectorId": 0, "errorCode": "LocalListConflict"})


def _tolerated(ctx: CaseContext) -> tuple[Tolerance, ...]:
    return (*ctx.settings.tolerated_actions, LOCAL_LIST_CONFLICT)


async def _offline(ctx: CaseContext) -> None:
    """[Remove connectivity between Charge Point and Central System.]"""
    await ctx.control.set_online(False)
    await ctx.csms.wait_disconnected()


async def _online(ctx: CaseContext) -> None:
    """[Restore connectivity between Charge Point and Central System.]"""
    after = ctx.csms.connection_count
    await ctx.control.set_online(True)
    await ctx.csms.wait_connected(after=after)


async def _offline_configuration(ctx: CaseContext, id_tag: str, invalid_id_stops: bool | None = None) -> None:
    """The Before section of TC_037_x / TC_039: offline authorization configured, the idTag cached and listed."""
    await ensure_configuration(ctx, {"LocalAuthorizeOffline": "true"})
    await ensure_configuration(
        ctx,
        {"LocalAuthListEnabled": "true", "AuthorizationCacheEnabled": "true", "AllowOfflineTxForUnknownId": "true"},
        if_implemented=True,
    )
    if invalid_id_stops is not None:
        await ensure_configuration(ctx, {"StopTransactionOnInvalidId": "true" if invalid_id_stops else "false"})
        await ensure_configuration(ctx, {"MaxEnergyOnInvalidId": "0"}, if_implemented=True)
    # Memory states, "(If implemented)" both: the cache first, since once the idTag is in the local list the
    # station neither caches it (errata v4.0 3.4) nor asks for it (LocalPreAuthorize, so the Charging state of
    # IdTagCached would see no Authorize.req).
    await id_tag_cached(ctx, id_tag)
    await id_tag_local_auth_list(ctx, id_tag)


async def _start_offline(ctx: CaseContext, id_tag: str) -> None:
    """[EV Driver starts offline a transaction]: plug in and present the idTag; the station shows Charging."""
    connector = ctx.settings.connector_id
    await ctx.control.plug(connector)
    await ctx.control.present_id_tag(id_tag, connector)
    await until_connector_status(ctx, connector, ("Charging",), "the offline start")


def _check_stop_reason(stop: StationCall, step: str) -> None:
    reason = stop.payload.get("reason")
    check(reason in (None, "Local"), f"{step}: StopTransaction.req reason is {reason}, expected Local or omitted")


async def tc_036(ctx: CaseContext) -> None:
    """TC_036_CS Connection Loss During Transaction."""
    settings = ctx.settings
    csms = ctx.csms
    interval = settings.meter_value_interval
    # Configuration state: MeterValueSampleInterval is <Configured MeterValueSampleInterval>.
    await ensure_configuration(ctx, {"MeterValueSampleInterval": str(interval)})
    transaction = await charging(ctx)
    tid = transaction.transaction_id
    started = parse_iso(transaction.start.payload["timestamp"])
    await _offline(ctx)
    offline_from = time.time()
    await asyncio.sleep(OFFLINE_SAMPLES * interval + interval / 2)
    online_from = time.time()
    await _online(ctx)
    # Step 1: "[Charge Point sends all queued meter values.]" then new ones; read until the first new one.
    received: list[StationCall] = []
    seen: set[str] = set()
    while not received or max(meter_value_times(received[-1])) <= online_from:
        call = await csms.expect("MeterValues", {"transactionId": tid}, tolerate=("Heartbeat",))
        if call.unique_id in seen:
            # A retransmission of the request in flight when the link went (OCPP-J errata 3.1: same id).
            ctx.note(f"MeterValues.req {call.unique_id} was sent again after the reconnection")
            continue
        seen.add(call.unique_id)
        received.append(call)
    times = [t for call in received for t in meter_value_times(call)]
    # "All queued meter values need to be sent in chronological order (Also before sending any new meter values)."
    check(
        times == sorted(times) and len(set(times)) == len(times),
        f"step 1: MeterValues not in chronological order: {times}",
    )
    queued = [t for t in times if offline_from <= t <= online_from]
    check(
        len(queued) >= OFFLINE_SAMPLES,
        f"step 1: {len(queued)} MeterValues were sampled while offline, expected at least {OFFLINE_SAMPLES}",
    )
    # "Between the reported timestamps need to be a number of seconds equal to the <configured
    # MeterValueSampleInterval>" (which also shows that none is missing).
    problems = spacing_problems([started, *times], interval, settings.early_tolerance, settings.late_tolerance)
    # Digest §2.7 / TC_036: context Sample.Periodic or omitted (measurands are TC_070's business).
    for call in received:
        for meter_value in call.payload["meterValue"]:
            problems += [
                p for p in sampled_value_problems(meter_value, [], "Sample.Periodic", coverage=False) if "context" in p
            ]
    check(not problems, "step 1: " + "; ".join(problems))


async def _offline_start(
    ctx: CaseContext, id_tag: str, invalid_id_stops: bool | None
) -> tuple[StationCall, StationCall]:
    """TC_037_x steps 1-4: [offline start] [restore] StartTransaction.req and StatusNotification Charging (the
    document's general convention: the two may be reversed)."""
    connector = ctx.settings.connector_id
    await _offline_configuration(ctx, id_tag, invalid_id_stops)
    await _offline(ctx)
    await _start_offline(ctx, id_tag)
    await _online(ctx)
    return await transaction_started(ctx, connector, id_tag, tolerate=_tolerated(ctx), accepted=False)


async def tc_037_1(ctx: CaseContext) -> None:
    """TC_037_1_CS Offline Start Transaction - Valid IdTag."""
    start, _ = await _offline_start(ctx, ctx.settings.valid_id_tag, None)
    status = start.response_payload["idTagInfo"]["status"]
    check(status == "Accepted", f"step 2: the tool answered StartTransaction.req {status}, expected Accepted")


async def tc_037_2(ctx: CaseContext) -> None:
    """TC_037_2_CS Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = false."""
    connector = ctx.settings.connector_id
    start, _ = await _offline_start(ctx, ctx.settings.invalid_id_tag, False)
    status = start.response_payload["idTagInfo"]["status"]
    check(status == "Invalid", f"step 2: the tool answered StartTransaction.req {status}, expected Invalid")
    # Step 5: StatusNotification SuspendedEVSE (errata v4.0 3.17: energy withheld, the transaction goes on).
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "SuspendedEVSE"},
        tolerate=_tolerated(ctx),
    )


async def tc_037_3(ctx: CaseContext) -> None:
    """TC_037_3_CS Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = true."""
    connector = ctx.settings.connector_id
    start, _ = await _offline_start(ctx, ctx.settings.invalid_id_tag, True)
    status = start.response_payload["idTagInfo"]["status"]
    check(status == "Invalid", f"step 2: the tool answered StartTransaction.req {status}, expected Invalid")
    tid = start.response_payload["transactionId"]
    # Steps 5-8: StopTransaction reason DeAuthorized, StatusNotification Finishing (may be reversed).
    stop, _finishing = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": tid}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"}),
        ],
        tolerate=_tolerated(ctx),
    )
    reason = stop.payload.get("reason")
    check(reason == "DeAuthorized", f"step 5: StopTransaction.req reason is {reason}, expected DeAuthorized")


async def tc_038(ctx: CaseContext) -> None:
    """TC_038_CS Offline Stop Transaction."""
    connector = ctx.settings.connector_id
    transaction = await charging(ctx)
    await _offline(ctx)
    # [The EV Driver stops the transaction, while still offline.]
    await ctx.control.present_id_tag(transaction.id_tag, connector)
    await until_connector_status(ctx, connector, ("Finishing",), "the offline stop")
    await _online(ctx)
    # Steps 1-4 ("Steps 1 and 3 may be reversed").
    stop, _finishing = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"}),
        ]
    )
    _check_stop_reason(stop, "step 1")


async def tc_039(ctx: CaseContext) -> None:
    """TC_039_CS Offline Transaction."""
    settings = ctx.settings
    connector = settings.connector_id
    tag = settings.valid_id_tag
    await _offline_configuration(ctx, tag)
    await _offline(ctx)
    await _start_offline(ctx, tag)
    # [EV Driver stops offline a transaction.] [EV driver unplugs the cable.]
    await ctx.control.present_id_tag(tag, connector)
    await until_connector_status(ctx, connector, ("Finishing",), "the offline stop")
    await ctx.control.unplug(connector)
    await until_connector_status(ctx, connector, ("Available",), "the unplug")
    await _online(ctx)
    # Steps 1-4: the queued StartTransaction, then the queued StopTransaction, which must carry the
    # transactionId the tool assigned in step 2 (so it can only be sent after that StartTransaction.conf).
    start = await ctx.csms.expect("StartTransaction", {"connectorId": connector, "idTag": tag})
    status = start.response_payload["idTagInfo"]["status"]
    check(status == "Accepted", f"step 2: the tool answered StartTransaction.req {status}, expected Accepted")
    tid = start.response_payload["transactionId"]
    stop = await ctx.csms.expect("StopTransaction")
    check(
        stop.payload["transactionId"] == tid,
        f"step 3: StopTransaction.req transactionId is {stop.payload['transactionId']}, the tool assigned {tid}",
    )
    assert start.responded_at is not None
    check(stop.received_at >= start.responded_at, "step 3: StopTransaction.req sent before the StartTransaction.conf")
    _check_stop_reason(stop, "step 3")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_036", "Connection Loss During Transaction", CORE, MODULE, "2.14.1", tc_036),
    TestCase("TC_037_1", "Offline Start Transaction - Valid IdTag", CORE, MODULE, "2.14.2", tc_037_1),
    TestCase(
        "TC_037_2",
        "Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = false",
        CORE,
        MODULE,
        "2.14.3",
        tc_037_2,
    ),
    TestCase(
        "TC_037_3",
        "Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = true",
        CORE,
        MODULE,
        "2.14.4",
        tc_037_3,
    ),
    TestCase("TC_038", "Offline Stop Transaction", CORE, MODULE, "2.14.5", tc_038),
    TestCase("TC_039", "Offline Transaction", CORE, MODULE, "2.14.6", tc_039),
)
