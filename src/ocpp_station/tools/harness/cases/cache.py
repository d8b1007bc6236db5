"""OCTT module 04 "Cache" (OCTT document §2.4): TC_007_1_CS, TC_007_2_CS, TC_061_1_CS, TC_061_2_CS.

The tool splits each document case in a local (_1: the EV driver presents identification) and a remote
(_2: RemoteStartTransaction) flavour. The document's TC_007_CS is the remote one (TC_007_2); TC_007_1 is
the same scenario with the identification presented at the Charge Point (as its Central System mirror,
TC_007_CSMS, runs it). The document's TC_061_CS is the local one (TC_061_1); TC_061_2 puts the idTag in
the cache and uses it again with RemoteStartTransaction, AuthorizeRemoteTxRequests being true.
"""

from __future__ import annotations

from ocpp_station.tools.harness.case import CORE, CaseContext, NotApplicable, TestCase, check
from ocpp_station.tools.harness.csms import StationCall
from ocpp_station.tools.harness.states import (
    authorized,
    ensure_configuration,
    id_tag_cached,
    read_key,
    transaction_started,
)

MODULE = "04 Cache"


async def _cache_prerequisite(ctx: CaseContext) -> None:
    """'The Charge Point has an authorization cache (implemented)': it reports AuthorizationCacheEnabled."""
    if await read_key(ctx, "AuthorizationCacheEnabled") is None:
        raise NotApplicable("the Charge Point has no authorization cache (AuthorizationCacheEnabled unknown)")


async def _cached_id_before(ctx: CaseContext) -> None:
    """TC_007 'Before': the cache prerequisites, the configuration states and memory state IdTagCached."""
    await _cache_prerequisite(ctx)
    remote = await read_key(ctx, "AuthorizeRemoteTxRequests")
    if remote is not None and remote.readonly and (remote.value or "").strip().lower() == "false":
        raise NotApplicable("AuthorizeRemoteTxRequests is read-only false")
    await ensure_configuration(ctx, {"AuthorizationCacheEnabled": "true"})
    await ensure_configuration(ctx, {"AuthorizeRemoteTxRequests": "true"}, if_implemented=True)
    await ensure_configuration(ctx, {"LocalPreAuthorize": "true"})
    await id_tag_cached(ctx)


async def _plug_in(ctx: CaseContext) -> None:
    """[EV driver plugs in the cable] Step 1: status is Preparing."""
    connector = ctx.settings.connector_id
    await ctx.control.plug(connector)
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})


async def _started_from_cache(ctx: CaseContext, triggered_by: str | None = None) -> None:
    """Steps 5 and 7 (may be reversed): StartTransaction.req and StatusNotification(Charging), with no
    Authorize.req before them: the idTag comes from the cache (LocalPreAuthorize)."""
    settings = ctx.settings
    connector = settings.connector_id
    # Step 6: StartTransaction.conf idTagInfo.status is Accepted.
    await transaction_started(ctx, connector, settings.valid_id_tag, triggered_by=triggered_by)


async def tc_007_1(ctx: CaseContext) -> None:
    """TC_007_1_CS Regular Start Charging Session – Cached Id (the idTag presented locally)."""
    await _cached_id_before(ctx)
    await _plug_in(ctx)
    # [EV driver presents identification.]
    await ctx.control.present_id_tag(ctx.settings.valid_id_tag, ctx.settings.connector_id)
    await _started_from_cache(ctx)


async def tc_007_2(ctx: CaseContext) -> None:
    """TC_007_2_CS Regular Start Charging Session – Cached Id (RemoteStartTransaction: document TC_007_CS)."""
    settings = ctx.settings
    await _cached_id_before(ctx)
    await _plug_in(ctx)
    # Steps 3-4: RemoteStartTransaction.conf status is Accepted.
    reply = await ctx.csms.call_result(
        "RemoteStartTransaction", {"connectorId": settings.connector_id, "idTag": settings.valid_id_tag}
    )
    check(reply["status"] == "Accepted", f"step 4: RemoteStartTransaction.conf status is {reply['status']}")
    await _started_from_cache(ctx, triggered_by="RemoteStartTransaction")


async def _clear_cache_before(ctx: CaseContext, extra: dict[str, str] | None = None) -> None:
    """TC_061 'Before': the prerequisite and the configuration states."""
    await _cache_prerequisite(ctx)
    values = {
        "AuthorizationCacheEnabled": "true",
        "LocalPreAuthorize": "true",
        "ConnectionTimeOut": str(ctx.settings.connection_timeout),
        **(extra or {}),
    }
    await ensure_configuration(ctx, values)


async def _back_to_available(ctx: CaseContext) -> None:
    """Step 3: the connector (Preparing, no cable) reports Available -- after the second swipe or, for a
    Charge Point that does not deauthorize on it, when ConnectionTimeOut expires."""
    settings = ctx.settings
    await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": settings.connector_id, "status": "Available"},
        timeout=settings.connection_timeout + settings.late_tolerance + settings.message_timeout,
    )


async def _clear_cache(ctx: CaseContext) -> None:
    """Steps 5-6: ClearCache.conf status is Accepted."""
    reply = await ctx.csms.call_result("ClearCache", {})
    check(reply["status"] == "Accepted", f"step 6: ClearCache.conf status is {reply['status']}, expected Accepted")


def _authorize_accepted(authorize: StationCall) -> None:
    """Step 8 (the tool's answer): Authorize.conf idTagInfo.status is Accepted."""
    status = authorize.response_payload["idTagInfo"]["status"]
    check(status == "Accepted", f"step 8: Authorize.conf status is {status}, expected Accepted")


async def tc_061_1(ctx: CaseContext) -> None:
    """TC_061_1_CS Clear Authorization Data in Authorization Cache (local: document TC_061_CS)."""
    settings = ctx.settings
    tag = settings.valid_id_tag
    connector = settings.connector_id
    await _clear_cache_before(ctx)
    # Reusable state Authorized: Authorize.req (which puts the idTag in the cache) and, step 1, Preparing.
    await authorized(ctx)
    # [EV driver swipes the valid card OR the connectionTimeout passes.] Step 3: Available.
    await ctx.control.present_id_tag(tag, connector)
    await _back_to_available(ctx)
    await _clear_cache(ctx)
    # [The EV driver swipes the card used at step 1.] Step 7: Authorize.req -- not served from the cache.
    await ctx.control.present_id_tag(tag, connector)
    _authorize_accepted(await ctx.csms.expect("Authorize", {"idTag": tag}))


async def tc_061_2(ctx: CaseContext) -> None:
    """TC_061_2_CS Clear Authorization Data in Authorization Cache (remote flavour)."""
    settings = ctx.settings
    tag = settings.valid_id_tag
    connector = settings.connector_id
    await _clear_cache_before(ctx, {"AuthorizeRemoteTxRequests": "true"})

    async def remote_start() -> StationCall:
        reply = await ctx.csms.call_result("RemoteStartTransaction", {"connectorId": connector, "idTag": tag})
        check(reply["status"] == "Accepted", f"RemoteStartTransaction.conf status is {reply['status']}")
        return await ctx.csms.expect("Authorize", {"idTag": tag}, triggered_by="RemoteStartTransaction")

    # The remote counterpart of reusable state Authorized: the Authorize.req puts the idTag in the cache;
    # step 1: Preparing.
    _authorize_accepted(await remote_start())
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})
    # [Wait for the connectionTimeout.] Step 3: Available.
    await _back_to_available(ctx)
    await _clear_cache(ctx)
    # Step 7: a RemoteStartTransaction for the same idTag needs an Authorize.req again.
    _authorize_accepted(await remote_start())


CASES: tuple[TestCase, ...] = (
    TestCase("TC_007_1", "Regular Start Charging Session - Cached Id", CORE, MODULE, "2.4.1", tc_007_1),
    TestCase("TC_007_2", "Remote Start Charging Session - Cached Id", CORE, MODULE, "2.4.1", tc_007_2),
    TestCase("TC_061_1", "Clear Authorization Data in Authorization Cache", CORE, MODULE, "2.4.2", tc_061_1),
    TestCase("TC_061_2", "Clear Authorization Data in Authorization Cache - Remote", CORE, MODULE, "2.4.2", tc_061_2),
)
