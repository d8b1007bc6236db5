"""Crash safety, the long run: many charging sessions on both connectors of a real station process that is
killed with SIGKILL at random instants (restarted on the same data dir) while its link drops at random
instants; then the central system's record is checked against the station's store (see
`ocpp_station.harness.crash_safety` for what is checked and how "created" is known).

Run: .venv/bin/python bench/crash_safety.py [--sessions 200] [--kills 50] [--link-drops 50] [--seed 1]
Prints sessions, kills, link drops, messages created / delivered / lost (must be 0) / duplicated, and every
problem found; exit status 1 if there is one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from ocpp_station.tools.harness.crash_safety import CrashPlan, run_crash_safety


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--link-drops", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each way between station and CSMS")
    parser.add_argument("--keep", type=Path, help="work in this directory (kept) instead of a temporary one")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each session as it starts")
    args = parser.parse_args()
    plan = CrashPlan(
        seed=args.seed,
        sessions=args.sessions,
        kills=args.kills,
        link_drops=args.link_drops,
        latency_s=args.latency,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-safety-") as temporary:
        workdir = args.keep or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        progress = (lambda line: print(line, flush=True)) if args.verbose else None
        report = asyncio.run(run_crash_safety(plan, workdir, progress=progress))
    print(f"seed {plan.seed}, {time.monotonic() - started:.0f} s")
    for label, value in (
        ("sessions", report.sessions),
        ("kills", report.kills),
        ("link drops", report.link_drops),
        ("messages created", report.created),
        ("delivered", report.delivered),
        ("lost", report.lost),
        ("duplicated", report.duplicated),
    ):
        print(f"{label:<17} {value}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
