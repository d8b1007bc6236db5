"""Fleet capacity on the shared workload: RSS per station, CPU per 1 000 msgs/s, lateness, time to boot all.

The central system is the shared load CSMS (`shared/bench/csms_load.py`, HeartbeatInterval 10 s) in its own
process on the same machine; the fleet (`ocpp_station.fleet`, one process, memory store) runs the workload of
`scenarios/bench.toml` (about 0.43 inbound messages/s per station). For each size:

* RSS per station: (fleet RSS once every station is booted − RSS before building them) / N;
* msgs/s: CP→CS calls plus CS→CP responses the fleet handled per second over the steady window, against the
  workload's demand (0.43 calls/s per station);
* CPU: fleet process CPU seconds over the steady window, per 1 000 msgs/s (1.0 = one core);
* lateness p99: how late the shared timers fired, and how late Heartbeat / MeterValues went out after their
  timer was due;
* time to boot all: from the first connection until every station is Accepted (ramp 2 000 stations/s).
* CSMS CPU: the load CSMS's own CPU over the same window (read from /proc), summed over its processes: it shares
  the machine's cores with the fleet, so what it needs bounds how many stations the machine can hold.

With `--processes P` each size runs as P fleet processes (shards `I/P`, `count / P` stations each, as
`ocpp-station fleet --processes P` does), each against its own load CSMS on its own port: one process may hold
at most `ulimit -n` sockets (a hard 20 000 here, for a fleet and for a CSMS alike), so 20 000 stations on this
machine are 2 processes x 10 000. The figures are merged: RSS, CPU and calls/s summed, the lateness p99 taken
from the merged histograms, time to boot all the slowest shard's.

With `--repeat K` each size runs K times and its row is the run with the median CPU per 1 000 msgs/s, the
K runs' range beside it.

With `--trace-mib M` the fleet keeps its frame trace (`ocpp-station fleet --trace-mib`), to measure what it costs.

Run: .venv/bin/python bench/fleet_capacity.py [--sizes 1000 5000 10000 20000] [--steady 60] [--processes P]
    [--repeat K] [--trace-mib M]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import load_scenario
from ocpp_station.fleet.stats import LogHistogram
from ocpp_station.settings import parse_settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSMS = ROOT.parent / "shared" / "bench" / "csms_load.py"
PAGE = os.sysconf("SC_PAGE_SIZE")
DEMAND_PER_STATION = 0.43


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_s() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of another process (the load CSMS), 0.0 when there is none to read."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Fields after the command's closing parenthesis: utime and stime are the 12th and 13th (proc(5)).
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_open_files(need: int) -> int:
    """Raise this process's `ulimit -n` towards `need` (children inherit it; root may raise the hard limit too);
    the soft limit obtained."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), max(hard, need)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, need)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(
    count: int,
    url: str,
    steady_s: float,
    ramp: float,
    shard: tuple[int, int] = (0, 1),
    trace_mib: float = 0.0,
    csms_pid: int | None = None,
) -> dict[str, Any]:
    scenario = load_scenario(ROOT / "scenarios" / "bench.toml")
    settings = parse_settings({"hardware": {"connectors": 1}})
    gc.collect()
    before = rss_bytes()
    fleet = Fleet(
        FleetOptions(
            csms_url=url,
            ids=station_ids(f"B{count}-{{n:05d}}", count, shard),
            settings=settings,
            scenario=scenario,
            seed=scenario.seed or 1,
            ramp_per_s=ramp,
            freeze_gc=True,  # as `ocpp-station fleet` does
            trace_bytes=int(trace_mib * 2**20),
        )
    )
    fleet.start()
    try:
        await asyncio.wait_for(fleet.booted_event.wait(), timeout=120 + count / ramp)
    except TimeoutError:
        fleet.stop()
        await asyncio.sleep(1)  # let the cancelled connection attempts unwind before the loop closes
        raise SystemExit(f"only {fleet.booted} of {count} booted; last error: {fleet.last_error}") from None
    booted_s = fleet.stats.booted_at or 0.0
    await asyncio.sleep(15)  # past the boot burst into the session loop
    gc.collect()
    rss = rss_bytes() - before
    for h in fleet.stats.lateness.values():
        h.buckets.clear()
        h.count = 0
    k0, x0 = sys_s(), process_cpu_s(csms_pid)
    c0, m0, s0, t0 = cpu_s(), fleet.messages(), sum(fleet.stats.sent.values()), time.monotonic()
    await asyncio.sleep(steady_s)
    k1, x1 = sys_s(), process_cpu_s(csms_pid)
    c1, m1, s1, t1 = cpu_s(), fleet.messages(), sum(fleet.stats.sent.values()), time.monotonic()
    gc.collect()
    rss = max(rss, rss_bytes() - before)
    fleet.stop()
    msgs = (m1 - m0) / (t1 - t0)
    calls = (s1 - s0) / (t1 - t0)
    cpu = (c1 - c0) / (t1 - t0)
    late = {k: (h.quantile(0.99) or 0.0) for k, h in fleet.stats.lateness.items()}
    count = len(fleet.options.ids)
    result: dict[str, Any] = {
        "stations": count,
        "rss_mib": rss / 2**20,
        "kib_per_station": rss / count / 1024,
        "cpu_cores": cpu,
        "cpu_kernel_share": (k1 - k0) / (c1 - c0) if c1 > c0 else 0.0,
        "calls_per_s": calls,
        "demand_per_s": DEMAND_PER_STATION * count,
        "cpu_per_1000_calls": cpu / calls * 1000 if calls else 0.0,
        "csms_cpu_cores": (x1 - x0) / (t1 - t0),
        "late_timer_p99_s": late.get("timer", 0.0),
        "late_heartbeat_p99_s": late.get("Heartbeat", 0.0),
        "late_metervalues_p99_s": late.get("MeterValues", 0.0),
        "boot_all_s": booted_s,
        "errors": sum(fleet.stats.errors.values()),
        "msgs_per_s": msgs,
        "kernel_cpu_s": k1 - k0,
        "cpu_s": c1 - c0,
        "lateness": {k: h.to_json() for k, h in fleet.stats.lateness.items()},
    }
    await asyncio.sleep(1)
    return result


def start_csms(csms: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(csms), "--port", str(port), "--heartbeat-interval", "10", "--report-interval", "60"],
        stdout=subprocess.DEVNULL,  # the CSMS's own report is not needed
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.05)
    server.terminate()
    raise SystemExit(f"the load CSMS {csms} did not start listening on port {port}")


def run_one(count: int, csms: Path, steady_s: float, ramp: float, trace_mib: float = 0.0) -> dict[str, Any]:
    server, port = start_csms(csms)
    try:
        url = f"ws://127.0.0.1:{port}/ocpp"
        return asyncio.run(measure(count, url, steady_s, ramp, trace_mib=trace_mib, csms_pid=server.pid))
    finally:
        server.terminate()
        server.wait(10)


def run_sharded(
    count: int,
    csms: Path,
    steady_s: float,
    ramp: float,
    processes: int,
    trace_mib: float = 0.0,
) -> dict[str, Any]:
    """P fleet processes (shards I/P), each against its own load CSMS, started together; merged figures."""
    servers = [start_csms(csms) for _ in range(processes)]
    workers = []
    try:
        for index, (server, port) in enumerate(servers):
            command = [sys.executable, __file__, "--worker", f"{index}/{processes}", "--sizes", str(count)]
            command += ["--url", f"ws://127.0.0.1:{port}/ocpp", "--steady", str(steady_s), "--ramp", str(ramp)]
            command += ["--trace-mib", str(trace_mib), "--csms-pid", str(server.pid)]
            workers.append(subprocess.Popen(command, stdout=subprocess.PIPE))
        shards = []
        for worker in workers:
            out, _ = worker.communicate()
            if worker.returncode != 0:
                raise SystemExit(f"a fleet shard failed (exit {worker.returncode})")
            shards.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        for server, _ in servers:
            server.terminate()
            server.wait(10)
    return merge(shards)


def merge(shards: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(r["stations"] for r in shards)
    rss = sum(r["rss_mib"] for r in shards)
    cpu = sum(r["cpu_cores"] for r in shards)
    calls = sum(r["calls_per_s"] for r in shards)
    late: dict[str, LogHistogram] = {}
    for r in shards:
        for kind, data in r["lateness"].items():
            late.setdefault(kind, LogHistogram()).merge(LogHistogram.from_json(data))
    cpu_s = sum(r["cpu_s"] for r in shards)
    return {
        "stations": total,
        "processes": len(shards),
        "rss_mib": rss,
        "kib_per_station": rss * 1024 / total,
        "cpu_cores": cpu,
        "cpu_kernel_share": sum(r["kernel_cpu_s"] for r in shards) / cpu_s if cpu_s else 0.0,
        "calls_per_s": calls,
        "demand_per_s": DEMAND_PER_STATION * total,
        "cpu_per_1000_calls": cpu / calls * 1000 if calls else 0.0,
        "csms_cpu_cores": sum(r["csms_cpu_cores"] for r in shards),
        "late_timer_p99_s": (late["timer"].quantile(0.99) or 0.0) if "timer" in late else 0.0,
        "late_heartbeat_p99_s": (late["Heartbeat"].quantile(0.99) or 0.0) if "Heartbeat" in late else 0.0,
        "late_metervalues_p99_s": (late["MeterValues"].quantile(0.99) or 0.0) if "MeterValues" in late else 0.0,
        "boot_all_s": max(r["boot_all_s"] for r in shards),
        "errors": sum(r["errors"] for r in shards),
        "shards": [{k: v for k, v in r.items() if k != "lateness"} for r in shards],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 20000])
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state measured per size")
    parser.add_argument("--ramp", type=float, default=2000.0, help="stations connecting per second")
    parser.add_argument("--csms", type=Path, default=DEFAULT_CSMS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--processes", type=int, default=1, help="fleet processes (and load CSMSs) per size")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per size; the row is the run with the median CPU per 1 000 msgs/s, with the runs' range",
    )
    parser.add_argument(
        "--trace-mib", type=float, default=0.0, help="the fleet's frame trace, as `ocpp-station fleet --trace-mib`"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # I/P: one shard of --processes, JSON on stdout
    parser.add_argument("--url", help=argparse.SUPPRESS)  # the worker's CSMS
    parser.add_argument("--csms-pid", type=int, help=argparse.SUPPRESS)  # ... and its process, for its CPU
    args = parser.parse_args()
    if args.worker:
        index, total = (int(x) for x in args.worker.split("/"))
        result = asyncio.run(
            measure(
                args.sizes[0],
                args.url,
                args.steady,
                args.ramp,
                (index, total),
                trace_mib=args.trace_mib,
                csms_pid=args.csms_pid,
            )
        )
        print(json.dumps(result))
        return
    # One socket per station on each side; the CSMS child inherits the limit.
    raise_open_files(2 * max(args.sizes) // args.processes + 1024)
    print(
        "| stations | fleet RSS | KiB/station | fleet CPU (1 core = 100 %) | calls/s (demand) | CPU per 1 000 msgs/s "
        "| timer late p99 | Heartbeat late p99 | MeterValues late p99 | boot all | errors | kernel share of CPU "
        "| CSMS CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for size in args.sizes:
        runs = []
        for _ in range(max(1, args.repeat)):
            if args.processes > 1:
                runs.append(run_sharded(size, args.csms, args.steady, args.ramp, args.processes, args.trace_mib))
            else:
                runs.append(run_one(size, args.csms, args.steady, args.ramp, args.trace_mib))
        # Single runs on a shared machine spread by ±20 % (README): the median run, and the spread beside it.
        runs.sort(key=lambda run: float(run["cpu_per_1000_calls"]))
        r = runs[(len(runs) - 1) // 2]
        cpu_figures = [float(run["cpu_per_1000_calls"]) for run in runs]
        spread = f" ({cpu_figures[0]:.3f}–{cpu_figures[-1]:.3f})" if len(runs) > 1 else ""
        results.extend(runs)
        label = f"{size:,}" if args.processes == 1 else f"{size:,} ({args.processes} × {size // args.processes:,})"
        print(
            f"| {label} | {r['rss_mib']:.0f} MiB | {r['kib_per_station']:.1f} | {r['cpu_cores'] * 100:.0f} % "
            f"| {r['calls_per_s']:,.0f} ({r['demand_per_s']:,.0f}) | {r['cpu_per_1000_calls']:.3f}{spread} "
            f"| {r['late_timer_p99_s'] * 1000:.0f} ms | {r['late_heartbeat_p99_s'] * 1000:.0f} ms "
            f"| {r['late_metervalues_p99_s'] * 1000:.0f} ms | {r['boot_all_s']:.1f} s | {r['errors']} "
            f"| {r['cpu_kernel_share']:.2f} | {r['csms_cpu_cores'] * 100:.0f} % |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
