"""The station page in chromium against a real station and the test CSMS: everything through the page."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page, expect

from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES
from ocpp_station.shell.api import ControlApi
from tests.web.conftest import AUTHORIZATION_KEY, Panel

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _energy_above(watts_hours: float) -> str:
    return f"parseFloat(document.querySelector('[data-testid=energy-1]').textContent) > {watts_hours}"


async def test_charging_session_through_the_page(panel: Panel, page: Page) -> None:
    await page.goto(panel.url + "/")
    await expect(page.get_by_test_id("charge-box-id")).to_have_text("PANEL-CP-1")
    await expect(page.get_by_test_id("connection")).to_have_text("connected")
    await expect(page.get_by_test_id("registration")).to_have_text("Accepted")
    await expect(page.get_by_test_id("firmware")).to_have_text(panel.runtime.core.firmware_version())

    await page.get_by_test_id("plug-1").click()
    await expect(page.get_by_test_id("status-1")).to_have_text("Preparing")
    await page.get_by_test_id("id-tag-1").fill("PANEL-TAG")
    await page.get_by_test_id("swipe-1").click()
    await expect(page.get_by_test_id("status-1")).to_have_text("Charging")
    started = await panel.csms.wait_for_message("StartTransaction", idTag="PANEL-TAG")
    assert started["connectorId"] == 1
    await expect(page.get_by_test_id("tag-1")).to_have_text("PANEL-TAG")
    await expect(page.get_by_test_id("transaction-1")).not_to_have_text("–")

    # The energy figure rises while charging: read it, then wait for a larger one.
    first = float((await page.get_by_test_id("energy-1").inner_text()).split()[0])
    await page.wait_for_function(_energy_above(first), timeout=10_000)
    await expect(page.get_by_test_id("power-1")).not_to_have_text("0.00 kW")

    # The frames of the session appear live, and the filter keeps one action.
    start_rows = page.locator('[data-testid=frames] tr[data-action="StartTransaction"]')
    await expect(start_rows).to_have_count(2)  # the CALL and its CALLRESULT
    await page.get_by_test_id("frame-filter").select_option("StartTransaction")
    await expect(page.locator('[data-testid=frames] tr:not([data-action="StartTransaction"])')).to_have_count(0)
    await expect(start_rows.last).to_contain_text("PANEL-TAG")  # newest first: the CALL is below


async def test_network_down_and_up_through_the_page(panel: Panel, page: Page) -> None:
    await page.goto(panel.url + "/")
    await expect(page.get_by_test_id("connection")).to_have_text("connected")
    await page.get_by_test_id("network-down").click()
    await expect(page.get_by_test_id("connection")).to_have_text("disconnected")
    assert not panel.runtime.core.connected
    connections = panel.csms.connections
    await page.get_by_test_id("network-up").click()
    await expect(page.get_by_test_id("connection")).to_have_text("connected", timeout=10_000)
    assert panel.csms.connections == connections + 1


async def test_bad_input_is_refused_with_a_reason(panel: Panel, page: Page) -> None:
    await page.goto(panel.url + "/")
    await expect(page.get_by_test_id("connection")).to_have_text("connected")
    error = page.get_by_test_id("error")

    # Checked in the page: nothing reaches the station.
    await page.get_by_test_id("id-tag-1").fill("X" * 21)
    await page.get_by_test_id("swipe-1").click()
    await expect(error).to_contain_text("idTag is 21 characters; OCPP allows at most 20")
    await page.get_by_test_id("inject-1").click()
    await expect(error).to_contain_text("choose a fault")
    assert not any(action == "Authorize" for action, _ in panel.csms.received)

    # Refused by the station: the page shows the API's own words.
    await page.get_by_test_id("plug-1").click()
    await expect(page.get_by_test_id("status-1")).to_have_text("Preparing")
    await page.get_by_test_id("plug-1").click()
    async with (
        aiohttp.ClientSession() as session,
        session.post(panel.url + "/api/connectors/1/plug") as response,
    ):
        assert response.status == 409
        refusal = (await response.json())["error"]
    await expect(error).to_have_text(f"plug: {refusal}")


async def test_fault_injection_and_configuration(panel: Panel, page: Page) -> None:
    await page.goto(panel.url + "/")
    await expect(page.get_by_test_id("status-2")).to_have_text("Available")
    # Every fault the API offers, and nothing else (NoError is clearing, a separate button).
    options = page.get_by_test_id("fault-code-2").locator("option")
    await expect(options).to_have_text(["fault…", *sorted(CHARGE_POINT_FAULT_CODES)])
    await page.get_by_test_id("fault-code-2").select_option("GroundFailure")
    await page.get_by_test_id("inject-2").click()
    await expect(page.get_by_test_id("status-2")).to_have_text("Faulted")
    await expect(page.get_by_test_id("error-code-2")).to_have_text("GroundFailure")
    await panel.csms.wait_for_message("StatusNotification", connectorId=2, errorCode="GroundFailure")
    await page.get_by_test_id("clear-fault-2").click()
    await expect(page.get_by_test_id("status-2")).to_have_text("Available")

    interval = page.locator('[data-testid=configuration] tr[data-key="MeterValueSampleInterval"] td').nth(1)
    await expect(interval).to_have_text("0")
    secret = page.locator('[data-testid=configuration] tr[data-key="AuthorizationKey"] td').nth(1)
    await expect(secret).to_have_text("***")
    assert AUTHORIZATION_KEY not in await page.content()
    await expect(page.locator("[data-testid=configuration] input")).to_have_count(0)


async def test_page_survives_the_station_restarting(panel: Panel, page: Page) -> None:
    await page.goto(panel.url + "/")
    await expect(page.get_by_test_id("feed")).to_have_text("live")
    port = panel.api.port
    await panel.api.stop()
    await expect(page.get_by_test_id("feed")).to_have_text("offline")
    await expect(page.get_by_test_id("connection")).to_have_text("offline")

    restarted = ControlApi(panel.directory, telemetry=panel.api.telemetry)
    await restarted.start("127.0.0.1", port)
    panel.api = restarted  # the fixture stops whichever API is current
    await expect(page.get_by_test_id("feed")).to_have_text("live", timeout=10_000)
    await expect(page.get_by_test_id("connection")).to_have_text("connected")
