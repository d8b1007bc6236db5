"""The two sides of a detachable cable: the simulated connector, and `POST .../unplug {"side": "ev"}` of the
control API against a real station core (the API contract is checked against openapi.json)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ocpp_station.hardware.simulated import SimulatedConnector, SimulatedStation
from ocpp_station.settings import parse_settings
from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.station_control import CoreControl
from tests.support.api_contract import check_contract
from tests.support.core_driver import CoreDriver
from tests.support.recording_listener import RecordingListener

T0 = 1_767_225_600.0


# --- the simulated connector ---------------------------------------------------------------------------


def test_ev_side_unplug_leaves_a_detachable_cable_in_the_socket() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.set_listener(listener := RecordingListener())
    connector.plug(T0)
    assert connector.plugged and connector.cable_in_socket
    connector.unplug(T0, "ev")
    assert not connector.plugged and connector.cable_in_socket and not connector.ev_ready
    connector.plug(T0)  # an EV plugs into the cable left in the socket
    assert connector.plugged and connector.cable_in_socket
    connector.unplug(T0, "ev")
    connector.unplug(T0)  # then the cable is taken out
    assert not connector.cable_in_socket
    assert listener.events == [("plug", 1, v) for v in (True, False, True, False, False)]


def test_the_lock_keeps_the_cable_in_the_socket() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.set_listener(listener := RecordingListener())
    connector.plug(T0)
    assert connector.lock()
    connector.unplug(T0)  # the whole cable: only the EV end comes out
    assert not connector.plugged and connector.cable_in_socket
    with pytest.raises(ValueError, match="locked"):
        connector.unplug(T0)
    assert connector.unlock()
    connector.unplug(T0)
    assert not connector.cable_in_socket
    with pytest.raises(ValueError, match="not plugged in"):
        connector.unplug(T0)
    assert listener.events == [("plug", 1, True), ("plug", 1, False), ("plug", 1, False)]


def test_an_unlocked_cable_comes_out_whole_in_one_event() -> None:
    connector = SimulatedConnector(1, fixed_cable=False)
    connector.set_listener(listener := RecordingListener())
    connector.plug(T0)
    connector.unplug(T0, "both")
    assert not connector.plugged and not connector.cable_in_socket
    assert listener.events == [("plug", 1, True), ("plug", 1, False)]


def test_a_fixed_cable_has_only_the_ev_side() -> None:
    connector = SimulatedConnector(1)
    connector.plug(T0)
    assert not connector.cable_in_socket
    connector.unplug(T0, "ev")
    assert not connector.plugged and not connector.cable_in_socket
    with pytest.raises(ValueError, match="not plugged in"):
        connector.unplug(T0)
    with pytest.raises(ValueError, match="unknown side"):
        connector.unplug(T0, "station")


# --- the control API against the real core ---------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[CoreDriver, str]]:
    cp = CoreDriver(
        {"UnlockConnectorOnEVSideDisconnect": "false"},
        hardware=SimulatedStation(2, fixed_cable=False),
        settings=parse_settings({"hardware": {"fixed_cable": False}}),
    )
    cp.connect()
    server = ControlApi(DictStationDirectory([CoreControl(cp.station, cp.controls)]))
    await server.start(port=0)
    try:
        yield cp, server.base_url
    finally:
        await server.stop()
        cp.close()


async def _post(base_url: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + path, json=body) as response,
    ):
        answer = await response.json()
    check_contract("POST", path, response.status, answer)
    return response.status, answer


async def test_unplug_on_the_ev_side_through_the_control_api(api: tuple[CoreDriver, str]) -> None:
    cp, base_url = api
    await _post(base_url, "/api/connectors/1/plug")
    await _post(base_url, "/api/rfid", {"idTag": "TAG-1", "connectorId": 1})
    cp.take()
    status, state = await _post(base_url, "/api/connectors/1/unplug", {"side": "ev"})
    assert status == 200
    connector = state["connectors"][1]
    assert (connector["status"], connector["pluggedIn"], connector["cableInSocket"], connector["locked"]) == (
        "Finishing",
        False,
        True,
        True,
    )
    assert [p["reason"] for a, p in cp.take() if a == "StopTransaction"] == ["EVDisconnected"]
    status, error = await _post(base_url, "/api/connectors/1/unplug")
    assert status == 409 and "locked" in error["error"]
    cp.call("UnlockConnector", {"connectorId": 1})
    status, state = await _post(base_url, "/api/connectors/1/unplug", {})
    assert status == 200 and state["connectors"][1]["status"] == "Available"
    assert not state["connectors"][1]["cableInSocket"]


async def test_unplug_side_is_validated(api: tuple[CoreDriver, str]) -> None:
    _cp, base_url = api
    status, error = await _post(base_url, "/api/connectors/1/unplug", {"side": "station"})
    assert status == 422 and "ev, both" in error["error"]
    status, error = await _post(base_url, "/api/connectors/1/unplug", {"side": "ev"})
    assert status == 409 and "not plugged in" in error["error"]
