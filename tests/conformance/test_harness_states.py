"""The reusable, memory and configuration states of the harness (OCTT document §2.25, §2.26), each run
against the real station in this process, so that the cases built on them start from a proven state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ocpp_station.tools.harness import states
from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import StationFactory

SETTINGS = HarnessSettings()


async def _authorized(ctx: CaseContext) -> None:
    await states.authorized(ctx)


async def _occupied_then_authorized(ctx: CaseContext) -> None:
    # Authorized when the connector already is Preparing: no second Preparing is expected (Table 104).
    await states.set_connector_occupied(ctx)
    await states.authorized(ctx)


async def _charging(ctx: CaseContext) -> None:
    transaction = await states.charging(ctx)
    check(transaction.transaction_id == 1, "the tool's first transactionId is 1")


async def _reserved_then_charging(ctx: CaseContext) -> None:
    await states.reserved(ctx)
    await states.charging(ctx)


async def _connector_faulted(ctx: CaseContext) -> None:
    await states.set_connector_faulted(ctx)


async def _charge_point_faulted(ctx: CaseContext) -> None:
    await states.set_charge_point_faulted(ctx)


async def _connector_unavailable(ctx: CaseContext) -> None:
    await states.set_connector_unavailable(ctx)


async def _charge_point_unavailable(ctx: CaseContext) -> None:
    await states.set_charge_point_unavailable(ctx)


async def _id_tag_cached(ctx: CaseContext) -> None:
    await states.id_tag_cached(ctx)


async def _id_tag_local_auth_list(ctx: CaseContext) -> None:
    await states.id_tag_local_auth_list(ctx)


async def _configuration(ctx: CaseContext) -> None:
    await states.ensure_configuration(ctx, {"ConnectionTimeOut": str(SETTINGS.connection_timeout)})
    value = await states.get_configuration_state(ctx, "ConnectionTimeOut")
    check(value is not None and value.value == str(SETTINGS.connection_timeout), f"ConnectionTimeOut is {value}")
    await states.ensure_configuration(ctx, {"NoSuchKeyAnywhere": "1"}, if_implemented=True)
    check(any("NoSuchKeyAnywhere" in note for note in ctx.notes), "an unimplemented key is noted")


STATES: dict[str, Callable[[CaseContext], Awaitable[None]]] = {
    "Authorized": _authorized,
    "SetConnectorOccupied+Authorized": _occupied_then_authorized,
    "Charging": _charging,
    "Reserved+Charging": _reserved_then_charging,
    "SetConnectorFaulted": _connector_faulted,
    "SetChargePointFaulted": _charge_point_faulted,
    "SetConnectorUnavailable": _connector_unavailable,
    "SetChargePointUnavailable": _charge_point_unavailable,
    "IdTagCached": _id_tag_cached,
    "IdTagLocalAuthList": _id_tag_local_auth_list,
    "ConfigurationState": _configuration,
}


@pytest.fixture
def station_factory() -> StationFactory:
    from ocpp_station.tools.harness.station_under_test import in_process_factory

    return in_process_factory(SETTINGS.charge_box_id)


@pytest.mark.parametrize("name", list(STATES))
async def test_state_on_the_real_station(name: str, station_factory: StationFactory, tmp_path: Path) -> None:
    from ocpp_station.tools.harness.runner import run_case

    case = TestCase("STATE", name, CORE, "states", "2.25", STATES[name])
    result = await run_case(case, settings=SETTINGS, station_factory=station_factory, data_root=tmp_path)
    assert result.passed, result.describe()
