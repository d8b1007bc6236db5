"""`ocpp-station run | demo | certify | firmware-image | pki`: every failure the user can cause ends in one clear
line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import fields
from pathlib import Path

from ocpp_station.fleet.command import add_fleet_parser, run_fleet
from ocpp_station.service.sd_notify import SdNotifier, watchdog_interval
from ocpp_station.settings import SettingsError, load_settings
from ocpp_station.shell.api import ApiStartError, ControlApi, DictStationDirectory
from ocpp_station.shell.logs import configure_logging, station_trace_logger
from ocpp_station.shell.runtime import StationRuntime
from ocpp_station.station.ports import StoreError

# How long `run` waits for the first connection before calling the central system unreachable.
FIRST_CONNECT_TIMEOUT_S = 15.0
# On SIGTERM, how long queued messages (a StopTransaction, its statuses) may take to leave before power-off;
# well inside systemd's TimeoutStopSec (90 s by default).
SHUTDOWN_DRAIN_S = 10.0


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
    demo.add_argument(
        "--security-profile",
        type=int,
        choices=(0, 1, 2, 3),
        default=0,
        help="security whitepaper profile: 1 Basic auth, 2 TLS + Basic, 3 mutual TLS (a demo PKI is made)",
    )

    certify = sub.add_parser("certify", help="run the conformance harness and print the certificate table")
    certify.add_argument("-k", dest="pattern", help="only cases whose id or title matches")
    certify.add_argument("--junit", type=Path, help="also write JUnit XML here")

    add_fleet_parser(sub)

    image = sub.add_parser("firmware-image", help="make a firmware image the simulated station can install")
    image.add_argument("--version", required=True, help="the firmware version the station reports once installed")
    image.add_argument("-o", dest="output", required=True, type=Path, help="the image file to write")
    image.add_argument("--sign", type=Path, metavar="KEY", help="firmware signing key (PEM): sign the image (L01)")
    image.add_argument("--cert", type=Path, metavar="CERT", help="the signing key's certificate (PEM)")

    pki = sub.add_parser("pki", help="a demo PKI: CPO root, Central System and manufacturer certificates")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True)
    pki_init = pki_sub.add_parser("init", help="write a demo PKI into DIR (private keys owner-only)")
    pki_init.add_argument("directory", type=Path, metavar="DIR")
    pki_init.add_argument("--cpo-name", default="Demo CPO", help="organization of the CPO root (CpoName)")
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
    # Under systemd (Type=notify): READY=1 once serving, WATCHDOG=1 at half of WatchdogSec, STOPPING=1 at the end.
    notifier = SdNotifier.from_environment()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watchdog: asyncio.Task[None] | None = None
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
        interval = watchdog_interval()
        if interval is not None:
            watchdog = asyncio.create_task(notifier.keep_watchdog(interval))
        notifier.ready(f"station {args.charge_box_id}, control API on {api.base_url}")
        await stop.wait()
        logging.getLogger("ocpp_station").info("stopping: letting queued messages out, then power-off")
        notifier.stopping()
        await runtime.drain(SHUTDOWN_DRAIN_S)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await runtime.stop()
        await api.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _sign_image(image: Path, key: Path, certificate: Path) -> str:
    """`firmware-image --sign KEY --cert CERT`: the SignedUpdateFirmware.req firmware.signature, also written
    next to the image as IMAGE.sig (security whitepaper L01.FR.04: over the whole file, SHA-256)."""
    from ocpp_station.security.demo_pki import sign_firmware_image
    from ocpp_station.security.pki import PemError

    try:
        signed = sign_firmware_image(image, key, certificate)
    except (OSError, PemError) as exc:
        raise _Fatal(f"cannot sign {image}: {exc}") from None
    signature_file = image.with_name(image.name + ".sig")
    signature_file.write_text(signed.signature + "\n", encoding="ascii")
    return f"signed {image}: signature (base64) in {signature_file}; signingCertificate is {certificate}"


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
            asyncio.run(run_demo(args.api[0], args.api[1], args.data_dir, args.api_token, args.security_profile))
        elif args.command == "firmware-image":
            from ocpp_station.shell.firmware_image import make_image_file

            if (args.sign is None) != (args.cert is None):
                raise _Fatal("--sign KEY and --cert CERT go together")
            print(make_image_file(args.output, args.version))
            if args.sign is not None:
                print(_sign_image(args.output, args.sign, args.cert))
        elif args.command == "pki":
            from ocpp_station.security.demo_pki import init_demo_pki

            made = init_demo_pki(args.directory, cpo_name=args.cpo_name)
            print(f"wrote a demo PKI in {made.directory} (never use these keys in production):")
            for field in fields(made)[1:]:
                print(f"  {field.name:30} {getattr(made, field.name)}")
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
