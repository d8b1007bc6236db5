"""The "Before" part of the OCTT cases: general pre-conditions, configuration states, reusable states
(OCTT document §2.25) and memory states (§2.26), written once and shared by every case.

Each state performs the document's steps and tool validations exactly; where a step is conditional
("[If AuthorizeRemoteTxRequests is true]", "[If status is not Reserved]") the condition is evaluated
from what the station itself reported, as the tool does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Call, CallError, Payload
from ocpp_station.tools.harness.case import CaseContext, check
from ocpp_station.tools.harness.csms import CaseFailure, Expect, StationCall, Tolerance

# --- configuration (GetConfiguration / ChangeConfiguration) --------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    readonly: bool
    value: str | None


@dataclass(frozen=True, slots=True)
class ConfigurationReply:
    """A GetConfiguration.conf, keys in the order the station listed them."""

    keys: tuple[KeyValue, ...]
    unknown: tuple[str, ...]

    def get(self, key: str) -> KeyValue | None:
        return next((kv for kv in self.keys if kv.key == key), None)

    @classmethod
    def parse(cls, payload: Payload) -> ConfigurationReply:
        keys = tuple(
            KeyValue(str(item["key"]), bool(item["readonly"]), item.get("value"))
            for item in payload.get("configurationKey", [])
        )
        return cls(keys, tuple(str(key) for key in payload.get("unknownKey", [])))


async def get_configuration(ctx: CaseContext, keys: Sequence[str] | None = None) -> ConfigurationReply:
    """GetConfiguration.req with `key` omitted (None) or the given list (possibly empty)."""
    payload: Payload = {} if keys is None else {"key": list(keys)}
    return ConfigurationReply.parse(await ctx.csms.call_result("GetConfiguration", payload))


async def read_key(ctx: CaseContext, key: str) -> KeyValue | None:
    """One key's value, None when the station lists it as unknown (i.e. not implemented)."""
    reply = await get_configuration(ctx, [key])
    value = reply.get(key)
    if value is None and key not in reply.unknown:
        raise CaseFailure(f"GetConfiguration.conf for [{key}] lists it neither in configurationKey nor unknownKey")
    return value


async def change_configuration(ctx: CaseContext, key: str, value: str, *, accept: Sequence[str] = ("Accepted",)) -> str:
    payload = await ctx.csms.call_result("ChangeConfiguration", {"key": key, "value": value})
    status = str(payload["status"])
    check(status in accept, f"ChangeConfiguration {key}={value!r}: status is {status}, expected {' or '.join(accept)}")
    return status


async def ensure_configuration(ctx: CaseContext, values: Mapping[str, str], *, if_implemented: bool = False) -> None:
    """A "Configuration State(s)" block: make each key hold the value, changing it only when needed.

    With if_implemented (the document's "(If implemented)"), a key the station does not know is skipped;
    otherwise it fails the case. The change must be Accepted: RebootRequired would leave the state unmet.
    """
    for key, value in values.items():
        current = await read_key(ctx, key)
        if current is None:
            if if_implemented:
                ctx.note(f"configuration state {key}={value}: key not implemented, skipped")
                continue
            raise CaseFailure(f"configuration state {key}={value}: the station does not know {key}")
        if current.value != value:
            await change_configuration(ctx, key, value)


async def ensure_configuration_differs(ctx: CaseContext, key: str, value: str, replacement: str) -> None:
    """Configuration state 'The value of "key" is NOT value' (e.g. TC_021)."""
    current = await read_key(ctx, key)
    if current is None:
        raise CaseFailure(f"configuration state {key} != {value}: the station does not know {key}")
    if current.value == value:
        await change_configuration(ctx, key, replacement)


def parse_bool(kv: KeyValue | None, key: str) -> bool:
    if kv is None or kv.value is None or kv.value.strip().lower() not in ("true", "false"):
        raise CaseFailure(f"{key} has no boolean value ({kv!r})")
    return kv.value.strip().lower() == "true"


# --- general pre-conditions (OCTT document §1.3) ----------------------------------------------------------


async def connector_ids(ctx: CaseContext) -> list[int]:
    """The station's connectors, read from the test bench (what the tester knows of the hardware)."""
    ids = await ctx.control.connector_ids()
    check(ctx.settings.connector_id in ids, f"<Configured ConnectorId> {ctx.settings.connector_id} not in {ids}")
    return ids


async def expect_status_per_connector(
    ctx: CaseContext,
    status: str,
    connectors: Sequence[int],
    *,
    timeout: float | None = None,
    tolerate: Iterable[Tolerance] | None = None,
) -> list[StationCall]:
    """'[Send a StatusNotification per connector and connectorId=0.]' — all of them, any order."""
    steps = [Expect("StatusNotification", {"connectorId": n, "status": status}) for n in (0, *connectors)]
    return await ctx.csms.expect_unordered(steps, timeout=timeout, tolerate=tolerate)


async def general_preconditions(ctx: CaseContext) -> None:
    """§1.3: power on; the Charge Point is Accepted, connected, its connectors Available; and
    "MinimumStatusDuration should be set to 0" (if the station implements the key)."""
    await ctx.station.power_on()
    await ctx.csms.expect("BootNotification", timeout=ctx.settings.connect_timeout, tolerate=())
    connectors = await connector_ids(ctx)
    await expect_status_per_connector(ctx, "Available", connectors)
    await ensure_configuration(ctx, {"MinimumStatusDuration": "0"}, if_implemented=True)


# --- reusable states (OCTT document §2.25) ---------------------------------------------------------------


async def get_configuration_state(ctx: CaseContext, key: str) -> KeyValue | None:
    """Table 103 "GetConfiguration": retrieve a single configuration item."""
    return await read_key(ctx, key)


async def authorized(ctx: CaseContext, id_tag: str | None = None) -> StationCall:
    """Table 104 "Authorized": present the idTag; Authorize.req (answered Accepted) and, unless the
    connector already was Preparing, StatusNotification(Preparing) — "Step 1 and step 3 may be reversed"."""
    tag = ctx.settings.valid_id_tag if id_tag is None else id_tag
    connector = ctx.settings.connector_id
    already_preparing = ctx.csms.last_status(connector) == "Preparing"
    await ctx.control.present_id_tag(tag, connector)
    steps = [Expect("Authorize", {"idTag": tag})]
    if not already_preparing:
        steps.append(Expect("StatusNotification", {"connectorId": connector, "status": "Preparing"}))
    found = await ctx.csms.expect_unordered(steps)
    check(
        found[0].response_payload["idTagInfo"]["status"] == "Accepted",
        f"Authorized state needs an Accepted idTag; {tag} is not configured as valid",
    )
    return found[0]


@dataclass(frozen=True, slots=True)
class Transaction:
    transaction_id: int
    connector_id: int
    id_tag: str
    start: StationCall  # the StartTransaction.req (with the tool's answer)


async def authorize_remote_tx_requests(ctx: CaseContext) -> bool:
    """Step 1 of Charging / TC_011: GetConfiguration.req with key[0] = AuthorizeRemoteTxRequests."""
    reply = await get_configuration(ctx, ["AuthorizeRemoteTxRequests"])
    kv = reply.get("AuthorizeRemoteTxRequests")
    check(kv is not None, "GetConfiguration.conf lacks AuthorizeRemoteTxRequests (a required Core key)")
    return parse_bool(kv, "AuthorizeRemoteTxRequests")


async def charging(
    ctx: CaseContext, id_tag: str | None = None, *, charging_profile: Payload | None = None
) -> Transaction:
    """Table 105 "Charging": plug-in first, then a remote start. With `charging_profile`: "Charging with a
    ChargingProfile with purpose TxProfile" (TC_059), the profile sent in the RemoteStartTransaction.req."""
    settings = ctx.settings
    tag = settings.valid_id_tag if id_tag is None else id_tag
    connector = settings.connector_id
    # Steps 1-2.
    authorize_remote = await authorize_remote_tx_requests(ctx)
    # Manual action: plug in on both sides; step 3 only if the connector is not Reserved.
    reserved = ctx.csms.last_status(connector) == "Reserved"
    await ctx.control.plug(connector)
    if not reserved:
        await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})
    # Steps 5-6.
    request: Payload = {"connectorId": connector, "idTag": tag}
    if charging_profile is not None:
        request["chargingProfile"] = charging_profile
    requested_at = time.monotonic()
    reply = await ctx.csms.call_result("RemoteStartTransaction", request)
    check(reply.get("status") == "Accepted", f"RemoteStartTransaction.conf status is {reply.get('status')}")
    # Step 7 only if the connector was Reserved: it stays Reserved when the cable is plugged in (step 3 only
    # if not Reserved; OCPP 1.6 §4.9 G2: Reserved → Preparing when the reservation's identity is presented).
    if reserved:
        preparing = await ctx.csms.expect(
            "StatusNotification",
            {"connectorId": connector, "status": "Preparing"},
            triggered_by="RemoteStartTransaction",
        )
        check(
            preparing.received_at >= requested_at,
            "step 7: StatusNotification(Preparing) came when the cable was plugged in, before the"
            " RemoteStartTransaction.req; a Reserved connector stays Reserved until the idTag is presented",
        )
    # Steps 9-10 only if AuthorizeRemoteTxRequests is true.
    if authorize_remote:
        await ctx.csms.expect("Authorize", {"idTag": tag}, triggered_by="RemoteStartTransaction")
    # Steps 11 and 13 "may be reversed".
    start, _charging = await transaction_started(ctx, connector, tag, triggered_by="RemoteStartTransaction")
    answer = start.response_payload
    return Transaction(int(answer["transactionId"]), connector, tag, start)


def status_or_call_error(reply: Payload | CallError, *, step: str, status: str, error: str) -> None:
    """The document's "status <status>, or a CallError <error>" alternative (TC_040_2, TC_043_1, TC_058_1,
    TC_060): either answer passes, nothing else does."""
    if isinstance(reply, CallError):
        check(reply.code == error, f"step {step}: CallError {reply.code}, expected {error} (or status {status})")
    else:
        check(reply["status"] == status, f"step {step}: status is {reply['status']}, expected {status}")


async def transaction_started(
    ctx: CaseContext,
    connector: int,
    id_tag: str | None,
    *,
    triggered_by: str | None = None,
    tolerate: Iterable[Tolerance] | None = None,
    accepted: bool = True,
) -> tuple[StationCall, StationCall]:
    """StartTransaction.req and StatusNotification(Charging) on `connector`, in either order (the OCTT
    document's general convention); with `accepted`, the tool's StartTransaction.conf must be Accepted."""
    start_fields: Payload = {"connectorId": connector}
    if id_tag is not None:
        start_fields["idTag"] = id_tag
    start, charging_status = await ctx.csms.expect_unordered(
        [
            Expect("StartTransaction", start_fields),
            Expect("StatusNotification", {"connectorId": connector, "status": "Charging"}),
        ],
        triggered_by=triggered_by,
        tolerate=tolerate,
    )
    if accepted:
        status = start.response_payload["idTagInfo"]["status"]
        check(status == "Accepted", f"StartTransaction.conf idTagInfo.status is {status}, expected Accepted")
    return start, charging_status


async def set_connector_faulted(ctx: CaseContext, error_code: str = "OtherError") -> StationCall:
    """Table 106 "SetConnectorFaulted"."""
    connector = ctx.settings.connector_id
    await ctx.control.set_fault(connector, error_code, "OCTT SetConnectorFaulted")
    return await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Faulted"})


async def set_charge_point_faulted(ctx: CaseContext, error_code: str = "OtherError") -> list[StationCall]:
    """Table 107 "SetChargePointFaulted": Faulted for connectorId 0 and (per the table's note) every
    connector."""
    connectors = await connector_ids(ctx)
    await ctx.control.set_fault(0, error_code, "OCTT SetChargePointFaulted")
    return await expect_status_per_connector(ctx, "Faulted", connectors)


async def set_connector_unavailable(ctx: CaseContext, connector_id: int | None = None) -> StationCall:
    """Table 108 "SetConnectorUnavailable" (for another connector: "... for all unused connectors")."""
    connector = ctx.settings.connector_id if connector_id is None else connector_id
    reply = await ctx.csms.call_result("ChangeAvailability", {"connectorId": connector, "type": "Inoperative"})
    check(reply["status"] == "Accepted", f"ChangeAvailability.conf status is {reply['status']}, expected Accepted")
    return await ctx.csms.expect(
        "StatusNotification",
        {"connectorId": connector, "status": "Unavailable"},
        triggered_by="ChangeAvailability",
    )


async def set_charge_point_unavailable(ctx: CaseContext) -> list[StationCall]:
    """Table 109 "SetChargePointUnavailable" (its step-2 validation names ReserveNow.conf: a typo for
    ChangeAvailability.conf, the message of step 2)."""
    connectors = await connector_ids(ctx)
    reply = await ctx.csms.call_result("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    check(reply["status"] == "Accepted", f"ChangeAvailability.conf status is {reply['status']}, expected Accepted")
    steps = [Expect("StatusNotification", {"connectorId": n, "status": "Unavailable"}) for n in (0, *connectors)]
    return await ctx.csms.expect_unordered(steps, triggered_by="ChangeAvailability")


async def set_connector_occupied(ctx: CaseContext, connector_id: int | None = None) -> StationCall:
    """Table 110 "SetConnectorOccupied": the EV driver plugs in (another connector: "... for all connectors")."""
    connector = ctx.settings.connector_id if connector_id is None else connector_id
    await ctx.control.plug(connector)
    return await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Preparing"})


async def reserve_now(
    ctx: CaseContext,
    connector_id: int,
    reservation_id: int = 1,
    *,
    id_tag: str | None = None,
    expires_in: timedelta = timedelta(hours=1),
    parent_id_tag: str | None = None,
) -> str:
    """ReserveNow.req for <Configured Valid IdTag> (unless `id_tag`); returns the ReserveNow.conf status."""
    payload: Payload = {
        "connectorId": connector_id,
        "expiryDate": iso_utc((datetime.now(UTC) + expires_in).timestamp()),
        "idTag": ctx.settings.valid_id_tag if id_tag is None else id_tag,
        "reservationId": reservation_id,
    }
    if parent_id_tag is not None:
        payload["parentIdTag"] = parent_id_tag
    reply = await ctx.csms.call_result("ReserveNow", payload)
    return str(reply["status"])


async def reserved(
    ctx: CaseContext,
    reservation_id: int = 1,
    *,
    id_tag: str | None = None,
    expires_in: timedelta = timedelta(hours=1),
    parent_id_tag: str | None = None,
) -> StationCall:
    """Table 111 "Reserved"."""
    connector = ctx.settings.connector_id
    status = await reserve_now(
        ctx, connector, reservation_id, id_tag=id_tag, expires_in=expires_in, parent_id_tag=parent_id_tag
    )
    check(status == "Accepted", f"ReserveNow.conf status is {status}, expected Accepted")
    return await ctx.csms.expect(
        "StatusNotification", {"connectorId": connector, "status": "Reserved"}, triggered_by="ReserveNow"
    )


# --- memory states (OCTT document §2.26) ----------------------------------------------------------------


async def id_tag_cached(ctx: CaseContext, id_tag: str | None = None) -> None:
    """Table 112 "IdTagCached": with AuthorizationCacheEnabled, run a transaction for the valid idTag
    (which the station caches from the tool's Accepted answers) and end it locally.

    With `id_tag` (e.g. TC_037_2 "IdTagCached for <Configured invalid IdTag>") the tool answers that idTag
    Accepted during the state (Table 112 step 2: idTagInfo.status is Accepted), so it is cached as valid."""
    tag = ctx.settings.valid_id_tag if id_tag is None else id_tag
    await ensure_configuration(ctx, {"AuthorizationCacheEnabled": "true"})
    accepting = ("Authorize", "StartTransaction", "StopTransaction")
    overridden = ctx.csms.id_tag_info(tag)["status"] != "Accepted"
    if overridden:

        def accept(call: Call) -> Payload:
            reply = ctx.csms.default_response(call)
            if "idTagInfo" in reply and str(call.payload.get("idTag", "")).casefold() == tag.casefold():
                reply["idTagInfo"] = {"status": "Accepted"}
            return reply

        for action in accepting:
            ctx.csms.respond_with(action, accept, once=False)
    try:
        transaction = await charging(ctx, tag)
        connector = transaction.connector_id
        await ctx.control.present_id_tag(tag, connector)
        await ctx.csms.expect_unordered(
            [
                Expect("StopTransaction", {"transactionId": transaction.transaction_id}),
                Expect("StatusNotification", {"connectorId": connector, "status": "Finishing"}),
            ]
        )
    finally:
        if overridden:
            for action in accepting:
                ctx.csms.reset_responses(action)
    await ctx.control.unplug(connector)
    await ctx.csms.expect("StatusNotification", {"connectorId": connector, "status": "Available"})


async def id_tag_local_auth_list(ctx: CaseContext, id_tag: str | None = None) -> None:
    """Table 113 "IdTagLocalAuthList" (for the valid idTag, or `id_tag` listed Accepted, e.g. TC_037_2)."""
    await ensure_configuration(ctx, {"LocalAuthListEnabled": "true"})
    reply = await ctx.csms.call(
        "SendLocalList",
        {
            "listVersion": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": id_tag or ctx.settings.valid_id_tag, "idTagInfo": {"status": "Accepted"}},
            ],
        },
    )
    if isinstance(reply, CallError):
        raise CaseFailure(f"SendLocalList answered with CallError {reply.code}")
    check(reply["status"] == "Accepted", f"SendLocalList.conf status is {reply['status']}, expected Accepted")
