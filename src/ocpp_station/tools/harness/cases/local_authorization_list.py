"""OCTT module 18 "Local Authorization List" (OCTT document §2.17): TC_042_1_CS, TC_042_2_CS, TC_043_CS,
TC_043_1_CS, TC_043_2_CS, TC_043_3_CS, TC_008_1_CS, TC_008_2_CS.

The document describes one TC_008_CS (§2.17.3, "Regular Start Charging Session – Id in Local Authorization
List") whose scenario starts the transaction with a RemoteStartTransaction; the tool's suite splits it into
TC_008_1 (local start) and TC_008_2 (remote start) (octt16-testcases.md §0.1). TC_008_2 is the document's
scenario verbatim; TC_008_1 is the same Before and steps 1-6 followed by the local start of the title: the
EV driver presents the listed idTag. In both the start must need no Authorize.req: the idTag is in the list,
LocalPreAuthorize is true, and AuthorizeRemoteTxRequests makes a remote start behave as a local one
(OCPP 1.6 §3.5, §5.11; OCTT TC_007, TC_008).
"""

from __future__ import annotations

from collections.abc import Sequence

from ocpp_station.protocol.rpc import CallError, ErrorCode, Payload
from ocpp_station.tools.harness.case import LOCAL_AUTH_LIST_MANAGEMENT, CaseContext, NotApplicable, TestCase, check
from ocpp_station.tools.harness.csms import CaseFailure
from ocpp_station.tools.harness.states import (
    ensure_configuration,
    parse_bool,
    read_key,
    status_or_call_error,
    transaction_started,
)

MODULE = "18 Local Authorization List"
PROFILE_NAME = "LocalAuthListManagement"  # as listed in SupportedFeatureProfiles (OCPP 1.6 §9.1.29)
# TC_043_1's station: this product without the Local Auth List Management profile (TestCase.config_overrides).
WITHOUT_LOCAL_LIST = (("SupportedFeatureProfiles", "Core,FirmwareManagement,Reservation,SmartCharging,RemoteTrigger"),)


def _entry(id_tag: str, status: str = "Accepted") -> Payload:
    return {"idTag": id_tag, "idTagInfo": {"status": status}}


async def send_local_list(
    ctx: CaseContext,
    version: int,
    update_type: str,
    entries: Sequence[Payload] | None = None,
    *,
    step: str,
) -> str:
    """SendLocalList.req (localAuthorizationList omitted when `entries` is None); the .conf status."""
    payload: Payload = {"listVersion": version, "updateType": update_type}
    if entries is not None:
        payload["localAuthorizationList"] = list(entries)
    reply = await ctx.csms.call("SendLocalList", payload)
    if isinstance(reply, CallError):
        raise CaseFailure(f"step {step}: SendLocalList.req was answered with CallError {reply.code}")
    return str(reply["status"])


async def local_list_version(ctx: CaseContext, *, step: str) -> int:
    reply = await ctx.csms.call("GetLocalListVersion", {})
    if isinstance(reply, CallError):
        raise CaseFailure(f"step {step}: GetLocalListVersion.req was answered with CallError {reply.code}")
    return int(reply["listVersion"])


async def supported_profiles(ctx: CaseContext) -> list[str]:
    kv = await read_key(ctx, "SupportedFeatureProfiles")
    check(kv is not None, "the station does not report SupportedFeatureProfiles (a required Core key)")
    assert kv is not None
    return [name.strip() for name in (kv.value or "").split(",") if name.strip()]


async def require_profile(ctx: CaseContext) -> None:
    """Prerequisite "The Charge Point supports the Local Auth List Management feature profile"."""
    profiles = await supported_profiles(ctx)
    if PROFILE_NAME not in profiles:
        raise NotApplicable(
            f"the station does not support {PROFILE_NAME} (SupportedFeatureProfiles {','.join(profiles)})"
        )


async def tc_042_1(ctx: CaseContext) -> None:
    """TC_042_1_CS Get Local List Version (not supported)."""
    # Configuration state: "LocalAuthListEnabled is false. (If implemented)".
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "false"}, if_implemented=True)
    # Steps 1-2: listVersion is -1, OR a CallError NotSupported.
    reply = await ctx.csms.call("GetLocalListVersion", {})
    if isinstance(reply, CallError):
        check(
            reply.code == ErrorCode.NOT_SUPPORTED,
            f"step 2: CallError {reply.code}, expected NotSupported (or listVersion -1)",
        )
        return
    check(reply["listVersion"] == -1, f"step 2: listVersion is {reply['listVersion']}, expected -1")


async def tc_042_2(ctx: CaseContext) -> None:
    """TC_042_2_CS Get Local List Version (empty)."""
    await require_profile(ctx)
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    # Steps 1-2: listVersion 1, localAuthorizationList omitted, updateType Full → Accepted.
    status = await send_local_list(ctx, 1, "Full", step="2")
    check(status == "Accepted", f"step 2: SendLocalList.conf status is {status}, expected Accepted")
    # Steps 3-4: an empty list reports version 0 (OCPP 1.6 §5.10).
    version = await local_list_version(ctx, step="4")
    check(version == 0, f"step 4: listVersion is {version}, expected 0 (the list is empty)")


async def tc_043(ctx: CaseContext) -> None:
    """TC_043_CS Send Local Authorization List: a Full, then a Differential update, both Accepted."""
    await require_profile(ctx)
    settings = ctx.settings
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    # Steps 1-2 (updateType Full).
    status = await send_local_list(ctx, 1, "Full", [_entry(settings.valid_id_tag)], step="2")
    check(status == "Accepted", f"step 2: SendLocalList.conf status is {status}, expected Accepted")
    # Steps 3-4 (UpdateType Differential; a newer version, OCPP 1.6 §7.47).
    status = await send_local_list(ctx, 2, "Differential", [_entry(settings.valid_id_tag_2)], step="4")
    check(status == "Accepted", f"step 4: SendLocalList.conf status is {status}, expected Accepted")


async def tc_043_1(ctx: CaseContext) -> None:
    """TC_043_1_CS Send Local Authorization List - NotSupported."""
    # Prerequisite: "The Charge Point does not support the Local Auth List Management feature profile": the
    # bench builds that variant (WITHOUT_LOCAL_LIST); checked, as the tool does, on the station's own
    # SupportedFeatureProfiles (OCPP 1.6 §3.5.2).
    profiles = await supported_profiles(ctx)
    if PROFILE_NAME in profiles:
        raise NotApplicable(
            f"the station supports {PROFILE_NAME} (SupportedFeatureProfiles {','.join(profiles)}); the case needs"
            " a station without it"
        )
    # Steps 1-2: updateType Full → status NotSupported, OR a CallError NotSupported.
    reply = await ctx.csms.call(
        "SendLocalList",
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [_entry(ctx.settings.valid_id_tag)]},
    )
    status_or_call_error(reply, step="2", status="NotSupported", error=ErrorCode.NOT_SUPPORTED)


async def tc_043_2(ctx: CaseContext) -> None:
    """TC_043_2_CS Send Local Authorization List - VersionMismatch."""
    await require_profile(ctx)
    settings = ctx.settings
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    # Steps 1-2: Full, listVersion 2 → Accepted. (With an entry: an empty list would report version 0.)
    status = await send_local_list(ctx, 2, "Full", [_entry(settings.valid_id_tag)], step="2")
    check(status == "Accepted", f"step 2: SendLocalList.conf status is {status}, expected Accepted")
    version = await local_list_version(ctx, step="4")
    check(version == 2, f"step 4: listVersion is {version}, expected 2")
    # Steps 5-8: Differential, listVersion 5 → Accepted; version 5.
    status = await send_local_list(ctx, 5, "Differential", [_entry(settings.valid_id_tag_2)], step="6")
    check(status == "Accepted", f"step 6: SendLocalList.conf status is {status}, expected Accepted")
    version = await local_list_version(ctx, step="8")
    check(version == 5, f"step 8: listVersion is {version}, expected 5")
    # Steps 9-12: Differential, listVersion 4 (older) → VersionMismatch; the version stays 5.
    status = await send_local_list(ctx, 4, "Differential", [_entry(settings.invalid_id_tag, "Invalid")], step="10")
    check(status == "VersionMismatch", f"step 10: SendLocalList.conf status is {status}, expected VersionMismatch")
    version = await local_list_version(ctx, step="12")
    check(version == 5, f"step 12: listVersion is {version}, expected 5")


async def tc_043_3(ctx: CaseContext) -> None:
    """TC_043_3_CS Send Local Authorization List - Failed."""
    await require_profile(ctx)
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    # Prerequisite: "The Charge Point is in a state in which it will fail to set a Local List" — the test
    # bench's storage fault (control API POST /api/local-list-failure).
    await ctx.control.set_local_list_failure(True)
    try:
        # Steps 1-2: updateType Full, listVersion 2 → Failed.
        status = await send_local_list(ctx, 2, "Full", [_entry(ctx.settings.valid_id_tag)], step="2")
        check(status == "Failed", f"step 2: SendLocalList.conf status is {status}, expected Failed")
    finally:
        await ctx.control.set_local_list_failure(False)


async def _before_008(ctx: CaseContext) -> None:
    """TC_008 prerequisite, configuration states and steps 1-4 (GetLocalListVersion, a Full list holding
    <Configured valid IdTag> with status Accepted)."""
    await require_profile(ctx)
    remote = await read_key(ctx, "AuthorizeRemoteTxRequests")
    check(remote is not None, "the station does not report AuthorizeRemoteTxRequests (a required Core key)")
    assert remote is not None
    if remote.readonly and not parse_bool(remote, "AuthorizeRemoteTxRequests"):
        raise NotApplicable("AuthorizeRemoteTxRequests is read-only and false (TC_008 prerequisite)")
    await ensure_configuration(ctx, {"LocalPreAuthorize": "true"})
    await ensure_configuration(ctx, {"AuthorizationCacheEnabled": "false"}, if_implemented=True)
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true", "AuthorizeRemoteTxRequests": "true"})
    # Steps 1-2.
    current = await local_list_version(ctx, step="2")
    # Steps 3-4 (the version is not prescribed; a newer one than the station's).
    status = await send_local_list(ctx, max(current, 0) + 1, "Full", [_entry(ctx.settings.valid_id_tag)], step="4")
    check(status == "Accepted", f"step 4: SendLocalList.conf status is {status}, expected Accepted")
    # [EV driver plugs in the cable.] Step 5: status is Preparing.
    connector = ctx.settings.connector_id
    await ctx.control.plug(connector)
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})


async def _started_without_authorize(ctx: CaseContext, triggered_by: str | None) -> None:
    """StartTransaction.req (answered Accepted) and StatusNotification Charging, in either order, and no
    Authorize.req before them (only Heartbeat and MeterValues are tolerated in between)."""
    connector = ctx.settings.connector_id
    tag = ctx.settings.valid_id_tag
    # Step 10: StartTransaction.conf idTagInfo.status is Accepted.
    await transaction_started(ctx, connector, tag, triggered_by=triggered_by)


async def tc_008_1(ctx: CaseContext) -> None:
    """TC_008_1_CS Regular Start Charging Session - Id in Local Authorization List (local start)."""
    await _before_008(ctx)
    # [EV driver presents identification.]: authorized from the list, no Authorize.req.
    await ctx.control.present_id_tag(ctx.settings.valid_id_tag, ctx.settings.connector_id)
    await _started_without_authorize(ctx, None)


async def tc_008_2(ctx: CaseContext) -> None:
    """TC_008_2_CS Remote Start Charging Session - Id in Local Authorization List (the document's TC_008_CS)."""
    await _before_008(ctx)
    # Steps 7-8: RemoteStartTransaction.conf status is Accepted.
    reply = await ctx.csms.call_result(
        "RemoteStartTransaction", {"connectorId": ctx.settings.connector_id, "idTag": ctx.settings.valid_id_tag}
    )
    check(reply["status"] == "Accepted", f"step 8: RemoteStartTransaction.conf status is {reply['status']}")
    # Steps 9-12.
    await _started_without_authorize(ctx, "RemoteStartTransaction")


_L = LOCAL_AUTH_LIST_MANAGEMENT
CASES: tuple[TestCase, ...] = (
    TestCase("TC_042_1", "Get Local List Version (not supported)", _L, MODULE, "2.17.1", tc_042_1),
    TestCase("TC_042_2", "Get Local List Version (empty)", _L, MODULE, "2.17.1", tc_042_2),
    TestCase("TC_043", "Send Local Authorization List", _L, MODULE, "2.17.2", tc_043),
    TestCase(
        "TC_043_1",
        "Send Local Authorization List - NotSupported",
        _L,
        MODULE,
        "2.17.2",
        tc_043_1,
        config_overrides=WITHOUT_LOCAL_LIST,
    ),
    TestCase("TC_043_2", "Send Local Authorization List - VersionMismatch", _L, MODULE, "2.17.2", tc_043_2),
    TestCase("TC_043_3", "Send Local Authorization List - Failed", _L, MODULE, "2.17.2", tc_043_3),
    TestCase(
        "TC_008_1", "Regular Start Charging Session - Id in Local Authorization List", _L, MODULE, "2.17.3", tc_008_1
    ),
    TestCase(
        "TC_008_2", "Remote Start Charging Session - Id in Local Authorization List", _L, MODULE, "2.17.3", tc_008_2
    ),
)
