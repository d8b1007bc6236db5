"""`ocpp-station fleet`: N stations against one central system; bad input → one line and exit 2.

`--processes P` runs P shards of this command as child processes (one per core) and merges their reports;
`--shard I/N` runs shard I of N (its station ids disjoint from the other shards'), e.g. one pod of a
Kubernetes Indexed Job (deploy/kubernetes/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from ocpp_station.fleet.endpoints import FleetInputError
from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.progress import Progress
from ocpp_station.fleet.report import merge_documents, print_report, report_document
from ocpp_station.fleet.scenario import ScenarioError, load_scenario
from ocpp_station.fleet.web import fleet_app, metrics_app, serve
from ocpp_station.security.demo_pki import CertificateAuthority, load_authority
from ocpp_station.settings import SettingsError, load_settings
from ocpp_station.station.ports import StoreError, StoreWriteError
from ocpp_station.stores.shared_sqlite import SharedSqliteDatabase
from ocpp_station.stores.sqlite import SqliteStationStore

# File descriptors a fleet process needs besides one per station (the loop, servers, logs, the CSMS lookups).
FD_RESERVE = 64
# How long the fleet waits for a first connection before calling the central system unreachable.
FIRST_CONNECT_TIMEOUT_S = 15.0
WATCH_INTERVAL_S = 2.0  # how often the command looks at the fleet: its deadlines, its progress line


class FleetExit(Exception):
    """Ends the command with one line on stderr and exit status 2."""


def _shard(text: str) -> tuple[int, int]:
    index, sep, total = text.partition("/")
    if not sep or not index.isdigit() or not total.isdigit() or not 0 <= int(index) < int(total):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return int(index), int(total)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def add_fleet_parser(sub: Any) -> None:
    p = sub.add_parser("fleet", help="run a fleet of stations against a central system (load tests)")
    p.add_argument("--csms", required=True, help="central system URL, e.g. ws://host:9000/ocpp")
    p.add_argument("--count", required=True, type=int, help="stations in the whole fleet (all shards)")
    p.add_argument("--id-pattern", default="CP-{n:05d}", help="chargeBoxId of station n (1..count)")
    p.add_argument("--config", type=Path, help="station settings (TOML), the same for every station")
    p.add_argument("--scenario", type=Path, help="scenario (TOML), e.g. scenarios/bench.toml")
    p.add_argument("--seed", type=int, help="seed of every random draw (default: the scenario's, else 1)")
    p.add_argument("--ramp", type=float, default=200.0, help="stations connecting per second (default 200)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--processes", type=int, default=1, help="shards run as child processes, one per core")
    p.add_argument("--shard", type=_shard, help="run shard I of N (I/N; default: JOB_COMPLETION_INDEX/FLEET_SHARDS)")
    p.add_argument(
        "--api",
        type=_host_port,
        help="control API HOST:PORT (every station, plus /api/fleet/summary and /api/fleet/network)",
    )
    p.add_argument("--metrics", type=_host_port, help="Prometheus /metrics HOST:PORT")
    p.add_argument("--report", type=Path, help="write the end report as JSON here")
    p.add_argument(
        "--store",
        choices=("memory", "sqlite"),
        default="memory",
        help="where stations keep their state: memory (default) or one SQLite file for the process, "
        "committed in groups (a crash loses at most the last ~50 ms)",
    )
    p.add_argument(
        "--store-path",
        type=Path,
        default=Path("fleet-store.sqlite"),
        help="the SQLite file of --store sqlite (default fleet-store.sqlite; shard I of N adds -I to its name)",
    )
    p.add_argument(
        "--central-system-root",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="a CentralSystemRootCertificate installed in every station before its first boot (security profiles "
        "2 and 3; repeatable)",
    )
    p.add_argument(
        "--enrol-ca",
        type=Path,
        nargs=2,
        metavar=("CERT", "KEY"),
        help="a CA (certificate and key, PEM) that signs each station a first Charge Point certificate "
        "(security profile 3; e.g. `ocpp-station pki init`'s central_system_root.pem and .key)",
    )
    p.add_argument(
        "--trace-mib",
        type=float,
        default=0.0,
        metavar="MIB",
        help="keep the last MIB MiB of frames of the process's stations, for their GetDiagnostics archives "
        "(default 0: no trace)",
    )
    p.add_argument(
        "--log-level",
        choices=("error", "warning", "info", "debug"),
        default="warning",
        help="the console log (default warning: at info every station logs, e.g. a security event per boot)",
    )
    p.add_argument("--keep-trying", action="store_true", help="keep going while the central system is unreachable")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def check_fd_limit(stations: int) -> None:
    """One socket per station: raise the soft limit if the hard one allows, else say what to do."""
    need = stations + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return
    raise FleetExit(
        f"{stations} stations need {need} file descriptors but `ulimit -n` allows {soft} (hard limit {hard}): "
        f"raise it (ulimit -n {need}, or LimitNOFILE= / the container's nofile ulimit) or split the fleet "
        f"with --shard I/N across hosts"
    )


def _validate(args: argparse.Namespace) -> list[str]:
    if args.shard is None:
        from_env = env_shard()
        try:
            args.shard = (0, 1) if from_env is None else _shard(from_env)
        except argparse.ArgumentTypeError as exc:
            raise FleetExit(f"JOB_COMPLETION_INDEX/FLEET_SHARDS: {exc}") from None
    if args.ramp <= 0:
        raise FleetExit(f"--ramp {args.ramp:g}: must be > 0 stations per second")
    if args.duration < 0:
        raise FleetExit(f"--duration {args.duration:g}: must be >= 0 (0 = until Ctrl-C)")
    if args.processes < 1:
        raise FleetExit(f"--processes {args.processes}: must be >= 1")
    if args.processes > 1 and args.shard != (0, 1):
        raise FleetExit("--processes and --shard cannot be combined: give each process its own --shard instead")
    if args.trace_mib < 0:
        raise FleetExit(f"--trace-mib {args.trace_mib:g}: must be >= 0 (0 = no trace)")
    if not args.csms.startswith(("ws://", "wss://")):
        raise FleetExit(f"--csms {args.csms!r}: the central system URL must start with ws:// or wss://")
    return station_ids(args.id_pattern, args.count, args.shard)


def run_fleet(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    # Ten thousand stations each log their boot at info: the console keeps the warnings unless asked.
    logging.getLogger().setLevel(args.log_level.upper())
    try:
        ids = _validate(args)
        settings = load_settings(args.config)
        scenario = load_scenario(args.scenario)
        if args.processes > 1:
            return _run_processes(args, out)
        check_fd_limit(len(ids))
        seed = args.seed if args.seed is not None else (scenario.seed if scenario.seed is not None else 1)
        roots, authority = _manufacturing(args)
        options = FleetOptions(
            csms_url=args.csms,
            ids=ids,
            settings=settings,
            scenario=scenario,
            seed=seed,
            ramp_per_s=args.ramp,
            freeze_gc=True,
            central_system_roots=roots,
            enrol_authority=authority,
            trace_bytes=int(args.trace_mib * 2**20),
        )
        database = None
        if args.store == "sqlite":
            database_path = store_path(args.store_path, args.shard)
            database = SharedSqliteDatabase(database_path)
            # Firmware Management's work files next to the process's store (else in a temporary directory), and the
            # stations' key pairs and certificates, which then outlive the process as the store does.
            options = replace(
                on_shared_sqlite(options, database),
                files_dir=database_path.with_suffix(".files"),
                keys_dir=database_path.with_suffix(".keys"),  # key pairs are never written into the store
            )
        try:
            doc = asyncio.run(_run(options, args, out))
        finally:
            if database is not None:
                database.close()
    except (FleetInputError, ScenarioError, SettingsError, StoreError, StoreWriteError, FleetExit, ValueError) as exc:
        print(f"ocpp-station fleet: {exc}", file=sys.stderr)
        return 2
    print_report(doc, out)
    if args.report is not None:
        args.report.write_text(json.dumps(doc, indent=1))
    return 0


def _manufacturing(args: argparse.Namespace) -> tuple[tuple[str, ...], CertificateAuthority | None]:
    """The roots and the enrolling CA of --central-system-root / --enrol-ca, read and parsed before any station is
    built. A root the stations refuse (expired, not a CA) stops the command as the first station is built: the
    installation's ValueError, one line and exit 2."""
    roots = []
    for path in args.central_system_root:
        try:
            pem = path.read_text(encoding="ascii")
            x509.load_pem_x509_certificate(pem.encode())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise FleetExit(f"--central-system-root {path}: not a readable PEM certificate ({exc})") from None
        roots.append(pem)
    if args.enrol_ca is None:
        return tuple(roots), None
    certificate, key = args.enrol_ca
    try:
        return tuple(roots), load_authority(certificate, key)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise FleetExit(f"--enrol-ca {certificate} {key}: not a usable CA certificate and key ({exc})") from None


async def _run(options: FleetOptions, args: argparse.Namespace, out: IO[str]) -> dict[str, Any]:
    fleet = Fleet(options)
    runners = []
    try:
        if args.api is not None:
            runner, port = await serve(fleet_app(fleet), *args.api)
            runners.append(runner)
            print(f"control API on http://{args.api[0]}:{port}/api/stations", file=sys.stderr)
        if args.metrics is not None:
            runner, port = await serve(metrics_app(fleet), *args.metrics)
            runners.append(runner)
            print(f"metrics on http://{args.metrics[0]}:{port}/metrics", file=sys.stderr)
    except OSError as exc:
        for runner in runners:
            await runner.cleanup()
        raise FleetExit(f"cannot listen: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    fleet.start()
    started = time.monotonic()
    progress = None
    if not args.quiet:
        stats = fleet.stats
        progress = Progress(
            sys.stderr,
            started,
            lambda: fleet.counts(queued=False),
            fleet.messages,
            lambda: sum(stats.errors.values()),
        )
    try:
        await _watch(fleet, args, stop, started, progress)
    finally:
        fleet.stop()
        for runner in runners:
            await runner.cleanup()
        if progress is not None:
            progress.finish()
    return report_document(fleet.stats, fleet.counts(), time.monotonic() - started)


async def _watch(
    fleet: Fleet, args: argparse.Namespace, stop: asyncio.Event, started: float, progress: Progress | None
) -> None:
    ramp_s = len(fleet.drivers) / args.ramp
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCH_INTERVAL_S)
        now = time.monotonic()
        if not args.keep_trying and fleet.stats.connects == 0 and now - started > ramp_s + FIRST_CONNECT_TIMEOUT_S:
            raise FleetExit(f"cannot reach the central system at {args.csms}: {fleet.last_error or 'no answer'}")
        if progress is not None:
            progress.update(now)
        if args.duration and now - started >= args.duration:
            return


def _run_processes(args: argparse.Namespace, out: IO[str]) -> int:
    """P shards as child processes of this command; their JSON reports merged into one."""
    with tempfile.TemporaryDirectory(prefix="ocpp-fleet-") as tmp:
        children: list[tuple[subprocess.Popen[bytes], Path]] = []
        for index in range(args.processes):
            report = Path(tmp) / f"shard-{index}.json"
            argv = [sys.executable, "-m", "ocpp_station", "fleet", "--csms", args.csms, "--count", str(args.count)]
            argv += ["--id-pattern", args.id_pattern, "--shard", f"{index}/{args.processes}", "--report", str(report)]
            argv += ["--ramp", str(args.ramp / args.processes), "--duration", str(args.duration), "--quiet"]
            for flag, value in (("--config", args.config), ("--scenario", args.scenario), ("--seed", args.seed)):
                if value is not None:
                    argv += [flag, str(value)]
            if args.keep_trying:
                argv.append("--keep-trying")
            for root in args.central_system_root:
                argv += ["--central-system-root", str(root)]
            if args.enrol_ca is not None:
                argv += ["--enrol-ca", *(str(path) for path in args.enrol_ca)]
            argv += ["--store", args.store, "--store-path", str(args.store_path), "--trace-mib", str(args.trace_mib)]
            argv += ["--log-level", args.log_level]
            children.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL), report))
        try:
            codes = [child.wait() for child, _ in children]
        except KeyboardInterrupt:
            for child, _ in children:
                child.send_signal(signal.SIGINT)
            codes = [child.wait() for child, _ in children]
        documents = [json.loads(report.read_text()) for _, report in children if report.exists()]
    if not documents:
        return max(codes)
    doc = merge_documents(documents)
    print_report(doc, out)
    if args.report is not None:
        args.report.write_text(json.dumps(doc, indent=1))
    return max(codes)


def on_shared_sqlite(options: FleetOptions, database: SharedSqliteDatabase) -> FleetOptions:
    """The fleet's stations on one shared SQLite database, committed from the fleet's timers."""
    return replace(
        options,
        store_factory=lambda charge_box_id: SqliteStationStore(database, charge_box_id),
        store_flush=database.flush,
        store_forget=database.forget,
    )


def store_path(path: Path, shard: tuple[int, int]) -> Path:
    """One database per fleet process: shard I of N (N > 1) gets its own file, NAME-I.EXT."""
    index, total = shard
    return path if total == 1 else path.with_name(f"{path.stem}-{index}{path.suffix}")


def env_shard() -> str | None:
    """The shard of a Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX of FLEET_SHARDS (deploy/kubernetes/)."""
    index, total = os.environ.get("JOB_COMPLETION_INDEX"), os.environ.get("FLEET_SHARDS")
    return None if index is None or total is None else f"{index}/{total}"
