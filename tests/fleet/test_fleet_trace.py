"""The fleet's frame trace: one ring for the process, bounded in bytes, read per station (fleet/trace.py)."""

from __future__ import annotations

import tracemalloc

from ocpp_station.clock import ManualClock
from ocpp_station.fleet.trace import RECEIVED, SENT, FrameTrace, TracedStationLog
from ocpp_station.protocol.rpc import dumps_bytes


def test_the_ring_keeps_the_newest_frames_within_its_bound() -> None:
    trace = FrameTrace(max_bytes=2_000)
    for n in range(100):
        trace.record(float(n), f"CP-{n % 2}", SENT, f'[2,"{n:04d}","Heartbeat",{{}}]'.encode())
    assert trace.size <= 2_000
    kept = trace.entries_of("CP-1")
    assert kept and len(kept) < 50
    # The newest are kept, in the order recorded, in the single station's trace format.
    assert kept[-1].text == 'CP-1 → [2,"0099","Heartbeat",{}]'
    assert [entry.at for entry in kept] == sorted(entry.at for entry in kept)
    assert all(entry.text.startswith("CP-1 ") for entry in kept)


def test_a_station_log_merges_its_events_with_its_frames_and_selects_a_window() -> None:
    clock = ManualClock(1_000.0)
    trace = FrameTrace(max_bytes=1 << 20)
    log = TracedStationLog(clock, trace, "CP-7")
    trace.record(1_000.0, "CP-7", RECEIVED, '[2,"a","GetDiagnostics",{"location":"ftp://u:secret@h/"}]')
    trace.record(1_000.5, "CP-8", SENT, b'[2,"b","Heartbeat",{}]')
    clock.advance(1.0)
    log.event("diagnostics upload: started")
    trace.record(1_002.0, "CP-7", SENT, b'[2,"c","DiagnosticsStatusNotification",{"status":"Uploading"}]')
    texts = [entry.text for entry in log.entries()]
    assert texts == [
        'CP-7 ← [2,"a","GetDiagnostics",{"location":"ftp://u:***@h/"}]',  # a password in a URL is redacted
        "diagnostics upload: started",
        'CP-7 → [2,"c","DiagnosticsStatusNotification",{"status":"Uploading"}]',
    ]
    assert [entry.text for entry in log.entries(start=1_000.9, stop=1_001.5)] == ["diagnostics upload: started"]


def test_the_bound_is_on_memory_also_for_frames_written_by_orjson() -> None:
    # orjson returns its frame in a 4 KiB buffer: kept as it is, 64 MiB of trace held 570 MiB.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        trace = FrameTrace(max_bytes=1 << 20)
        for n in range(20_000):
            trace.record(float(n), "CP-1", SENT, dumps_bytes([2, f"{n:08d}", "Heartbeat", {}]))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert trace.size <= 1 << 20
    assert held < 1.5 * (1 << 20)
