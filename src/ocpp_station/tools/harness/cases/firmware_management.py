"""OCTT module 19 "Firmware Management" (OCTT document §2.18): TC_044_1_CS, TC_044_2_CS, TC_044_3_CS.

The firmware locations are the tester's (`<Configured firmware location>`, `<Configured invalid firmware
location>`), served by the harness's own FTP server unless the settings name them (`file_server.py`).

"[Before downloading the firmware the Charge Point MAY set all connectors to Unavailable]": StatusNotification
Unavailable is tolerated until the outcome, and whatever the station made Unavailable must be Available again
afterwards ("Expected result: ... Charge Point becomes Available again", TC_044_2; TC_044_3 step 13).
"""

from __future__ import annotations

import time

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Payload
from ocpp_station.tools.harness.case import FIRMWARE_MANAGEMENT, CaseContext, TestCase, check
from ocpp_station.tools.harness.csms import Expect, StationCall, Tolerance
from ocpp_station.tools.harness.file_server import harness_files
from ocpp_station.tools.harness.states import connector_ids

MODULE = "19 Firmware Management"
# TC_044_2 step 1, verbatim: a location nothing can be downloaded from.
DOWNLOAD_FAIL_LOCATION = "ftp://127.0.0.1:21/download_fail.fwi"


def _firmware_status(status: str) -> Expect:
    return Expect("FirmwareStatusNotification", {"status": status})


def _connector_status(*statuses: str) -> Expect:
    """A StatusNotification.req of any connector with one of `statuses`."""
    return Expect(
        "StatusNotification", lambda p: p["status"] in statuses, label=f"any connector, status {' or '.join(statuses)}"
    )


def _tolerating(ctx: CaseContext, *extra: Tolerance) -> tuple[Tolerance, ...]:
    # The connectors MAY be set Unavailable for the update, and made Available again when it failed.
    return (*ctx.settings.tolerated_actions, _connector_status("Unavailable", "Available"), *extra)


async def _update_firmware(ctx: CaseContext, location: str, **optional: int) -> None:
    """Step 1-2: UpdateFirmware.req (retrieveDate now: start at once); the .conf has no fields."""
    payload: Payload = {"location": location, "retrieveDate": iso_utc(time.time()), **optional}
    await ctx.csms.call_result("UpdateFirmware", payload)


async def _back_to_available(
    ctx: CaseContext, outcome: StationCall, connectors: list[int], *, tolerate: tuple[Tolerance, ...] | None = None
) -> None:
    """Every connector (and connectorId 0) the station reported other than Available up to the outcome
    notification must be reported Available again (any order)."""
    last: dict[int, str] = {}
    for item in ctx.csms.station_calls:
        if item.action == "StatusNotification":
            last[int(item.payload["connectorId"])] = str(item.payload["status"])
        if item is outcome:
            break
    pending = [n for n in (0, *connectors) if last.get(n, "Available") != "Available"]
    if pending:
        await ctx.csms.expect_unordered(
            [Expect("StatusNotification", {"connectorId": n, "status": "Available"}) for n in pending],
            tolerate=tolerate,
        )


async def tc_044_1(ctx: CaseContext) -> None:
    """TC_044_1_CS Firmware Update - Download and Install."""
    settings = ctx.settings
    csms = ctx.csms
    connectors = await connector_ids(ctx)
    async with harness_files(ctx) as files:
        # Step 1: "The firmware.location is <Firmware Download URL from test data>".
        await _update_firmware(ctx, files.firmware)
        tolerate = _tolerating(ctx)
        # Steps 3, 5, 7: Downloading, Downloaded, Installing, in this order.
        await csms.expect("FirmwareStatusNotification", {"status": "Downloading"}, tolerate=tolerate)
        await csms.expect("FirmwareStatusNotification", {"status": "Downloaded"}, tolerate=tolerate)
        await csms.expect("FirmwareStatusNotification", {"status": "Installing"}, tolerate=tolerate)
        # Steps 9, 11, 13 "can be in a different order": the reboot's BootNotification, StatusNotification
        # Available (per connector and connectorId 0, as after every boot), FirmwareStatusNotification Installed.
        boot, *_statuses, _installed = await csms.expect_unordered(
            [
                Expect("BootNotification"),
                *(Expect("StatusNotification", {"connectorId": n, "status": "Available"}) for n in (0, *connectors)),
                _firmware_status("Installed"),
            ],
            timeout=settings.connect_timeout + settings.message_timeout,
        )
        check(boot.response_payload["status"] == "Accepted", "the tool did not accept the BootNotification.req")
        if files.firmware_version is not None:
            # Harness addition ("Expected result: The Charge Point handles the firmware update correctly"): the
            # station runs the firmware the harness served, so it must report that version after the reboot.
            reported = boot.payload.get("firmwareVersion")
            check(
                reported == files.firmware_version,
                f"step 9: BootNotification.req firmwareVersion is {reported!r} after installing"
                f" {files.firmware_version!r}",
            )


async def tc_044_2(ctx: CaseContext) -> None:
    """TC_044_2_CS Firmware Update - Download Failed."""
    connectors = await connector_ids(ctx)
    # Step 1: "location is ftp://127.0.0.1:21/download_fail.fwi", "retries is 0".
    await _update_firmware(ctx, DOWNLOAD_FAIL_LOCATION, retries=0)
    # Step 3 (Downloading) "is optional, because the download may fail immediately"; step 5: DownloadFailed.
    failed = await ctx.csms.expect(
        "FirmwareStatusNotification",
        {"status": "DownloadFailed"},
        tolerate=_tolerating(ctx, _firmware_status("Downloading")),
    )
    # Expected result: "Old firmware remains active, Charge Point becomes Available again".
    await _back_to_available(ctx, failed, connectors)


async def tc_044_3(ctx: CaseContext) -> None:
    """TC_044_3_CS Firmware Update - Installation Failed."""
    settings = ctx.settings
    csms = ctx.csms
    connectors = await connector_ids(ctx)
    async with harness_files(ctx) as files:
        # Step 1: "location is <The location of a NOT supported file>".
        await _update_firmware(ctx, files.invalid_firmware)
        tolerate = _tolerating(ctx)
        await csms.expect("FirmwareStatusNotification", {"status": "Downloading"}, tolerate=tolerate)
        await csms.expect("FirmwareStatusNotification", {"status": "Downloaded"}, tolerate=tolerate)
        # Step 7 (Installing) is optional ("the installation may fail immediately"), so is step 9 (a reboot
        # with its BootNotification); steps 9 / 11 / 13 "can be in a different order".
        failed = await csms.expect(
            "FirmwareStatusNotification",
            {"status": "InstallationFailed"},
            tolerate=_tolerating(ctx, _firmware_status("Installing"), "BootNotification"),
            timeout=settings.connect_timeout + settings.message_timeout,
        )
        # Step 13: StatusNotification Available for what is not Available yet (the optional reboot may follow).
        await _back_to_available(ctx, failed, connectors, tolerate=(*settings.tolerated_actions, "BootNotification"))


CASES: tuple[TestCase, ...] = (
    TestCase("TC_044_1", "Firmware Update - Download and Install", FIRMWARE_MANAGEMENT, MODULE, "2.18.1", tc_044_1),
    TestCase("TC_044_2", "Firmware Update - Download Failed", FIRMWARE_MANAGEMENT, MODULE, "2.18.2", tc_044_2),
    TestCase("TC_044_3", "Firmware Update - Installation Failed", FIRMWARE_MANAGEMENT, MODULE, "2.18.3", tc_044_3),
)
