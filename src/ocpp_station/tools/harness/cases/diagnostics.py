"""OCTT module 20 "Diagnostics" (OCTT document §2.19): TC_045_1_CS, TC_045_2_CS.

`<Configured log location>` is the tester's upload directory, served by the harness's own FTP server unless
the settings name one (`file_server.py`).
"""

from __future__ import annotations

from ocpp_station.tools.harness.case import FIRMWARE_MANAGEMENT, CaseContext, TestCase, check
from ocpp_station.tools.harness.file_server import harness_files

MODULE = "20 Diagnostics"
# TC_045_2 step 1, verbatim: a location nothing can be uploaded to.
UPLOAD_FAIL_LOCATION = "ftp://127.0.0.1:21/files/failedLocation"


async def tc_045_1(ctx: CaseContext) -> None:
    """TC_045_1_CS Get Diagnostics."""
    csms = ctx.csms
    async with harness_files(ctx) as files:
        # Step 1: "The location is <Configured log location>".
        reply = await csms.call_result("GetDiagnostics", {"location": files.log})
        # Step 3: Uploading; step 5: Uploaded.
        await csms.expect("DiagnosticsStatusNotification", {"status": "Uploading"}, triggered_by="GetDiagnostics")
        await csms.expect("DiagnosticsStatusNotification", {"status": "Uploaded"})
        if files.log_directory is not None:
            # Harness addition, the expected result: "The Charge Point has uploaded the diagnostics log to the
            # location that was sent in step 1" (under the fileName of the GetDiagnostics.conf, OCPP 1.6 §6.26).
            uploaded = sorted(path.name for path in files.log_directory.iterdir())
            name = reply.get("fileName")
            check(
                name in uploaded if name else bool(uploaded),
                f"the log location holds {uploaded}, expected the file {name!r} the GetDiagnostics.conf named",
            )


async def tc_045_2(ctx: CaseContext) -> None:
    """TC_045_2_CS Get Diagnostics - Upload Failed."""
    csms = ctx.csms
    # Step 1: "retries is 0", "location is ftp://127.0.0.1:21/files/failedLocation".
    await csms.call_result("GetDiagnostics", {"location": UPLOAD_FAIL_LOCATION, "retries": 0})
    # Step 3: Uploading; step 5: UploadFailed.
    await csms.expect("DiagnosticsStatusNotification", {"status": "Uploading"}, triggered_by="GetDiagnostics")
    await csms.expect("DiagnosticsStatusNotification", {"status": "UploadFailed"})


CASES: tuple[TestCase, ...] = (
    TestCase("TC_045_1", "Get Diagnostics", FIRMWARE_MANAGEMENT, MODULE, "2.19.1", tc_045_1),
    TestCase("TC_045_2", "Get Diagnostics - Upload Failed", FIRMWARE_MANAGEMENT, MODULE, "2.19.2", tc_045_2),
)
