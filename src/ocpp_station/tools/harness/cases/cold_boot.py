"""OCTT module 01 "Cold Boot" (OCTT document §2.1): TC_001_CS, TC_002_CS."""

from __future__ import annotations

import itertools
import time

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, Payload
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.csms import StationCall
from ocpp_station.tools.harness.states import change_configuration, connector_ids, expect_status_per_connector

MODULE = "01 Cold Boot"
HEARTBEATS_OBSERVED = 3  # three heartbeats give two measured periods


def _boot_reply(status: str, interval: int) -> Payload:
    return {"status": status, "currentTime": iso_utc(time.time()), "interval": interval}


def _check_retry_delay(ctx: CaseContext, refused: StationCall, retry: StationCall) -> None:
    """'Send BootNotification after interval specified in BootNotification.conf from step 2.'
    (OCPP 1.6 §4.2: the interval is the minimum wait before the next BootNotification.)"""
    interval = ctx.settings.boot_retry_interval
    assert refused.responded_at is not None
    waited = retry.received_at - refused.responded_at
    check(
        waited >= interval - ctx.settings.early_tolerance,
        f"BootNotification.req was repeated after {waited:.2f} s, before the interval of {interval} s",
    )


async def _after_acceptance(ctx: CaseContext, boot: StationCall) -> None:
    """Steps 5-8 of TC_001 = steps 9-12 of TC_002: a StatusNotification(Available) per connector and
    connectorId 0, then a Heartbeat.req every `interval` seconds (interval of the Accepted conf)."""
    settings = ctx.settings
    connectors = await connector_ids(ctx)
    # The document orders the steps: no Heartbeat before the statuses (only MeterValues tolerated).
    statuses = await expect_status_per_connector(ctx, "Available", connectors, tolerate=("MeterValues",))
    interval = settings.heartbeat_interval
    assert boot.responded_at is not None
    accepted_at = boot.responded_at
    last_message = max(status.received_at for status in statuses)
    wait = interval + settings.late_tolerance + 1.0
    beats = [await ctx.csms.expect("Heartbeat", timeout=wait, tolerate=("MeterValues",))]
    # OCPP 1.6 §4.6: HeartbeatInterval counts inactivity, so the first beat may be counted from the
    # acceptance or from the last message sent; it must respect the former and not exceed the latter.
    first = beats[0].received_at
    check(
        first >= accepted_at + interval - settings.early_tolerance,
        f"first Heartbeat.req {first - accepted_at:.2f} s after the Accepted BootNotification.conf,"
        f" earlier than the interval of {interval} s",
    )
    check(
        first <= last_message + interval + settings.late_tolerance,
        f"first Heartbeat.req {first - last_message:.2f} s after the last StatusNotification.req,"
        f" expected about {interval} s",
    )
    for _ in range(HEARTBEATS_OBSERVED - 1):
        beats.append(await ctx.csms.expect("Heartbeat", timeout=wait, tolerate=("MeterValues",)))
    for earlier, later in itertools.pairwise(beats):
        period = later.received_at - earlier.received_at
        check(
            interval - settings.early_tolerance <= period <= interval + settings.late_tolerance,
            f"Heartbeat.req period {period:.2f} s, expected {interval} s"
            f" (-{settings.early_tolerance:g}/+{settings.late_tolerance:g} s)",
        )


async def tc_001(ctx: CaseContext) -> None:
    """TC_001_CS Cold Boot Charge Point: Rejected first, then Accepted."""
    settings = ctx.settings
    csms = ctx.csms

    def rejected(_call: Call) -> Payload:
        return _boot_reply("Rejected", settings.boot_retry_interval)

    csms.respond_with("BootNotification", rejected)  # step 2; step 4 is the default Accepted reply
    await ctx.station.power_on()  # [Power cycle the Charge Point.]
    refused = await csms.expect("BootNotification", timeout=settings.connect_timeout, tolerate=())
    # While Rejected the station SHALL NOT send any other message (OCPP 1.6 §4.2): tolerate nothing.
    retry = await csms.expect(
        "BootNotification", timeout=settings.boot_retry_interval + settings.message_timeout, tolerate=()
    )
    _check_retry_delay(ctx, refused, retry)
    await _after_acceptance(ctx, retry)


async def tc_002(ctx: CaseContext) -> None:
    """TC_002_CS Cold Boot Charge Point - Pending: configuration is read and set while Pending."""
    settings = ctx.settings
    csms = ctx.csms

    def pending(_call: Call) -> Payload:
        return _boot_reply("Pending", settings.boot_retry_interval)

    csms.respond_with("BootNotification", pending)  # step 2; step 8 is the default Accepted reply
    await ctx.station.power_on()
    first = await csms.expect("BootNotification", timeout=settings.connect_timeout, tolerate=())
    # Steps 3-4: "The key is <Omitted>".
    await csms.call_result("GetConfiguration", {})
    # Steps 5-6.
    await change_configuration(ctx, "MeterValueSampleInterval", str(settings.meter_value_interval))
    # Step 7. While Pending the station sends no request of its own (OCPP 1.6 §4.2.1): tolerate nothing.
    retry = await csms.expect(
        "BootNotification", timeout=settings.boot_retry_interval + settings.message_timeout, tolerate=()
    )
    _check_retry_delay(ctx, first, retry)
    await _after_acceptance(ctx, retry)


CASES: tuple[TestCase, ...] = (
    TestCase("TC_001", "Cold Boot Charge Point", CORE, MODULE, "2.1.1", tc_001, booted=False),
    TestCase("TC_002", "Cold Boot Charge Point - Pending", CORE, MODULE, "2.1.2", tc_002, booted=False),
)
