"""`python -m ocpp_station.fuzz [--frames N] [--seed S] [--burst B]`: the long fuzz run (`make fuzz`).

Prints progress, then frames/s and every distinct finding (crashes, wrong or missing answers, a station
that stops answering, store inconsistencies); exits 1 if there was any finding.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ocpp_station.tools.fuzz.runner import Report, run_fuzz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocpp_station.fuzz", description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated frames (default 0)")
    parser.add_argument("--burst", type=int, default=24, help="frames per burst before each probe (default 24)")
    args = parser.parse_args(argv)
    # The station logs one line per bad frame: keep them out of the report (errors are counted as findings).
    logging.basicConfig(level=logging.CRITICAL)
    last = [0]

    def progress(report: Report) -> None:
        if report.frames - last[0] >= 10_000 or report.frames >= args.frames:
            last[0] = report.frames
            print(
                f"  {report.frames} frames, {report.frames_per_second:.0f} frames/s, {len(report.findings)} findings",
                file=sys.stderr,
                flush=True,
            )

    print(f"fuzzing a station with {args.frames} frames (seed {args.seed}, bursts of up to {args.burst})")
    report = run_fuzz(args.frames, seed=args.seed, burst=args.burst, progress=progress)
    print(report.summary())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
