"""OCTT module 23 "Smart Charging" (OCTT document §2.22): TC_056_CS, TC_057_CS, TC_058_1_CS, TC_058_2_CS,
TC_082_CS, TC_066_CS, TC_067_CS, TC_072_CS, TC_059_CS, TC_060_CS.

Limits are written in A; with `<Configured chargingRateUnit>` W "the limit field will be multiplied by 1000".

Composite schedules (GetCompositeSchedule.conf) are checked as the document says:
* scheduleStart (and chargingSchedule.startSchedule when present) lies within `<Configured max time deviation>`
  of the current time;
* the periods are the profiles' periods moved by x, "the period of time between sending the
  SetChargingProfile.req and the scheduleStart": every profile of a case starts at the same instant
  (`<current dateTime - <Configured max time deviation> seconds>`, taken once), so the harness computes x
  exactly as scheduleStart minus that startSchedule; a startPeriod may differ from the expected one by at
  most `PERIOD_TOLERANCE_S` (a station counting from a fractional receipt time rounds);
* where no profile constrains the connector the station reports its own limit ("<The local limit of the
  Charging Station>", TC_067 step 12): any value, but one and the same wherever it shows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ocpp_station.clock import iso_utc, parse_iso
from ocpp_station.protocol.rpc import ErrorCode, Payload
from ocpp_station.tools.harness.case import SMART_CHARGING, CaseContext, CaseFunction, TestCase, check
from ocpp_station.tools.harness.csms import CaseFailure
from ocpp_station.tools.harness.states import Transaction, charging, status_or_call_error

MODULE = "23 Smart Charging"
# The document fixes period[0] of TC_056/057/082 (startPeriod 0, limit 6 A / 6000 W); the later periods are
# the ones the public replays of these cases use (EVerest), so that "calculated accordingly" is a real check.
PERIODS: tuple[tuple[int, float], ...] = ((0, 6), (60, 10), (120, 8))
PERIOD_TOLERANCE_S = 1.0
LOCAL = None  # in an expected schedule: no profile applies, the station's own limit

Breakpoints = Sequence[tuple[int, float | None]]


# --- the tool's messages ------------------------------------------------------------------------------


def _limit(ctx: CaseContext, amps: float) -> float:
    return amps * 1000 if ctx.settings.charging_rate_unit == "W" else amps


@dataclass(frozen=True, slots=True)
class Memory:
    """The instant the memory state is built: every profile of the case starts at `start`."""

    start: int  # whole seconds: <current dateTime - <Configured max time deviation> seconds>

    @classmethod
    def now(cls, ctx: CaseContext) -> Memory:
        return cls(int(time.time()) - ctx.settings.max_time_deviation)


def charging_profile(
    ctx: CaseContext,
    memory: Memory,
    profile_id: int,
    purpose: str,
    stack_level: int,
    periods: Sequence[tuple[int, float]],
    duration: int,
    *,
    valid_for: int | None = None,
    transaction_id: int | None = None,
) -> Payload:
    """A csChargingProfiles, Absolute, starting at the memory state's instant; `valid_for`: validFrom is that
    instant and validTo `valid_for` seconds later (the document's "+ 401 seconds")."""
    settings = ctx.settings
    profile: Payload = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "duration": duration,
            "startSchedule": iso_utc(memory.start),
            "chargingRateUnit": settings.charging_rate_unit,
            "chargingSchedulePeriod": [
                {"startPeriod": start, "limit": _limit(ctx, amps), "numberPhases": settings.number_phases}
                for start, amps in periods
            ],
        },
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    if valid_for is not None:
        profile["validFrom"] = iso_utc(memory.start)
        profile["validTo"] = iso_utc(memory.start + valid_for)
    return profile


async def set_charging_profile(ctx: CaseContext, connector_id: int, profile: Payload, step: str) -> None:
    """A SetChargingProfile.req whose .conf must be Accepted (a memory state, or the step of a case)."""
    reply = await ctx.csms.call_result(
        "SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": profile}
    )
    check(
        reply["status"] == "Accepted", f"{step}: SetChargingProfile.conf status is {reply['status']}, expected Accepted"
    )


async def clear_charging_profile(ctx: CaseContext, request: Payload, step: str) -> None:
    reply = await ctx.csms.call_result("ClearChargingProfile", request)
    check(
        reply["status"] == "Accepted",
        f"{step}: ClearChargingProfile.conf status is {reply['status']}, expected Accepted",
    )


# --- GetCompositeSchedule and its validation ---------------------------------------------------------


def expected_periods(breakpoints: Breakpoints, shift: float, duration: int) -> list[tuple[float, float | None]]:
    """The composite schedule the document expects, relative to scheduleStart: `breakpoints` (seconds from
    the profiles' start, limit from there on) moved back by `shift` (the document's x), cut to `duration`,
    equal neighbours merged."""
    value: float | None = LOCAL
    later: list[tuple[float, float | None]] = []
    for offset, limit in breakpoints:
        at = offset - shift
        if at <= 0:
            value = limit
        elif at < duration:
            later.append((at, limit))
    merged: list[tuple[float, float | None]] = []
    for at, limit in [(0.0, value), *later]:
        if not merged or merged[-1][1] != limit:
            merged.append((at, limit))
    return merged


async def get_composite_schedule(
    ctx: CaseContext, duration: int, breakpoints: Breakpoints, memory: Memory, step: str
) -> Payload:
    """GetCompositeSchedule.req for <Configured ConnectorId>, `duration` and <Configured Charging Rate Unit>,
    and the document's validations of its .conf against the expected `breakpoints` (in A, from memory.start)."""
    settings = ctx.settings
    connector = settings.connector_id
    unit = settings.charging_rate_unit
    reply = await ctx.csms.call_result(
        "GetCompositeSchedule", {"connectorId": connector, "duration": duration, "chargingRateUnit": unit}
    )
    received = time.time()
    check(reply["status"] == "Accepted", f"{step}: status is {reply['status']}, expected Accepted")
    check(
        reply.get("connectorId") == connector,
        f"{step}: connectorId is {reply.get('connectorId')}, expected {connector}",
    )
    schedule = reply.get("chargingSchedule")
    if not isinstance(schedule, dict):
        raise CaseFailure(f"{step}: the GetCompositeSchedule.conf has no chargingSchedule")
    check(
        schedule.get("duration") == duration,
        f"{step}: chargingSchedule.duration is {schedule.get('duration')}, expected {duration}",
    )
    check(
        schedule["chargingRateUnit"] == unit,
        f"{step}: chargingSchedule.chargingRateUnit is {schedule['chargingRateUnit']}, expected {unit}",
    )
    # "Between startSchedule and the current time should be equal or fewer seconds than <Configured Max Time
    # Deviation>". OCPP 1.6 errata v4.0 3.57 has chargingSchedule.startSchedule omitted here (scheduleStart
    # carries the instant): whichever the station sends is checked, one of them must be there.
    fields = {
        "scheduleStart": reply.get("scheduleStart"),
        "chargingSchedule.startSchedule": schedule.get("startSchedule"),
    }
    starts = {name: str(text) for name, text in fields.items() if text is not None}
    if not starts:
        raise CaseFailure(f"{step}: the GetCompositeSchedule.conf has neither scheduleStart nor startSchedule")
    if "chargingSchedule.startSchedule" not in starts:
        ctx.note(f"{step}: chargingSchedule.startSchedule omitted (errata v4.0 3.57); scheduleStart checked instead")
    instants: dict[str, float] = {}
    for name, text in starts.items():
        try:
            instants[name] = parse_iso(text)
        except ValueError:
            raise CaseFailure(f"{step}: {name} {text!r} is not a dateTime") from None
        deviation = abs(received - instants[name])
        check(
            deviation <= settings.max_time_deviation,
            f"{step}: {name} {text} is {deviation:.1f} s from the current time"
            f" (<Configured Max Time Deviation> {settings.max_time_deviation} s)",
        )
    # Periods are relative to scheduleStart (OCPP 1.6 §6.22).
    origin = instants.get("scheduleStart", instants.get("chargingSchedule.startSchedule", 0.0))
    scale = 1000 if unit == "W" else 1
    expected = [
        (at, None if amps is None else amps * scale)
        for at, amps in expected_periods(breakpoints, origin - memory.start, duration)
    ]
    _check_periods(ctx, step, schedule["chargingSchedulePeriod"], expected)
    return reply


def _describe(periods: Sequence[tuple[float, float | None]]) -> str:
    return ", ".join(f"{at:g}: {'<local limit>' if limit is None else f'{limit:g}'}" for at, limit in periods)


def _check_periods(
    ctx: CaseContext, step: str, actual: Sequence[Payload], expected: Sequence[tuple[float, float | None]]
) -> None:
    got = [(float(p["startPeriod"]), float(p["limit"])) for p in actual]
    problem = f"{step}: chargingSchedulePeriod is [{_describe(got)}], expected [{_describe(expected)}]"
    check(len(got) == len(expected), problem)
    local: set[float] = set()
    for (at, limit), (want_at, want_limit) in zip(got, expected, strict=True):
        check(abs(at - want_at) <= PERIOD_TOLERANCE_S, problem)
        if want_limit is None:
            local.add(limit)
        else:
            check(abs(limit - want_limit) < 0.05, problem)
    check(len(local) <= 1, f"{problem} (the local limit differs between periods)")
    if local:
        ctx.note(f"{step}: the station's local limit is {local.pop():g} {ctx.settings.charging_rate_unit}")


# --- the cases ----------------------------------------------------------------------------------------


def _own_profile_breakpoints(ctx: CaseContext) -> list[tuple[int, float | None]]:
    """The single profile of TC_056/057/082/059 over the composite window: its periods, then (its duration
    having passed) the station's own limit."""
    return [*PERIODS, (ctx.settings.charging_schedule_duration, LOCAL)]


async def _central_smart_charging(ctx: CaseContext, purpose: str, transaction: Transaction | None) -> None:
    """TC_056 / TC_057 / TC_082: SetChargingProfile.req Accepted, then GetCompositeSchedule.req validated."""
    settings = ctx.settings
    memory = Memory.now(ctx)
    # Step 1: connectorId, stackLevel <Configured StackLevel>, the purpose, Absolute, duration <Configured
    # duration>, chargingRateUnit, period[0] startPeriod 0 limit 6 (6000 W), numberPhases <Configured>.
    profile = charging_profile(
        ctx,
        memory,
        1,
        purpose,
        settings.stack_level,
        PERIODS,
        settings.charging_schedule_duration,
        transaction_id=None if transaction is None else transaction.transaction_id,
    )
    await set_charging_profile(ctx, settings.connector_id, profile, "step 2")
    # Steps 3-4.
    await get_composite_schedule(
        ctx, settings.charging_schedule_duration, _own_profile_breakpoints(ctx), memory, "step 4"
    )


async def tc_056(ctx: CaseContext) -> None:
    """TC_056_CS Central Smart Charging - TxDefaultProfile."""
    await _central_smart_charging(ctx, "TxDefaultProfile", None)


async def tc_057(ctx: CaseContext) -> None:
    """TC_057_CS Central Smart Charging - TxProfile (reusable state Charging; transactionId of that transaction)."""
    transaction = await charging(ctx)
    await _central_smart_charging(ctx, "TxProfile", transaction)


async def tc_058_1(ctx: CaseContext) -> None:
    """TC_058_1_CS Central Smart Charging - No ongoing transaction: a TxProfile with a transactionId is refused
    (status Rejected OR a CallError PropertyConstraintViolation)."""
    settings = ctx.settings
    profile = charging_profile(
        ctx,
        Memory.now(ctx),
        1,
        "TxProfile",
        settings.stack_level,
        PERIODS,
        settings.charging_schedule_duration,
        transaction_id=1,
    )
    reply = await ctx.csms.call(
        "SetChargingProfile", {"connectorId": settings.connector_id, "csChargingProfiles": profile}
    )
    status_or_call_error(reply, step="2", status="Rejected", error=ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)


async def tc_058_2(ctx: CaseContext) -> None:
    """TC_058_2_CS Central Smart Charging - Wrong transactionId (reusable state Charging)."""
    settings = ctx.settings
    transaction = await charging(ctx)
    # Step 1: TxProfile, the connector of the transaction, a transactionId that is NOT the running one.
    profile = charging_profile(
        ctx,
        Memory.now(ctx),
        1,
        "TxProfile",
        settings.stack_level,
        PERIODS,
        settings.charging_schedule_duration,
        transaction_id=transaction.transaction_id + 1,
    )
    reply = await ctx.csms.call_result(
        "SetChargingProfile", {"connectorId": transaction.connector_id, "csChargingProfiles": profile}
    )
    check(
        reply["status"] == "Rejected", f"step 2: SetChargingProfile.conf status is {reply['status']}, expected Rejected"
    )


async def tc_082(ctx: CaseContext) -> None:
    """TC_082_CS Central Smart Charging - TxDefaultProfile - with ongoing transaction (reusable state Charging)."""
    await charging(ctx)
    await _central_smart_charging(ctx, "TxDefaultProfile", None)


async def tc_066(ctx: CaseContext) -> None:
    """TC_066_CS Get Composite Schedule: ChargePointMaxProfile + TxDefaultProfile + TxProfile, composite of 400 s.

    "The reusable state Charging is executed before the memory states SetChargingProfile"."""
    connector = ctx.settings.connector_id
    transaction = await charging(ctx)
    memory = Memory.now(ctx)
    # Memory state, ChargingProfile 1 ("ChargingStationMaxProfile", i.e. ChargePointMaxProfile in 1.6).
    cpmax = charging_profile(ctx, memory, 1, "ChargePointMaxProfile", 0, [(0, 10)], 86_400)
    await set_charging_profile(ctx, 0, cpmax, "memory state (ChargingProfile 1)")
    # ChargingProfile 2 and 3 (validTo <current dateTime - <Configured max time deviation> + 401 seconds>).
    tx_default = charging_profile(
        ctx, memory, 2, "TxDefaultProfile", 0, [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)], 300, valid_for=401
    )
    await set_charging_profile(ctx, connector, tx_default, "memory state (ChargingProfile 2)")
    tx_profile = charging_profile(
        ctx,
        memory,
        3,
        "TxProfile",
        0,
        [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)],
        260,
        valid_for=401,
        transaction_id=transaction.transaction_id,
    )
    await set_charging_profile(ctx, connector, tx_profile, "memory state (ChargingProfile 3)")
    # Steps 1-2: duration 400; startPeriod 0: 8, (50 - x): 10, (200 - x): 6, (240 - x): 10.
    await get_composite_schedule(ctx, 400, [(0, 8), (50, 10), (200, 6), (240, 10)], memory, "step 2")


async def tc_067(ctx: CaseContext) -> None:
    """TC_067_CS Clear Charging Profile: by id, by purpose + stackLevel, everything; composite after each."""
    connector = ctx.settings.connector_id
    memory = Memory.now(ctx)
    first = charging_profile(ctx, memory, 1, "TxDefaultProfile", 1, [(0, 6), (60, 8), (200, 10)], 400)
    await set_charging_profile(ctx, connector, first, "memory state (ChargingProfile 1)")
    second = charging_profile(ctx, memory, 2, "TxDefaultProfile", 0, [(0, 7), (100, 9)], 400, valid_for=401)
    await set_charging_profile(ctx, connector, second, "memory state (ChargingProfile 2)")
    third = charging_profile(ctx, memory, 3, "ChargePointMaxProfile", 0, [(0, 11), (200, 12)], 86_400, valid_for=401)
    await set_charging_profile(ctx, 0, third, "memory state (ChargingProfile 3)")
    # Steps 1-4: "The id is the chargingProfileId from the first ChargingProfile. All other fields are omitted."
    await clear_charging_profile(ctx, {"id": first["chargingProfileId"]}, "step 2")
    await get_composite_schedule(ctx, 350, [(0, 7), (100, 9)], memory, "step 4")
    # Steps 5-8: the purpose and stackLevel of the second ChargingProfile, nothing else.
    request = {"chargingProfilePurpose": second["chargingProfilePurpose"], "stackLevel": second["stackLevel"]}
    await clear_charging_profile(ctx, request, "step 6")
    await get_composite_schedule(ctx, 350, [(0, 11), (200, 12)], memory, "step 8")
    # Steps 9-12: all fields omitted; startPeriod 0, limit "<The local limit of the Charging Station>".
    await clear_charging_profile(ctx, {}, "step 10")
    await get_composite_schedule(ctx, 350, [(0, LOCAL)], memory, "step 12")


async def tc_072(ctx: CaseContext) -> None:
    """TC_072_CS Stacking Charging Profiles: two TxDefaultProfiles, stackLevel 1 over 0, composite of 350 s."""
    connector = ctx.settings.connector_id
    memory = Memory.now(ctx)
    low = charging_profile(ctx, memory, 1, "TxDefaultProfile", 0, [(0, 6), (100, 8), (200, 10)], 400, valid_for=401)
    await set_charging_profile(ctx, connector, low, "memory state (ChargingProfile 1)")
    high = charging_profile(ctx, memory, 2, "TxDefaultProfile", 1, [(0, 7), (100, 9)], 150, valid_for=401)
    await set_charging_profile(ctx, connector, high, "memory state (ChargingProfile 2)")
    # Steps 1-2: startPeriod 0: 7, (100 - x): 9, (150 - x): 8, (200 - x): 10.
    await get_composite_schedule(ctx, 350, [(0, 7), (100, 9), (150, 8), (200, 10)], memory, "step 2")


async def tc_059(ctx: CaseContext) -> None:
    """TC_059_CS Remote Start Transaction with Charging Profile."""
    settings = ctx.settings
    memory = Memory.now(ctx)
    # Step 1: "Charging with a ChargingProfile with purpose TxProfile" (sent with the RemoteStartTransaction.req,
    # so without transactionId: OCPP 1.6 §5.11).
    profile = charging_profile(
        ctx, memory, 1, "TxProfile", settings.stack_level, PERIODS, settings.charging_schedule_duration
    )
    await charging(ctx, charging_profile=profile)
    # Steps 2-3.
    await get_composite_schedule(
        ctx, settings.charging_schedule_duration, _own_profile_breakpoints(ctx), memory, "step 3"
    )


async def tc_060(ctx: CaseContext) -> None:
    """TC_060_CS Remote Start Transaction with Charging Profile - Rejected: a chargingProfile whose purpose is
    NOT TxProfile → status Rejected OR a CallError PropertyConstraintViolation."""
    settings = ctx.settings
    profile = charging_profile(
        ctx, Memory.now(ctx), 1, "TxDefaultProfile", settings.stack_level, PERIODS, settings.charging_schedule_duration
    )
    request: Payload = {
        "connectorId": settings.connector_id,
        "idTag": settings.valid_id_tag,
        "chargingProfile": profile,
    }
    reply = await ctx.csms.call("RemoteStartTransaction", request)
    status_or_call_error(reply, step="2", status="Rejected", error=ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)


def _case(tool_id: str, title: str, section: str, run: CaseFunction) -> TestCase:
    return TestCase(tool_id, title, SMART_CHARGING, MODULE, section, run)


CASES: tuple[TestCase, ...] = (
    _case("TC_056", "Central Smart Charging - TxDefaultProfile", "2.22.1", tc_056),
    _case("TC_057", "Central Smart Charging - TxProfile", "2.22.1", tc_057),
    _case("TC_058_1", "Central Smart Charging - No ongoing transaction", "2.22.1", tc_058_1),
    _case("TC_058_2", "Central Smart Charging - Wrong transactionId", "2.22.1", tc_058_2),
    _case("TC_082", "Central Smart Charging - TxDefaultProfile - with ongoing transaction", "2.22.1", tc_082),
    _case("TC_066", "Get Composite Schedule", "2.22.2", tc_066),
    _case("TC_067", "Clear Charging Profile", "2.22.3", tc_067),
    _case("TC_072", "Stacking Charging Profiles", "2.22.4", tc_072),
    _case("TC_059", "Remote Start Transaction with Charging Profile", "2.22.5", tc_059),
    _case("TC_060", "Remote Start Transaction with Charging Profile - Rejected", "2.22.5", tc_060),
)
