"""StationWatch on synthetic link events: pairing, response times, errors, timeouts, live subscribers."""

from __future__ import annotations

import json
from typing import Any

from ocpp_station.shell.frame_events import FrameEvent, FrameKind
from ocpp_station.shell.web.fleet import percentile
from ocpp_station.shell.web.telemetry import StationWatch


def event(kind: FrameKind, frame: list[Any] | None = None, at: float = 0.0) -> FrameEvent:
    return FrameEvent("CP", kind, json.dumps(frame) if frame is not None else "", at=at, monotonic=at)


def test_responses_are_paired_and_timed() -> None:
    watch = StationWatch("CP")
    watch(event("sent", [2, "a", "Heartbeat", {}], at=10.0))
    watch(event("received", [3, "a", {"currentTime": "x"}], at=10.25))
    watch(event("received", [2, "b", "Reset", {"type": "Soft"}], at=11.0))
    watch(event("sent", [3, "b", {"status": "Accepted"}], at=11.1))
    assert watch.messages == {
        ("sent", "call", "Heartbeat"): 1,
        ("received", "result", "Heartbeat"): 1,
        ("received", "call", "Reset"): 1,
        ("sent", "result", "Reset"): 1,
    }
    assert watch.response_times["Heartbeat"].count == 1
    assert watch.response_times["Heartbeat"].total == 0.25
    assert [r.response_time_s for r in watch.frames] == [None, 0.25, None, None]
    assert dict(watch.response_times["Heartbeat"].cumulative())["0.1"] == 0
    assert dict(watch.response_times["Heartbeat"].cumulative())["0.25"] == 1


def test_errors_timeouts_and_reconnects() -> None:
    watch = StationWatch("CP")
    watch(event("connected"))
    watch(event("sent", [2, "a", "Authorize", {"idTag": "T"}]))
    watch(event("received", [4, "a", "InternalError", "boom", {}]))
    watch(event("sent", [2, "b", "Heartbeat", {}]))
    watch(event("timeout", [2, "b", "Heartbeat", {}]))
    watch(event("received", [3, "b", {}]))  # too late: no call is waiting for it any more
    watch(event("disconnected"))
    watch(event("connected"))
    assert watch.call_errors("received") == 1 and watch.call_errors("sent") == 0
    assert watch.timeouts == {"Heartbeat": 1}
    assert watch.reconnects == 1
    assert watch.frames[1].payload == {"errorCode": "InternalError", "errorDescription": "boom", "errorDetails": {}}
    assert watch.frames[1].action == "Authorize"
    assert watch.frames[-1].action == "" and "Heartbeat" not in watch.response_times


def test_subscribers_get_frames_until_they_leave() -> None:
    watch = StationWatch("CP")
    with watch.subscribe() as queue:
        watch(event("sent", [2, "a", "Heartbeat", {}]))
        assert queue.get_nowait().action == "Heartbeat"
    watch(event("received", [3, "a", {}]))
    assert queue.empty()


def test_invalid_frames_are_logged_not_fatal() -> None:
    watch = StationWatch("CP")
    watch(event("received", None))
    watch(FrameEvent("CP", "received", "not json"))
    assert [r.type for r in watch.frames] == ["invalid", "invalid"]


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50.0, 99.0, None)
