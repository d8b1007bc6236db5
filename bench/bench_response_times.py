"""The performance figures an OCPP 1.6 certificate prints, measured on loopback against a real station.

The station is a separate process (`python -m ocpp_station run`, its own event loop, the certified default
configuration except MeterValueSampleInterval=0 so that no periodic message interleaves); the central system
is the harness's `ScriptedCsms` (every frame schema-checked). Measured, as the certificate defines them
(octt16-testcases.md §9):

* Response time for RemoteStartTransaction: RemoteStartTransaction.req sent → its CallResult received, over
  remote start / remote stop cycles on connector 1 (cable in);
* OCPP response time: request sent → CallResult/CallError received, for every CS→CP call type;
* OCPP triggered-function time: request sent → the Charge Point message it causes received
  (RemoteStartTransaction → StartTransaction, RemoteStopTransaction → StopTransaction, TriggerMessage → the
  requested message, ChangeAvailability → StatusNotification, ReserveNow / CancelReservation →
  StatusNotification, Reset → BootNotification).

`--security-profile 3` runs the same over mutual TLS (security whitepaper profile 3): the ScriptedCsms serves
wss:// with a demo PKI (EC P-256) and asks for the client certificate; the station is provisioned with the
CentralSystemRootCertificate and a Charge Point certificate before it starts (`shell.provisioning`).

Run: .venv/bin/python bench/bench_response_times.py [--calls 200] [--resets 20] [--no-authorize-remote]
     [--security-profile 0|3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from ocpp_station.clock import iso_utc
from ocpp_station.shell.provisioning import enrol, install_roots
from ocpp_station.tools.harness.crash_safety import StationProcess
from ocpp_station.tools.harness.csms import ScriptedCsms, TimingRecord, Where
from ocpp_station.tools.harness.pki import CPO_NAME, HarnessPki, Tls
from ocpp_station.tools.harness.report import percentile
from ocpp_station.tools.harness.settings import HarnessSettings

CHARGE_BOX_ID = "BENCH-CP-1"
# What the station may send in between; an expectation skips these unless it waits for one of them.
NOISE = (
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
    "Authorize",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "SecurityEventNotification",
)
CONFIG = """\
[configuration]
MeterValueSampleInterval = 0
AuthorizeRemoteTxRequests = {authorize_remote}
"""


async def _boot(csms: ScriptedCsms, *, triggered_by: str | None = None) -> None:
    await csms.expect("BootNotification", timeout=30, tolerate=NOISE, triggered_by=triggered_by)
    for connector_id in (0, 1, 2):
        await csms.expect("StatusNotification", {"connectorId": connector_id}, tolerate=NOISE)


async def _remote_cycles(csms: ScriptedCsms, station: StationProcess, cycles: int, tag: str) -> None:
    """RemoteStart → StartTransaction → RemoteStop → StopTransaction on connector 1, cable left in."""
    await station.act("plug", 1)
    for _ in range(cycles):
        await csms.call_result("RemoteStartTransaction", {"connectorId": 1, "idTag": tag})
        start = await csms.expect("StartTransaction", tolerate=NOISE, triggered_by="RemoteStartTransaction")
        tid = start.response_payload["transactionId"]
        await csms.call_result("RemoteStopTransaction", {"transactionId": tid})
        await csms.expect(
            "StopTransaction", {"transactionId": tid}, tolerate=NOISE, triggered_by="RemoteStopTransaction"
        )


async def _simple_calls(csms: ScriptedCsms, calls: int, tag: str) -> None:
    """Every other CS→CP call type, `calls` times each (ChangeAvailability, ReserveNow / CancelReservation and
    TriggerMessage also wait for the message they cause)."""
    ids = itertools.count(1)
    for n in range(calls):
        inoperative = n % 2 == 0
        await csms.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative" if inoperative else "Operative"})
        status = "Unavailable" if inoperative else "Available"
        await csms.expect(
            "StatusNotification",
            {"connectorId": 2, "status": status},
            tolerate=NOISE,
            triggered_by="ChangeAvailability",
        )
    if calls % 2:
        await csms.call("ChangeAvailability", {"connectorId": 2, "type": "Operative"})
    for n in range(calls):
        await csms.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": str(3600 + n % 2)})
        await csms.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        await csms.call("ClearCache", {})
        await csms.call("DataTransfer", {"vendorId": "bench", "messageId": "ping"})
        await csms.call("UnlockConnector", {"connectorId": 2})
        await csms.call("GetLocalListVersion", {})
        version = next(ids)
        await csms.call(
            "SendLocalList",
            {
                "listVersion": version,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": tag, "idTagInfo": {"status": "Accepted"}}],
            },
        )
        profile = {
            "chargingProfileId": 100,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": iso_utc(time.time()),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": Decimal("32.0")}],
            },
        }
        await csms.call("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile})
        await csms.call("GetCompositeSchedule", {"connectorId": 1, "duration": 3600})
        await csms.call("ClearChargingProfile", {"id": 100})
        reservation = next(ids)
        expiry = iso_utc(time.time() + 3600)
        await csms.call(
            "ReserveNow", {"connectorId": 2, "expiryDate": expiry, "idTag": tag, "reservationId": reservation}
        )
        await csms.expect(
            "StatusNotification", {"connectorId": 2, "status": "Reserved"}, tolerate=NOISE, triggered_by="ReserveNow"
        )
        await csms.call("CancelReservation", {"reservationId": reservation})
        await csms.expect(
            "StatusNotification",
            {"connectorId": 2, "status": "Available"},
            tolerate=NOISE,
            triggered_by="CancelReservation",
        )
    triggered: tuple[tuple[str, dict[str, object], Where], ...] = (
        ("Heartbeat", {}, None),
        ("StatusNotification", {"connectorId": 1}, {"connectorId": 1}),
        ("MeterValues", {"connectorId": 1}, {"connectorId": 1}),
        ("DiagnosticsStatusNotification", {}, None),
        ("FirmwareStatusNotification", {}, None),
    )
    for _ in range(calls):
        for message, extra, where in triggered:
            await csms.call_result("TriggerMessage", {"requestedMessage": message, **extra})
            await csms.expect(message, where, tolerate=NOISE, triggered_by="TriggerMessage")
        await csms.call("TriggerMessage", {"requestedMessage": "BootNotification"})  # Rejected once Accepted


async def _file_jobs(csms: ScriptedCsms, calls: int) -> None:
    """GetDiagnostics / UpdateFirmware to a closed port: the response is what is timed here."""
    for _ in range(calls):
        await csms.call("GetDiagnostics", {"location": "ftp://127.0.0.1:9/upload", "retries": 0})
        await csms.call(
            "UpdateFirmware",
            {"location": "http://127.0.0.1:9/firmware.bin", "retrieveDate": iso_utc(time.time()), "retries": 0},
        )
        await asyncio.sleep(0.05)


async def _resets(csms: ScriptedCsms, resets: int) -> None:
    for n in range(resets):
        await csms.call_result("Reset", {"type": "Soft" if n % 2 else "Hard"})
        await _boot(csms, triggered_by="Reset")


def _row(title: str, values: Sequence[float], limit: str) -> list[str]:
    if not values:
        return [title, "0", "-", "-", "-", "-", limit]
    ms = [1000 * v for v in values]
    return [
        title,
        str(len(ms)),
        f"{percentile(ms, 0.50):.2f}",
        f"{percentile(ms, 0.99):.2f}",
        f"{statistics.fmean(ms):.2f}",
        f"{max(ms):.2f}",
        limit,
    ]


def _table(rows: Sequence[Sequence[str]]) -> str:
    header = ["Measurement", "n", "p50 ms", "p99 ms", "mean ms", "max ms", "certificate limit"]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join(lines)


def render(timings: Sequence[TimingRecord], settings: HarnessSettings) -> str:
    responses: dict[str, list[float]] = defaultdict(list)
    triggered: dict[str, list[float]] = defaultdict(list)
    for t in timings:
        if t.kind == "response":
            responses[t.request].append(t.seconds)
        else:
            triggered[f"{t.request} → {t.result}"].append(t.seconds)
    remote = [
        t.seconds
        for t in timings
        if t.kind == "response" and t.request == "RemoteStartTransaction" and t.result == "CallResult"
    ]
    head = [
        _row(
            "Response time for RemoteStartTransaction (request → CallResult)",
            remote,
            f"{settings.remote_start_limit:g} s",
        )
    ]
    per_call = [_row(f"  {action}", values, "") for action, values in sorted(responses.items())]
    every = [t.seconds for t in timings if t.kind == "response"]
    per_trigger = [_row(f"  {what}", values, "") for what, values in sorted(triggered.items())]
    all_triggered = [t.seconds for t in timings if t.kind == "triggered"]
    return "\n\n".join(
        [
            _table(head),
            "OCPP response time (request sent → CallResult / CallError received), per CS→CP call",
            _table([*per_call, _row("all CS→CP calls", every, f"{settings.response_time_limit:g} s")]),
            "OCPP triggered-function time (request sent → the Charge Point message it causes received)",
            _table([*per_trigger, _row("all", all_triggered, f"{settings.triggered_time_limit:g} s")]),
        ]
    )


async def bench(
    calls: int, resets: int, file_jobs: int, authorize_remote: bool, workdir: Path, security_profile: int = 0
) -> str:
    settings = HarnessSettings(charge_box_id=CHARGE_BOX_ID, heartbeat_interval=3600, response_timeout=30.0)
    config = workdir / "station.toml"
    text = CONFIG.format(authorize_remote="true" if authorize_remote else "false")
    context = None
    if security_profile == 3:
        pki = HarnessPki.create(workdir / "pki")
        context = pki.server_context(Tls.MUTUAL)
        install_roots(workdir / "data", CHARGE_BOX_ID, central_system_roots=[pki.cpo.pem])
        enrol(workdir / "data", CHARGE_BOX_ID, pki.cpo, serial_number="BENCH-0001", cpo_name=CPO_NAME)
        text += f'SecurityProfile = 3\nCpoName = "{CPO_NAME}"\n'
    config.write_text(text)
    csms = ScriptedCsms(settings, ssl_context=context)
    await csms.start()
    station = StationProcess(csms.url, workdir / "data", config, workdir / "station.log", CHARGE_BOX_ID)
    try:
        await station.start()
        await _boot(csms)
        csms.timings.clear()  # nothing of the start-up counts
        tag = settings.valid_id_tag
        await _remote_cycles(csms, station, calls, tag)
        await _simple_calls(csms, calls, tag)
        await _file_jobs(csms, file_jobs)
        await _resets(csms, resets)
        csms.raise_if_violations()
    finally:
        await station.kill()
        await csms.stop()
    return render(csms.timings, settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per call type (and remote start cycles)")
    parser.add_argument("--resets", type=int, default=20, help="Reset.req (Hard and Soft alternately)")
    parser.add_argument("--file-jobs", type=int, default=20, help="GetDiagnostics and UpdateFirmware each")
    parser.add_argument(
        "--no-authorize-remote", action="store_true", help="AuthorizeRemoteTxRequests=false (no Authorize round trip)"
    )
    parser.add_argument("--security-profile", type=int, choices=(0, 3), default=0, help="3: over mutual TLS")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-response-") as workdir:
        table = asyncio.run(
            bench(
                args.calls,
                args.resets,
                args.file_jobs,
                not args.no_authorize_remote,
                Path(workdir),
                args.security_profile,
            )
        )
    print(
        f"Loopback, security profile {args.security_profile}"
        f" ({'mutual TLS, wss://' if args.security_profile == 3 else 'ws://'}),"
        f" station process `python -m ocpp_station run` vs. ScriptedCsms; {args.calls} calls per type,"
        f" {args.resets} resets, AuthorizeRemoteTxRequests={'false' if args.no_authorize_remote else 'true'};"
        f" {time.monotonic() - started:.0f} s\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
