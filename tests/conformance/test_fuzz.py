"""The schema-aware fuzzer, short and seeded (the long run is `make fuzz`): a real station answers every
generated frame correctly, keeps answering and keeps its store consistent. Also checks the generator
itself: its invalid payloads break the schema exactly as labelled (schemas.py's CallError mapping)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocpp_station.protocol import schemas
from ocpp_station.tools.fuzz.runner import run_fuzz
from ocpp_station.tools.fuzz.strategies import CS_ACTIONS, instances, invalid_payload, schema


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CS_ACTIONS).flatmap(lambda a: st.tuples(st.just(a), invalid_payload(a))))
def test_invalid_payloads_get_the_code_their_violation_calls_for(case: tuple[str, tuple[Any, str, str]]) -> None:
    action, (payload, code, how) = case
    try:
        schemas.validate_request(action, payload)
    except schemas.SchemaViolation as exc:
        assert exc.code == code, f"{action} ({how}): {exc.description}"
    else:
        raise AssertionError(f"{action} ({how}) passed the schema: {payload!r}")


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CS_ACTIONS).flatmap(lambda a: st.tuples(st.just(a), instances(schema(a), True))))
def test_boundary_payloads_are_valid(case: tuple[str, Any]) -> None:
    action, payload = case
    schemas.validate_request(action, payload)


def test_a_short_fuzz_run_finds_nothing() -> None:
    report = run_fuzz(1500, seed=20240601, burst=24)
    assert report.findings == [], report.summary()
    assert report.generator_issues == [], report.summary()
    assert report.frames >= 1500
    sent = set(report.labels)
    assert {"not JSON", "binary garbage", "deep nesting", "unknown action", "id longer than 36"} <= sent
    assert len(sent & set(CS_ACTIONS)) >= 15, sorted(sent)
