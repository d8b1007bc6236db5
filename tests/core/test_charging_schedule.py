"""The charging-schedule maths: OCTT numbers, each stacking rule, units, and property tests against sampling."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_station.clock import iso_utc, parse_iso
from ocpp_station.station.charging_schedule import (
    ChargingProfile,
    CompositeSchedule,
    Electrical,
    Purpose,
    Transaction,
    applied_limits,
    composite_schedule,
    limit_at,
    next_change,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday
DAY = 86_400
E = Electrical(voltage_v=230.0, phases=3, max_current_a=32.0, connectors=2)

CPMAX, TXD, TX = "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"


def profile(
    pid: int,
    connector_id: int,
    purpose: str,
    level: int,
    periods: list[tuple[Any, ...]],
    *,
    duration: int | None = None,
    start: float | None = T0,
    kind: str = "Absolute",
    recurrency: str | None = None,
    valid_from: float | None = None,
    valid_to: float | None = None,
    unit: str = "A",
    transaction_id: int | None = None,
) -> ChargingProfile:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": Decimal(str(p[1]))} | ({"numberPhases": p[2]} if len(p) > 2 else {})
            for p in periods
        ],
    }
    if duration is not None:
        schedule["duration"] = duration
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = iso_utc(start)
    body: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    for key, value in (
        ("recurrencyKind", recurrency),
        ("validFrom", None if valid_from is None else iso_utc(valid_from)),
        ("validTo", None if valid_to is None else iso_utc(valid_to)),
        ("transactionId", transaction_id),
    ):
        if value is not None:
            body[key] = value
    return ChargingProfile.from_payload(connector_id, body)


def periods(schedule: CompositeSchedule) -> list[tuple[int, Decimal]]:
    return [(p.start_period, p.limit) for p in schedule.periods]


def d(*pairs: tuple[int, float | str]) -> list[tuple[int, Decimal]]:
    return [(s, Decimal(str(v))) for s, v in pairs]


# -- the OCTT cases (x = seconds between the profiles' start and the request) ----------------------------------------
def tc_066_profiles() -> list[ChargingProfile]:
    return [
        profile(1, 0, CPMAX, 0, [(0, 10)], duration=86_400),
        profile(
            2,
            1,
            TXD,
            0,
            [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)],
            duration=300,
            valid_from=T0,
            valid_to=T0 + 401,
        ),
        profile(
            3,
            1,
            TX,
            0,
            [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)],
            duration=260,
            valid_from=T0,
            valid_to=T0 + 401,
        ),
    ]


def test_tc_066_tx_profile_overrides_tx_default_without_fallback_and_is_capped_by_cpmax() -> None:
    x = 3
    tx = {1: Transaction(T0 - 30, 17)}
    cs = composite_schedule(tc_066_profiles(), 1, T0 + x, 400, "A", electrical=E, transactions=tx)
    assert periods(cs) == d((0, 8), (50 - x, 10), (200 - x, 6), (240 - x, 10))
    assert cs.duration == 400 and cs.unit == "A" and cs.start == T0 + x


def test_tc_066_in_watts_multiplies_by_1000_when_the_profiles_are_in_watts() -> None:
    in_w = [
        profile(1, 0, CPMAX, 0, [(0, 10_000)], duration=86_400, unit="W"),
        profile(3, 1, TX, 0, [(0, 8000), (50, 11000), (140, 16000), (200, 6000), (240, 12000)], duration=260, unit="W"),
    ]
    cs = composite_schedule(in_w, 1, T0, 400, "W", electrical=E, transactions={1: Transaction(T0, 17)})
    assert periods(cs) == d((0, 8000), (50, 10000), (200, 6000), (240, 10000))


def test_tc_072_falls_back_to_the_lower_stack_level_when_the_higher_one_ends() -> None:
    x = 2
    stack = [
        profile(1, 1, TXD, 0, [(0, 6), (100, 8), (200, 10)], duration=400, valid_from=T0, valid_to=T0 + 401),
        profile(2, 1, TXD, 1, [(0, 7), (100, 9)], duration=150, valid_from=T0, valid_to=T0 + 401),
    ]
    cs = composite_schedule(stack, 1, T0 + x, 350, "A", electrical=E)
    assert periods(cs) == d((0, 7), (100 - x, 9), (150 - x, 8), (200 - x, 10))


def test_tc_067_clearing_step_by_step_ends_at_the_hardware_limit() -> None:
    x = 1
    first = profile(1, 1, TXD, 1, [(0, 6), (60, 8), (200, 10)], duration=400)
    second = profile(2, 1, TXD, 0, [(0, 7), (100, 9)], duration=400, valid_from=T0, valid_to=T0 + 401)
    cpmax = profile(3, 0, CPMAX, 0, [(0, 11), (200, 12)], duration=86_400, valid_from=T0, valid_to=T0 + 401)
    assert periods(composite_schedule([second, cpmax], 1, T0 + x, 350, electrical=E)) == d((0, 7), (100 - x, 9))
    assert periods(composite_schedule([cpmax], 1, T0 + x, 350, electrical=E)) == d((0, 11), (200 - x, 12))
    assert periods(composite_schedule([], 1, T0 + x, 350, electrical=E)) == d((0, 32))
    assert first.stack_level == 1


def test_no_profile_is_one_period_at_the_hardware_maximum_in_either_unit() -> None:
    assert periods(composite_schedule([], 1, T0, 3600, "A", electrical=E)) == d((0, 32))
    assert periods(composite_schedule([], 1, T0, 3600, "W", electrical=E)) == d((0, 22080))
    assert periods(composite_schedule([], 0, T0, 3600, "A", electrical=E)) == d((0, 64))
    one_phase = Electrical(voltage_v=230.0, phases=1, max_current_a=16.0, connectors=1)
    cs = composite_schedule([], 1, T0, 60, "W", electrical=one_phase)
    assert [(p.start_period, p.limit, p.number_phases) for p in cs.periods] == [(0, Decimal(3680), 1)]


def test_duration_zero_reports_the_limit_now() -> None:
    stack = [profile(1, 0, TXD, 0, [(0, 6), (1, 9)])]
    assert periods(composite_schedule(stack, 1, T0, 0, electrical=E)) == d((0, 6))


# -- kinds and validity ----------------------------------------------------------------------------------------------
def test_recurring_daily_runs_across_midnight_and_leaves_the_rest_of_the_day_to_lower_levels() -> None:
    evening = T0 + 22 * 3600  # 22:00 on day 1; the schedule runs 22:00–03:00 every day
    daily = profile(
        1, 0, TXD, 1, [(0, 16), (3 * 3600, 8)], duration=5 * 3600, start=evening, kind="Recurring", recurrency="Daily"
    )
    base = profile(2, 0, TXD, 0, [(0, 20)], start=T0)
    window = T0 + DAY + 21 * 3600  # 21:00 on day 2
    cs = composite_schedule([daily, base], 1, window, 8 * 3600, electrical=E)
    assert periods(cs) == d((0, 20), (3600, 16), (4 * 3600, 8), (6 * 3600, 20))
    # and nothing before the first recurrence
    assert limit_at([daily], 1, evening - 1, electrical=E).limit == 32
    assert limit_at([daily], 1, evening + 3 * 3600, electrical=E).limit == 8


def test_recurring_daily_with_a_duration_longer_than_a_day_is_cut_at_the_recurrence() -> None:
    daily = profile(
        1, 0, TXD, 0, [(0, 10), (20 * 3600, 12)], duration=2 * DAY, start=T0, kind="Recurring", recurrency="Daily"
    )
    cs = composite_schedule([daily], 1, T0 + 19 * 3600, 6 * 3600, electrical=E)
    assert periods(cs) == d((0, 10), (3600, 12), (5 * 3600, 10))


def test_recurring_weekly_starts_again_a_week_later_across_the_weekend() -> None:
    sunday_late = T0 + 3 * DAY + 23 * 3600  # Sunday 2026-01-04 23:00
    weekly = profile(
        1, 0, CPMAX, 0, [(0, 12), (2 * 3600, 14)], duration=4 * 3600, start=sunday_late, kind="Recurring",
        recurrency="Weekly",
    )  # fmt: skip
    next_sunday = sunday_late + 7 * DAY - 3600  # the following Sunday 22:00
    cs = composite_schedule([weekly], 1, next_sunday, 6 * 3600, electrical=E)
    assert periods(cs) == d((0, 32), (3600, 12), (3 * 3600, 14), (5 * 3600, 32))
    assert limit_at([weekly], 1, sunday_late + 3 * DAY, electrical=E).limit == 32


def test_valid_from_and_valid_to_bound_a_profile_and_the_lower_level_fills_in() -> None:
    top = profile(1, 1, TXD, 2, [(0, 6)], start=T0 - 1000, valid_from=T0 + 100, valid_to=T0 + 200)
    low = profile(2, 1, TXD, 0, [(0, 16)], start=T0 - 1000)
    assert periods(composite_schedule([top], 1, T0, 300, electrical=E)) == d((0, 32), (100, 6), (200, 32))
    assert periods(composite_schedule([top, low], 1, T0, 300, electrical=E)) == d((0, 16), (100, 6), (200, 16))


def test_relative_profiles_start_with_the_transaction_or_with_the_window() -> None:
    rel = profile(1, 0, TXD, 0, [(0, 6), (600, 10)], kind="Relative", duration=1200)
    with_tx = composite_schedule([rel], 1, T0, 1800, electrical=E, transactions={1: Transaction(T0 - 500)})
    assert periods(with_tx) == d((0, 6), (100, 10), (700, 32))
    without = composite_schedule([rel], 1, T0, 1800, electrical=E)
    assert periods(without) == d((0, 6), (600, 10), (1200, 32))
    assert limit_at([rel], 1, T0 + 650, T0 - 500, electrical=E).limit == 10
    assert limit_at([rel], 1, T0 + 650, electrical=E).limit == 6  # as if a transaction started now


def test_tx_profile_needs_its_transaction_and_the_right_transaction_id() -> None:
    txp = profile(1, 1, TX, 0, [(0, 6)], transaction_id=17)
    assert limit_at([txp], 1, T0, electrical=E).limit == 32  # no transaction: not applied
    assert limit_at([txp], 1, T0, T0 - 10, 18, electrical=E).limit == 32  # another transaction
    assert limit_at([txp], 1, T0, T0 - 10, 17, electrical=E).limit == 6
    assert limit_at([txp], 2, T0, T0 - 10, 17, electrical=E).limit == 32  # another connector


def test_tx_profile_overrides_tx_default_only_while_valid() -> None:
    txd = profile(1, 0, TXD, 0, [(0, 10)])
    txp = profile(2, 1, TX, 0, [(0, 6)], duration=100, valid_to=T0 + 200)
    cs = composite_schedule([txd, txp], 1, T0, 400, electrical=E, transactions={1: Transaction(T0)})
    # 0–100 the TxProfile; 100–200 its schedule is over but it is still valid: no TxDefault (TC_066);
    # from 200 it is no longer valid and the TxDefault applies again.
    assert periods(cs) == d((0, 6), (100, 32), (200, 10))


def test_connector_specific_tx_default_comes_before_the_connector_0_one() -> None:
    everywhere = profile(1, 0, TXD, 2, [(0, 10)])
    here = profile(2, 1, TXD, 0, [(0, 6)], duration=100)
    cs1 = composite_schedule([everywhere, here], 1, T0, 300, electrical=E)
    cs2 = composite_schedule([everywhere, here], 2, T0, 300, electrical=E)
    assert periods(cs1) == d((0, 6), (100, 10))
    assert periods(cs2) == d((0, 10))


def test_connector_0_is_the_sum_of_the_connectors_capped_by_cpmax() -> None:
    txd = profile(1, 0, TXD, 0, [(0, 10), (100, 20)])
    cpmax = profile(2, 0, CPMAX, 0, [(0, 32), (200, 16)])
    cs = composite_schedule([txd, cpmax], 0, T0, 300, electrical=E)
    assert periods(cs) == d((0, 20), (100, 32), (200, 16))
    cs1 = composite_schedule([txd, cpmax], 1, T0, 300, electrical=E)
    assert periods(cs1) == d((0, 10), (100, 20), (200, 16))


# -- units -----------------------------------------------------------------------------------------------------------
def test_unit_conversion_uses_the_nominal_voltage_and_number_of_phases() -> None:
    amps = [profile(1, 0, TXD, 0, [(0, 10), (10, "10.1"), (20, 16, 1), (30, "7.3", 2)])]
    cs = composite_schedule(amps, 1, T0, 40, "W", electrical=E)
    assert periods(cs) == d((0, 6900), (10, 6969), (20, 3680), (30, 3358))
    watts = [profile(1, 0, TXD, 0, [(0, 6900), (10, 6000), (20, 11000), (30, 2300, 1)], unit="W")]
    cs = composite_schedule(watts, 1, T0, 40, "A", electrical=E)
    # 6000 W / 690 V = 8.69… A and 11000 W / 690 V = 15.94… A: rounded down, never up
    assert periods(cs) == d((0, 10), (10, "8.6"), (20, "15.9"), (30, 10))
    assert [p.number_phases for p in cs.periods] == [3, 3, 3, 1]
    in_110 = Electrical(voltage_v=110.0, phases=3, max_current_a=32.0, connectors=1)
    assert limit_at(watts, 1, T0, unit="A", electrical=in_110).limit == Decimal("20.9")


def test_limits_keep_their_single_decimal_exactly() -> None:
    stack = [profile(1, 0, TXD, 0, [(0, "21.4"), (10, "0.1"), (20, 0)])]
    cs = composite_schedule(stack, 1, T0, 30, electrical=E)
    assert [str(p.limit) for p in cs.periods] == ["21.4", "0.1", "0.0"]


# -- applying ---------------------------------------------------------------------------------------------------------
def test_applied_limits_share_cpmax_between_running_transactions() -> None:
    cpmax = profile(1, 0, CPMAX, 0, [(0, "20.1")])
    own = profile(2, 1, TX, 0, [(0, 6)])
    both = {1: Transaction(T0), 2: Transaction(T0)}
    assert applied_limits([cpmax], T0, both, electrical=E) == {1: Decimal("10.0"), 2: Decimal("10.1")}
    assert applied_limits([cpmax, own], T0, both, electrical=E) == {1: Decimal(6), 2: Decimal("14.1")}
    assert applied_limits([cpmax], T0, {2: Transaction(T0)}, electrical=E) == {2: Decimal("20.1")}
    assert applied_limits([], T0, both, electrical=E) == {1: Decimal(32), 2: Decimal(32)}


def test_next_change_is_the_next_breakpoint_within_the_horizon() -> None:
    stack = [profile(1, 0, TXD, 0, [(0, 6), (30, 6), (45, 8)], start=T0)]
    txs = {1: Transaction(T0)}
    assert next_change(stack, T0 + 1.5, txs, electrical=E) == T0 + 45  # 30 does not change the limit
    assert next_change(stack, T0 + 45, txs, electrical=E, horizon=60) == T0 + 105
    assert next_change([], T0, txs, electrical=E, horizon=60) == T0 + 60


def test_a_change_inside_a_second_shows_from_the_next_whole_second() -> None:
    stack = [profile(1, 0, TXD, 0, [(0, 6), (10, 8)], start=T0 + 0.25)]
    cs = composite_schedule(stack, 1, T0, 20, electrical=E)
    assert periods(cs) == d((0, 32), (1, 6), (11, 8))


# -- properties -------------------------------------------------------------------------------------------------------
SLOTS = [(CPMAX, 0), (TXD, 0), (TXD, 1), (TXD, 2), (TX, 1), (TX, 2)]
MS = st.sampled_from([0.0, 0.25, 0.5, 0.999])


@st.composite
def profile_stacks(draw: st.DrawFn) -> list[ChargingProfile]:
    stack: list[ChargingProfile] = []
    used: set[tuple[str, int, int]] = set()
    for pid in range(1, draw(st.integers(0, 8)) + 1):
        purpose, connector_id = draw(st.sampled_from(SLOTS))
        level = draw(st.integers(0, 2))
        if (purpose, connector_id, level) in used:
            continue
        used.add((purpose, connector_id, level))
        kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
        recurrency = draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None
        unit = draw(st.sampled_from(["A", "W"]))
        starts = [0, *sorted(set(draw(st.lists(st.integers(1, 500), max_size=4))))]
        scale = 1 if unit == "A" else 230
        limits = [Decimal(draw(st.integers(0, 400 * scale))).scaleb(-1) for _ in starts]
        phases = [draw(st.one_of(st.none(), st.integers(1, 3))) for _ in starts]
        period_list = [(s, lim) if n is None else (s, lim, n) for s, lim, n in zip(starts, limits, phases, strict=True)]
        start = T0 + draw(st.integers(-400, 400)) + draw(MS)
        if recurrency is not None:
            start -= draw(st.integers(0, 2)) * (DAY if recurrency == "Daily" else 7 * DAY)
        valid_from = draw(st.one_of(st.none(), st.integers(-300, 700).map(lambda s: T0 + s)))
        valid_to = draw(st.one_of(st.none(), st.integers(-100, 900).map(lambda s: T0 + s + 0.5)))
        stack.append(
            profile(
                pid,
                connector_id,
                purpose,
                level,
                period_list,
                duration=draw(st.one_of(st.none(), st.integers(0, 700))),
                start=start,
                kind=kind,
                recurrency=recurrency,
                valid_from=valid_from,
                valid_to=valid_to,
                unit=unit,
                transaction_id=draw(st.sampled_from([None, 7, 8])) if purpose == TX else None,
            )
        )
    return stack


transactions_st = st.fixed_dictionaries(
    {},
    optional={
        1: st.builds(Transaction, st.integers(-600, 100).map(lambda s: T0 + s + 0.125), st.sampled_from([None, 7])),
        2: st.builds(Transaction, st.integers(-600, 100).map(lambda s: T0 + s), st.sampled_from([None, 7])),
    },
)


def sampled(
    stack: list[ChargingProfile], connector_id: int, start: float, duration: int, unit: str, txs: dict[int, Transaction]
) -> list[tuple[Decimal, int]]:
    return [
        tuple(limit_at(stack, connector_id, start + k, unit=unit, electrical=E, transactions=txs, anchor=start))  # type: ignore[misc]
        for k in range(max(1, duration))
    ]


def expanded(cs: CompositeSchedule) -> list[tuple[Decimal, int]]:
    out: list[tuple[Decimal, int]] = []
    bounds = [p.start_period for p in cs.periods[1:]] + [max(1, cs.duration)]
    assert cs.periods[0].start_period == 0
    for p, end in zip(cs.periods, bounds, strict=True):
        assert end > p.start_period
        out += [(p.limit, p.number_phases)] * (end - p.start_period)
    return out


@settings(max_examples=120, deadline=None)
@given(
    profile_stacks(),
    transactions_st,
    st.sampled_from([0, 1, 2]),
    st.integers(-200, 200),
    MS,
    st.integers(0, 500),
    st.sampled_from(["A", "W"]),
)
def test_composite_equals_limit_at_sampled_every_second(
    stack: list[ChargingProfile],
    txs: dict[int, Transaction],
    connector_id: int,
    offset: int,
    fraction: float,
    duration: int,
    unit: str,
) -> None:
    start = T0 + offset + fraction
    cs = composite_schedule(stack, connector_id, start, duration, unit, electrical=E, transactions=txs)
    assert expanded(cs) == sampled(stack, connector_id, start, duration, unit, txs)
    # a new period only where the limit changes
    assert all(a[1:] != b[1:] for a, b in zip(cs.periods, cs.periods[1:], strict=False))


@settings(max_examples=80, deadline=None)
@given(profile_stacks(), transactions_st, st.sampled_from([0, 1, 2]), st.integers(1, 400), st.sampled_from(["A", "W"]))
def test_composite_never_exceeds_charge_point_max(
    stack: list[ChargingProfile], txs: dict[int, Transaction], connector_id: int, duration: int, unit: str
) -> None:
    cs = composite_schedule(stack, connector_id, T0, duration, unit, electrical=E, transactions=txs)
    cpmax_only = [p for p in stack if p.purpose is Purpose.CHARGE_POINT_MAX]
    ceiling = sampled(cpmax_only, connector_id, T0, duration, unit, txs)
    assert all(got[0] <= cap[0] for got, cap in zip(expanded(cs), ceiling, strict=True))


@settings(max_examples=60, deadline=None)
@given(profile_stacks(), transactions_st, st.sampled_from([0, 1, 2]), st.randoms(use_true_random=False))
def test_composite_does_not_depend_on_the_order_of_the_profiles(
    stack: list[ChargingProfile], txs: dict[int, Transaction], connector_id: int, rnd: random.Random
) -> None:
    shuffled = list(stack)
    rnd.shuffle(shuffled)
    first = composite_schedule(stack, connector_id, T0, 900, "A", electrical=E, transactions=txs)
    again = composite_schedule(shuffled, connector_id, T0, 900, "A", electrical=E, transactions=txs)
    assert first == again


def test_profiles_read_back_from_the_store_keep_their_values() -> None:
    body = {
        "chargingProfileId": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": TXD,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}, {"startPeriod": 60, "limit": 7}],
        },
    }
    p = ChargingProfile.from_payload(1, body)  # floats as json.loads gives them back from the store
    assert [q.limit for q in p.schedule.periods] == [Decimal("21.4"), Decimal(7)]
    assert p.schedule.start_schedule == parse_iso("2026-01-01T00:00:00Z")
