"""Time per GetCompositeSchedule computation in the core function (`charging_schedule.composite_schedule`).

14 installed profiles × 48 periods each (MaxChargingProfilesInstalled=14, ChargingScheduleMaxPeriods=48,
stack levels 0..2), a 7-day window, connector 0 of a 2-connector station (the sum of both connectors capped
by ChargePointMaxProfile). Two sets:
  mixed      — every purpose, kind and unit: weekly/daily recurring, absolute, relative, validity windows, a
               transaction with two TxProfiles on connector 1, connector 2 idle on its TxDefault stack;
  worst case — 14 daily-recurring profiles (every stack 3 levels deep, TxProfiles valid 3 of the 7 days on
               both connectors) whose durations leave gaps at every level, so every level of every stack shows
               through every day: about as many breakpoints as 14 × 48 periods can make in 7 days.
Run: .venv/bin/python bench/bench_composite_schedule.py
"""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal
from typing import Any

from ocpp_station.clock import iso_utc
from ocpp_station.station.charging_schedule import ChargingProfile, Electrical, Transaction, composite_schedule

NOW = 1_767_225_600.0 + 3 * 3600 + 17.25  # 2026-01-01T03:00:17.250Z
WEEK = 7 * 86_400
PERIODS = 48


def profile(
    rng: random.Random,
    profile_id: int,
    connector_id: int,
    purpose: str,
    level: int,
    kind: str,
    step_s: int,
    *,
    unit: str = "A",
    duration: int | None = None,
    start: float | None = None,
    recurrency: str | None = None,
    valid_from: float | None = None,
    valid_to: float | None = None,
) -> ChargingProfile:
    periods: list[dict[str, Any]] = []
    for i in range(PERIODS):
        amps = Decimal(rng.randrange(60, 320)).scaleb(-1)
        limit = amps if unit == "A" else amps * 690
        periods.append({"startPeriod": i * step_s, "limit": limit, "numberPhases": 3})
    schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    if duration is not None:
        schedule["duration"] = duration
    if start is not None:
        schedule["startSchedule"] = iso_utc(start)
    body: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency is not None:
        body["recurrencyKind"] = recurrency
    if valid_from is not None:
        body["validFrom"] = iso_utc(valid_from)
    if valid_to is not None:
        body["validTo"] = iso_utc(valid_to)
    return ChargingProfile.from_payload(connector_id, body)


def mixed(rng: random.Random) -> list[ChargingProfile]:
    midnight = NOW - NOW % 86_400
    cpmax, txd, tx = "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"
    p = profile
    return [
        p(rng, 1, 0, cpmax, 0, "Recurring", 12_600, recurrency="Weekly", start=midnight - 3 * 86_400),
        p(rng, 2, 0, cpmax, 1, "Recurring", 1_800, recurrency="Daily", start=midnight, duration=18 * 3600),
        p(rng, 3, 0, cpmax, 2, "Absolute", 1_800, start=NOW - 3600, duration=86_400, unit="W"),
        p(rng, 4, 0, txd, 0, "Recurring", 1_800, recurrency="Daily", start=midnight),
        p(rng, 5, 0, txd, 1, "Recurring", 3_600, recurrency="Weekly", start=midnight, duration=48 * 3600),
        p(rng, 6, 0, txd, 2, "Absolute", 900, start=NOW - 600, duration=12 * 3600, valid_to=NOW + 3 * 86_400),
        p(rng, 7, 1, txd, 0, "Recurring", 1_800, recurrency="Daily", start=midnight, unit="W"),
        p(rng, 8, 1, txd, 1, "Relative", 600, duration=8 * 3600),
        p(rng, 9, 1, txd, 2, "Absolute", 3_600, start=NOW + 2 * 86_400, valid_from=NOW + 2 * 86_400),
        p(rng, 10, 2, txd, 0, "Recurring", 1_800, recurrency="Daily", start=midnight),
        p(rng, 11, 2, txd, 1, "Recurring", 450, recurrency="Daily", start=midnight + 6 * 3600, duration=6 * 3600),
        p(rng, 12, 2, txd, 2, "Absolute", 1_800, start=NOW + 86_400, duration=86_400),
        p(rng, 13, 1, tx, 0, "Relative", 900),
        p(rng, 14, 1, tx, 1, "Absolute", 300, start=NOW - 120, duration=4 * 3600),
    ]


def worst_case(rng: random.Random) -> list[ChargingProfile]:
    midnight = NOW - NOW % 86_400
    stacks = [(0, "ChargePointMaxProfile")] + [(c, "TxDefaultProfile") for c in (0, 1, 2)]
    profiles: list[ChargingProfile] = []
    for connector_id, purpose in stacks:
        for level in (2, 1, 0):
            # 48 periods of 20 min, cut after 16 h (levels 2/1) so that the lower level shows every day
            duration = None if level == 0 else 16 * 3600
            offset = (2 - level) * 4 * 3600
            profiles.append(
                profile(
                    rng,
                    len(profiles) + 1,
                    connector_id,
                    purpose,
                    level,
                    "Recurring",
                    1_200 - 7 * len(profiles),  # steps of 20 min down to 18.5 min: breakpoints rarely coincide
                    recurrency="Daily",
                    start=midnight + offset,
                    duration=duration,
                )
            )
    # two TxProfiles for the transactions on both connectors, valid for part of the week only
    for connector_id, valid_from in ((1, NOW - 3600), (2, NOW + 2 * 86_400)):
        profiles.append(
            profile(
                rng,
                len(profiles) + 1,
                connector_id,
                "TxProfile",
                0,
                "Recurring",
                1_200,
                recurrency="Daily",
                start=midnight + 2 * 3600,
                valid_from=valid_from,
                valid_to=valid_from + 3 * 86_400,
            )
        )
    return profiles


def bench(name: str, profiles: list[ChargingProfile], transactions: dict[int, Transaction]) -> None:
    electrical = Electrical(voltage_v=230.0, phases=3, max_current_a=32.0, connectors=2)
    assert len(profiles) == 14 and all(len(p.schedule.periods) == PERIODS for p in profiles)

    def call() -> int:
        result = composite_schedule(profiles, 0, NOW, WEEK, "A", electrical=electrical, transactions=transactions)
        return len(result.periods)

    def cold() -> None:
        for p in profiles:  # forget the per-profile unit conversion kept from the previous call
            p.converted_cache_clear()

    count = call()
    warm: list[float] = []
    first: list[float] = []
    for _ in range(7):
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        warm.append((time.perf_counter() - t0) / n)
        elapsed = 0.0
        for _ in range(n):
            cold()
            t0 = time.perf_counter()
            call()
            elapsed += time.perf_counter() - t0
        first.append(elapsed / n)
    print(
        f"{name:<11} {statistics.median(warm) * 1e3:6.3f} ms per call (best {min(warm) * 1e3:.3f}); "
        f"first call after installing {statistics.median(first) * 1e3:6.3f} ms; {count} periods in the composite"
    )


def main() -> None:
    rng = random.Random(20260101)
    print("GetCompositeSchedule core function: 14 profiles x 48 periods, 7 days, connector 0 of 2")
    bench("mixed", mixed(rng), {1: Transaction(NOW - 1800, 4711)})
    bench("worst case", worst_case(rng), {1: Transaction(NOW - 1800, 4711), 2: Transaction(NOW - 60, 4712)})


if __name__ == "__main__":
    main()
