"""`ocpp-station run | demo | certify`: every failure the user can cause ends in one clear line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from ocpp_station.fleet.command import add_fleet_parser, run_fleet
from ocpp_station.settings import SettingsError, load_settings
from ocpp_station.shell.api import ApiStartError, ControlApi, DictStationDirectory
from ocpp_station.shell.logs import configure_logging, station_trace_logger
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.station.ports import StoreError

# How long `run` waits for the first connection before calling the central system unreachable.
FIRST_CONNECT_TIMEOUT_S = 15.0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _csms_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"the central system URL must start with ws:// or wss://, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-station", description="An OCPP 1.6-J charging station.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a station against a central system")
    run.add_argument("--csms", required=True, type=_csms_url, help="central system URL, e.g. ws://host:9000/ocpp")
    run.add_argument("--id", required=True, dest="charge_box_id", help="chargeBoxId (the station's identity)")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="where the station's store lives")
    run.add_argument("--config", type=Path, help="station settings (TOML)")
    run.add_argument("--api", type=_host_port, default=("127.0.0.1", 8180), help="control API HOST:PORT")
    run.add_argument("--api-token", help="token the control API and panel require (needed beyond 127.0.0.1)")
    run.add_argument(
        "--keep-trying",
        action="store_true",
        help="start even if the central system cannot be reached (the station works offline meanwhile)",
    )
    run.add_argument("--log-json", action="store_true", help="log one JSON object per line (frames: <id>.trace.log)")

    demo = sub.add_parser("demo", help="a station against an embedded central system, with the control API")
    demo.add_argument("--api", type=_host_port, default=("127.0.0.1", 8180), help="control API HOST:PORT")
    demo.add_argument("--data-dir", type=Path, help="keep the demo station's store here (default: a temp dir)")
    demo.add_argument("--api-token", help="token the control API and panel require (needed beyond 127.0.0.1)")

    certify = sub.add_parser("certify", help="run the conformance harness and print the certificate table")
    certify.add_argument("-k", dest="pattern", help="only cases whose id or title matches")
    certify.add_argument("--junit", type=Path, help="also write JUnit XML here")

    add_fleet_parser(sub)

    image = sub.add_parser("firmware-image", help="make a firmware image the simulated station can install")
    image.add_argument("--version", required=True, help="the firmware version the station reports once installed")
    image.add_argument("-o", dest="output", required=True, type=Path, help="the image file to write")
    return parser


class _Fatal(Exception):
    pass


async def _run(args: argparse.Namespace) -> None:
    settings = load_settings(args.config)
    runtime = StationRuntime(
        csms_url=args.csms,
        charge_box_id=args.charge_box_id,
        data_dir=args.data_dir,
        settings=settings,
        trace=station_trace_logger(args.data_dir, args.charge_box_id),  # <data-dir>/<id>.trace.log, rotated
    )
    directory = DictStationDirectory()
    api = ControlApi(directory, token=args.api_token or settings.network.api_token)
    await api.start(*args.api)
    try:
        api.telemetry.watch(runtime)  # before start: the panel and /metrics see the boot too
        await runtime.start()
        directory.add(runtime)
        if not args.keep_trying:
            error = await runtime.wait_first_connection(FIRST_CONNECT_TIMEOUT_S)
            if error is not None:
                raise _Fatal(f"cannot reach the central system at {args.csms}: {error}")
        logging.getLogger("ocpp_station").info("control API on %s", api.base_url)
        await asyncio.Event().wait()
    finally:
        await runtime.stop()
        await api.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_handler = configure_logging(json_lines=getattr(args, "log_json", False))  # secrets redacted (logs.py)
    try:
        if args.command == "run":
            asyncio.run(_run(args))
        elif args.command == "fleet":
            return run_fleet(args)
        elif args.command == "demo":
            # Each subcommand imports what only it needs, so that `run` on a charger starts without the harness
            # or the demo central system (a start-up cost, not an import cycle).
            from ocpp_station.shell.demo import run_demo

            logging.getLogger("ocpp_station.trace").setLevel(logging.WARNING)
            asyncio.run(run_demo(args.api[0], args.api[1], args.data_dir, args.api_token))
        elif args.command == "firmware-image":
            from ocpp_station.shell.firmware_image import make_image_file

            print(make_image_file(args.output, args.version))
        else:
            from ocpp_station.tools.harness.runner import certify

            logging.getLogger().setLevel(logging.WARNING)
            return asyncio.run(certify(args.pattern, args.junit, sys.stdout))
    except KeyboardInterrupt:
        return 0
    except (SettingsError, StoreError, ApiStartError, _Fatal, ValueError) as exc:
        print(f"ocpp-station: {exc}", file=sys.stderr)
        return 2
    finally:
        logging.getLogger().removeHandler(log_handler)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
