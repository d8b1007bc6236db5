"""OCTT module 14 "Power Failure" non-happy flow (OCTT document §2.13): TC_032_1_CS, TC_032_2_CS, TC_034_CS."""

from __future__ import annotations

import asyncio
import time

from ocpp_station.clock import parse_iso
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.cases._steps import (
    boot_statuses,
    expect_boot,
    meter_value_times,
    spacing_problems,
    status_is,
)
from ocpp_station.tools.harness.csms import Expect, StationCall
from ocpp_station.tools.harness.states import (
    charging,
    connector_ids,
    ensure_configuration,
    set_charge_point_unavailable,
)

MODULE = "14 Power Failure"


async def tc_032_1(ctx: CaseContext) -> None:
    """TC_032_1_CS Power failure boot charging point - configured to stop transaction(s) before going down.

    Prerequisite: a back-up power source (the simulated station has one: StationUnderTest.
    power_failure_with_backup is the manual action "[Disconnect the power of the Charge Point.]")."""
    connector = ctx.settings.connector_id
    connectors = await connector_ids(ctx)
    transaction = await charging(ctx)
    # [Disconnect the power of the Charge Point.] Steps 1-4: StopTransaction (reason PowerLoss) and
    # StatusNotification Finishing (the document's general convention: the two may be reversed).
    await ctx.station.power_failure_with_backup()
    stop, _finishing = await ctx.csms.expect_unordered(
        [
            Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
            Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"}),
        ]
    )
    reason = stop.payload.get("reason")
    check(reason == "PowerLoss", f"step 1: StopTransaction.req reason is {reason}, expected PowerLoss")
    # [Reconnect the power of the Charge Point.] Steps 5-8.
    await ctx.station.power_on()
    await expect_boot(ctx)
    await ctx.csms.expect_unordered(boot_statuses(connectors, {connector: ("Finishing", "Preparing")}))


async def tc_032_2(ctx: CaseContext) -> None:
    """TC_032_2_CS Power failure boot charging point-configured to stop transaction(s).

    Harness addition (OCPP 1.6 §3.7: queued transaction-related messages MUST survive; issue 3): before the
    power goes, the network is down for two MeterValueSampleIntervals, so sampled MeterValues are queued
    when the power is cut; after the reboot every one of them must arrive, in order, before the StopTransaction."""
    settings = ctx.settings
    csms = ctx.csms
    connector = settings.connector_id
    connectors = await connector_ids(ctx)
    interval = settings.meter_value_interval
    await ensure_configuration(ctx, {"MeterValueSampleInterval": str(interval)})  # harness addition
    transaction = await charging(ctx)
    tid = transaction.transaction_id
    started = parse_iso(transaction.start.payload["timestamp"])
    await ctx.control.set_online(False)
    await asyncio.sleep(2 * interval + interval / 2)
    cut_at = time.time()
    # [Disconnect and reconnect the power of the Charge Point.] The network is back meanwhile.
    await ctx.station.power_cut()
    await ctx.station.power_on()
    # Steps 1-2.
    await expect_boot(ctx)
    # Steps 3-7, "The order in which the messages are sent may be different": a StatusNotification per
    # connector and connectorId 0 (the transaction's connector Preparing, Finishing OR Charging, "intermediate
    # status unavailable or available are allowed"; the others Available) and, when the station itself ends
    # the transaction, StopTransaction with reason PowerLoss.
    others = [status_is(n, ("Available",)) for n in (0, *connectors) if n != connector]
    own = status_is(connector, ("Preparing", "Finishing", "Charging", "Unavailable", "Available"))
    stop_step = Expect("StopTransaction", {"transactionId": tid})
    pending = list(others)
    reported: str | None = None  # the transaction connector's status since the reboot
    finishing_reported = False
    stop: StationCall | None = None
    while (
        pending or reported not in ("Preparing", "Finishing", "Charging") or (stop is None and reported != "Charging")
    ):
        steps = [*pending, own] + ([stop_step] if stop is None else [])
        item = await csms.expect_one_of(steps)
        if item.action == "StopTransaction":
            stop = item
        elif item.payload["connectorId"] == connector:
            reported = str(item.payload["status"])
            finishing_reported = finishing_reported or reported == "Finishing"
        else:
            pending = [step for step in pending if not step.matches(item.call)]
    manual = False
    if stop is None:
        # "[When transaction is resumed by Charge Point (status is Charging) EV driver authorizes / swipes the
        # card with the idTag which was used for the transaction to manually stop the transaction]"
        manual = True
        await ctx.control.present_id_tag(transaction.id_tag, connector)
        while stop is None:  # "Steps 3-7: The order in which the messages are sent may be different."
            item = await csms.expect_one_of([stop_step, own])
            if item.action == "StopTransaction":
                stop = item
            else:
                finishing_reported = finishing_reported or item.payload["status"] == "Finishing"
    reason = stop.payload.get("reason")
    if manual:
        check(reason in (None, "Local"), f"step 5: StopTransaction.req reason is {reason}, expected Local or omitted")
    else:
        check(reason == "PowerLoss", f"step 5: StopTransaction.req reason is {reason}, expected PowerLoss")
    # Step 7 "[Only send when not already notified of the status Finishing.]": Preparing or Finishing.
    if not finishing_reported:
        await csms.expect_one_of([status_is(connector, ("Preparing", "Finishing"))])
    # Harness addition: the MeterValues queued before the cut, all delivered before the StopTransaction.
    samples = [c for c in csms.station_calls if c.action == "MeterValues" and c.payload.get("transactionId") == tid]
    check(
        all(c.received_at < stop.received_at for c in samples), "a MeterValues.req came after the StopTransaction.req"
    )
    times = [t for call in samples for t in meter_value_times(call)]
    check(times == sorted(times), f"MeterValues not in chronological order: {times}")
    expected = int((cut_at - started) // interval)
    check(
        len(times) >= expected - 1 and bool(times) and times[-1] >= cut_at - interval - settings.late_tolerance,
        f"{len(times)} MeterValues of the transaction arrived (last at {times[-1] - started if times else 0:.1f} s),"
        f" about {expected} were sampled before the power cut {cut_at - started:.1f} s into it: queued ones lost",
    )
    problems = spacing_problems([started, *times], interval, settings.early_tolerance, settings.late_tolerance)
    check(not problems, "queued MeterValues: " + "; ".join(problems))


async def tc_034(ctx: CaseContext) -> None:
    """TC_034_CS Power Failure with Unavailable Status."""
    connectors = await connector_ids(ctx)
    # Steps 1-4: ChangeAvailability(connectorId 0, Inoperative) Accepted, StatusNotification Unavailable per
    # connector and connectorId 0 (the reusable state SetChargePointUnavailable).
    await set_charge_point_unavailable(ctx)
    # [Disconnect and reconnect the power of the Charge Point.] Steps 5-8: Unavailable persists (OCPP 1.6 §5.2).
    await ctx.station.power_cut()
    await ctx.station.power_on()
    await expect_boot(ctx)
    await ctx.csms.expect_unordered(boot_statuses(connectors, {n: ("Unavailable",) for n in (0, *connectors)}))


CASES: tuple[TestCase, ...] = (
    TestCase(
        "TC_032_1",
        "Power failure boot charging point - configured to stop transaction(s) before going down",
        CORE,
        MODULE,
        "2.13.1",
        tc_032_1,
    ),
    TestCase(
        "TC_032_2",
        "Power failure boot charging point-configured to stop transaction(s)",
        CORE,
        MODULE,
        "2.13.2",
        tc_032_2,
    ),
    TestCase("TC_034", "Power Failure with Unavailable Status", CORE, MODULE, "2.13.3", tc_034),
)
