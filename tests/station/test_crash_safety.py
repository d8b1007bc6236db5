"""Issue 3 "Done when": the durable transaction-message queue survives SIGKILL and link loss.

A real station process runs charging sessions on both connectors against a recording central system
(behind a relay adding 50 ms each way, so kills often land while a request is in flight); it is killed
with SIGKILL at random instants and restarted on the same data dir, and its link is dropped at random
instants. Afterwards the central system's record, held against the station's store, must show every
transaction started once and stopped once, every message created delivered (only the one in flight at an
interruption may come twice, identical), readings that never go backwards and nothing overtaking its
predecessors. How "created" is known: `ocpp_station.harness.crash_safety`. The longer variant:
`bench/crash_safety.py`.
"""

from __future__ import annotations

from pathlib import Path

from ocpp_station.tools.harness.crash_safety import CrashPlan, run_crash_safety

PLAN = CrashPlan(seed=20240411, sessions=14, kills=4, link_drops=4)


async def test_no_transaction_message_is_lost_across_kills_and_link_drops(tmp_path: Path) -> None:
    report = await run_crash_safety(PLAN, tmp_path)
    assert report.problems == [], report.summary() + "\n" + "\n".join(report.problems)
    assert report.kills == PLAN.kills and report.link_drops == PLAN.link_drops
    # A kill between the card and the StartTransaction's commit may leave a session unstarted, nothing else.
    assert report.sessions >= PLAN.sessions - PLAN.kills
    assert report.created > 2 * report.sessions  # MeterValues as well as Start and Stop
    assert report.lost == 0 and report.delivered == report.created
