"""Steps several OCTT modules share: the reboot sequence (BootNotification + a StatusNotification per
connector and connectorId 0), waiting on the test bench for a manual action to take effect, and the
MeterValues checks of TC_036 / TC_070 / TC_071.

Not an OCTT module itself (no CASES): the modules of this package import it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence

from ocpp.v16.enums import Measurand

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.rpc import Payload
from ocpp_station.tools.harness.case import CaseContext, check
from ocpp_station.tools.harness.csms import CaseFailure, Expect, StationCall

MEASURANDS: frozenset[str] = frozenset(m.value for m in Measurand)
DEFAULT_MEASURAND = "Energy.Active.Import.Register"  # SampledValue.measurand default (OCPP 1.6 §7.45)
DEFAULT_CONTEXT = "Sample.Periodic"  # SampledValue.context default (OCPP 1.6 §7.45)


def status_is(connector_id: int, statuses: Sequence[str]) -> Expect:
    """A StatusNotification.req for `connector_id` with one of `statuses` ("Finishing OR Preparing")."""
    allowed = tuple(statuses)
    return Expect(
        "StatusNotification",
        lambda p: p["connectorId"] == connector_id and p["status"] in allowed,
        label=f"connectorId={connector_id}, status {' or '.join(allowed)}",
    )


def boot_statuses(connectors: Sequence[int], special: Mapping[int, Sequence[str]]) -> list[Expect]:
    """'[Send per connector and connectorId=0.]' after a reboot: the connectors in `special` with one of
    their statuses, every other one (and connectorId 0) Available ("The other StatusNotification messages")."""
    return [status_is(n, special.get(n, ("Available",))) for n in (0, *connectors)]


async def expect_boot(ctx: CaseContext, *, triggered_by: str | None = None) -> StationCall:
    """'The Charge Point sends a BootNotification.req', answered Accepted by the tool (validation of the
    BootNotification.conf step: status is Accepted)."""
    boot = await ctx.csms.expect("BootNotification", timeout=ctx.settings.connect_timeout, triggered_by=triggered_by)
    status = boot.response_payload["status"]
    check(status == "Accepted", f"the tool answered the BootNotification.req {status}, expected Accepted")
    return boot


async def until_connector_status(
    ctx: CaseContext, connector_id: int, statuses: Iterable[str], what: str, timeout: float | None = None
) -> None:
    """Wait on the test bench (the control API) until the connector shows one of `statuses`: how the tester
    sees that a manual action done while the station is offline ('[EV Driver starts offline a transaction]')
    has taken effect, since no message can tell."""
    wanted = set(statuses)
    limit = ctx.settings.message_timeout if timeout is None else timeout
    deadline = time.monotonic() + limit
    while True:
        state = await ctx.control.connector_state(connector_id)
        if state.get("status") in wanted:
            return
        if time.monotonic() >= deadline:
            raise CaseFailure(
                f"{what}: connector {connector_id} is {state.get('status')} on the station after {limit:g} s,"
                f" expected {' or '.join(sorted(wanted))}"
            )
        await asyncio.sleep(0.05)


# --- MeterValues ----------------------------------------------------------------------------------------


def configured_measurands(value: str | None) -> list[str]:
    """The items of a MeterValues*Data key; 'When the value ... is empty the measurand
    Energy.Active.Import.Register is assumed as default' (TC_070 / TC_071)."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return items or [DEFAULT_MEASURAND]


def split_item(item: str) -> tuple[str, str | None]:
    """'Voltage.L1' → ('Voltage', 'L1'): a measurand 'combined with the optional phase' (OCPP 1.6 §9.1.17)."""
    if item in MEASURANDS:
        return item, None
    name, _, phase = item.rpartition(".")
    if name in MEASURANDS:
        return name, phase
    raise CaseFailure(f"the station lists {item!r} as a measurand: not an OCPP 1.6 Measurand")


def _phase_matches(wanted: str, phase: str | None) -> bool:
    # "Voltage.L1" names the L1 voltage, which a meter reports as L1-N (phase values: OCPP 1.6 §7.37).
    return phase == wanted or (phase or "").startswith(wanted + "-")


def sampled_value_problems(meter_value: Payload, items: Sequence[str], context: str, *, coverage: bool) -> list[str]:
    """The TC_070 / TC_071 validations of one MeterValue:

    * "The sampledValue.context should be <context>" (an omitted context is Sample.Periodic, §7.45);
    * "The sampledValue list should contain an sampledValue for each sampledValue.measurand configured": every
      configured item is represented (with its phase, if the item names one). A measurand measured on several
      phases is reported once per phase (OCPP 1.6 §3.16.3: "all possible ... phases SHALL be reported"), so
      per-phase values count as that measurand's sampledValue; the same (measurand, phase, location) twice
      does not (harness reading);
    * harness additions: no measurand the key does not prescribe (§3.16.1: the key "prescribes the set of
      measurands"); location EV only for SoC (§7.30: EV = "measurement taken by EV" / TC_070 tail).

    `coverage` False skips the per-item check (connector 0 of TC_071: the main meter cannot measure an EV's
    SoC, §3.16.3 reports a measurand where it is measured)."""
    values = meter_value.get("sampledValue", [])
    problems: list[str] = []
    seen: set[tuple[str, str | None, str]] = set()
    configured = [split_item(item) for item in items]
    names = {name for name, _ in configured}
    for sv in values:
        measurand = sv.get("measurand", DEFAULT_MEASURAND)
        key = (measurand, sv.get("phase"), sv.get("location", "Outlet"))
        if key in seen:
            problems.append(f"sampledValue {measurand} phase={key[1]} location={key[2]} appears twice")
        seen.add(key)
        if sv.get("context", DEFAULT_CONTEXT) != context:
            problems.append(f"sampledValue {measurand} has context {sv.get('context', DEFAULT_CONTEXT)}, not {context}")
        if measurand not in names:
            problems.append(f"sampledValue {measurand} is not in the configured measurands {list(items)}")
        if sv.get("location") == "EV" and measurand != "SoC":
            problems.append(f"sampledValue {measurand} has location EV (only SoC is measured in the EV)")
    if coverage:
        for item, (name, phase) in zip(items, configured, strict=True):
            if not any(
                sv.get("measurand", DEFAULT_MEASURAND) == name
                and (phase is None or _phase_matches(phase, sv.get("phase")))
                for sv in values
            ):
                problems.append(f"no sampledValue for the configured measurand {item}")
    return problems


def meter_value_times(call: StationCall) -> list[float]:
    """The MeterValue.timestamp fields of one MeterValues.req (station time, POSIX seconds)."""
    return [parse_iso(mv["timestamp"]) for mv in call.payload["meterValue"]]


def spacing_problems(times: Sequence[float], interval: float, early: float, late: float) -> list[str]:
    """'Between the MeterValue.timestamp fields ... should be an interval of x seconds', within the harness's
    timer tolerances (a timer may fire late, never early)."""
    problems = []
    for earlier, later in itertools.pairwise(times):
        gap = later - earlier
        if not interval - early <= gap <= interval + late:
            problems.append(f"{gap:.3f} s between MeterValue timestamps, expected {interval:g} s")
    return problems
