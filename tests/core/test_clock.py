"""The timestamp format of every message (clock.iso_utc): what `datetime.fromtimestamp` says, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from ocpp_station.clock import iso_utc


def reference(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"


@given(st.floats(min_value=-2e9, max_value=2.5e11))
@example(1_767_225_599.9999995)  # rounds up into the next second, as datetime does (half to even)
@example(1_767_225_599.9999996)
@example(-0.0000004)
@example(0.0005)
def test_iso_utc_is_the_datetime_of_the_timestamp(timestamp: float) -> None:
    assert iso_utc(timestamp) == reference(timestamp)


def test_seconds_in_turn_are_each_formatted() -> None:
    assert iso_utc(1_767_225_600.25) == "2026-01-01T00:00:00.250Z"
    assert iso_utc(1_767_225_601.0) == "2026-01-01T00:00:01.000Z"
    assert iso_utc(1_767_225_600.999) == "2026-01-01T00:00:00.999Z"
