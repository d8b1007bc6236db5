"""OCTT module 09 "Meter Values" (OCTT document §2.9): TC_070_CS, TC_071_CS."""

from __future__ import annotations

import math
import time

from ocpp_station.clock import parse_iso
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.cases._steps import (
    configured_measurands,
    meter_value_times,
    sampled_value_problems,
    spacing_problems,
)
from ocpp_station.tools.harness.csms import Expect, StationCall
from ocpp_station.tools.harness.states import Transaction, charging, ensure_configuration, get_configuration_state

MODULE = "09 Meter Values"
SAMPLES_OBSERVED = 3  # "[Three times the configured interval (in seconds) after starting the transaction.]"
SECONDS_PER_DAY = 86_400  # clock-aligned slots are counted from 00:00:00 UTC (OCPP 1.6 §3.16.2, §9.1.5)
ALIGNMENT_TOLERANCE = 0.0005  # timestamps carry milliseconds: "on the boundary" is exact to that


async def _observe(
    ctx: CaseContext, transaction: Transaction, interval: int, tolerate: tuple[Expect, ...] = ()
) -> list[StationCall]:
    """Step 1 for three intervals after the transaction started: the MeterValues.req of the transaction's
    connector, each with the transaction's id (errata v4.0 3.16)."""
    connector = transaction.connector_id
    deadline = transaction.start.received_at + SAMPLES_OBSERVED * interval + ctx.settings.late_tolerance
    found = []
    for _ in range(SAMPLES_OBSERVED):
        found.append(
            await ctx.csms.expect(
                "MeterValues",
                {"connectorId": connector},
                timeout=max(0.1, deadline - time.monotonic()),
                tolerate=("Heartbeat", *tolerate),
            )
        )
    for call in found:
        tid = call.payload.get("transactionId")
        check(
            tid == transaction.transaction_id,
            f"MeterValues.req transactionId is {tid}, expected {transaction.transaction_id}",
        )
    return found


def _check_values(calls: list[StationCall], items: list[str], context: str, *, coverage: bool = True) -> None:
    problems = [
        problem
        for call in calls
        for meter_value in call.payload["meterValue"]
        for problem in sampled_value_problems(meter_value, items, context, coverage=coverage)
    ]
    check(not problems, "step 3: " + "; ".join(dict.fromkeys(problems)))


async def tc_070(ctx: CaseContext) -> None:
    """TC_070_CS Sampled Meter Values."""
    settings = ctx.settings
    interval = settings.meter_value_interval
    # Configuration state: MeterValueSampleInterval is <Configured Meter Value Sample interval>;
    # ClockAlignedDataInterval is 0.
    await ensure_configuration(ctx, {"MeterValueSampleInterval": str(interval), "ClockAlignedDataInterval": "0"})
    # Reusable states: GetConfiguration for key MeterValuesSampledData; Charging.
    key = await get_configuration_state(ctx, "MeterValuesSampledData")
    check(key is not None, "MeterValuesSampledData is a required Core key, the station does not know it")
    assert key is not None
    items = configured_measurands(key.value)
    transaction = await charging(ctx)
    calls = await _observe(ctx, transaction, interval)
    # Step 3: "Between the MeterValue.timestamp fields of the sent MeterValues.req should be an interval of x
    # seconds" (counted from the transaction start: "Every x seconds after starting the transaction").
    started = parse_iso(transaction.start.payload["timestamp"])
    times = [t for call in calls for t in meter_value_times(call)]
    problems = spacing_problems([started, *times], interval, settings.early_tolerance, settings.late_tolerance)
    check(not problems, "step 3: " + "; ".join(problems))
    _check_values(calls, items, "Sample.Periodic")


async def tc_071(ctx: CaseContext) -> None:
    """TC_071_CS Clock-aligned Meter Values."""
    settings = ctx.settings
    interval = settings.clock_aligned_interval
    await ensure_configuration(ctx, {"MeterValueSampleInterval": "0", "ClockAlignedDataInterval": str(interval)})
    key = await get_configuration_state(ctx, "MeterValuesAlignedData")
    check(key is not None, "MeterValuesAlignedData is a required Core key, the station does not know it")
    assert key is not None
    items = configured_measurands(key.value)
    transaction = await charging(ctx)
    # Connector 0 (the main meter) reports clock-aligned values too (OCPP 1.6 §3.16.3): validated alongside.
    main_meter = Expect("MeterValues", {"connectorId": 0})
    calls = await _observe(ctx, transaction, interval, tolerate=(main_meter,))
    # Step 3: timestamps spaced by exactly the interval and "Clock-aligned ... (For example in case of a 20s
    # interval, the seconds should be of value; 0, 20, 40)": on the boundaries counted from midnight (§9.1.5).
    times = [t for call in calls for t in meter_value_times(call)]
    problems = spacing_problems(times, interval, ALIGNMENT_TOLERANCE, ALIGNMENT_TOLERANCE)
    main = [
        call
        for call in ctx.csms.station_calls
        if main_meter.matches(call.call) and call.received_at >= transaction.start.received_at
    ]
    main_times = [t for call in main for t in meter_value_times(call)]
    for moment in (*times, *main_times):
        offset = math.remainder(moment % SECONDS_PER_DAY, interval)
        if abs(offset) > ALIGNMENT_TOLERANCE:
            problems.append(f"timestamp {moment:.3f} is {offset:+.3f} s off the {interval} s clock-aligned boundaries")
    check(not problems, "step 3: " + "; ".join(problems))
    _check_values(calls, items, "Sample.Clock")
    # No transaction at the main meter: nothing to check but the context and the configured measurands.
    _check_values(main, items, "Sample.Clock", coverage=False)


CASES: tuple[TestCase, ...] = (
    TestCase("TC_070", "Sampled Meter Values", CORE, MODULE, "2.9.1", tc_070),
    TestCase("TC_071", "Clock-aligned Meter Values", CORE, MODULE, "2.9.2", tc_071),
)
