"""The fleet page in chromium: counts, the searchable table, and its links to each station page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from ocpp_station.shell.runtime import StationRuntime
from tests.web.conftest import QUIET, Panel

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def second(panel: Panel, tmp_path: Path) -> AsyncIterator[StationRuntime]:
    runtime = StationRuntime(
        csms_url=panel.csms.url, charge_box_id="OTHER-CP-2", data_dir=tmp_path / "second", config_overrides=QUIET
    )
    panel.api.telemetry.watch(runtime)
    await runtime.start()
    panel.directory.add(runtime)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_fleet_page_lists_searches_and_links(panel: Panel, second: StationRuntime, page: Page) -> None:
    await page.goto(panel.url + "/")  # several stations: / is the fleet page
    await expect(page.get_by_test_id("total")).to_have_text("2")
    await expect(page.locator('[data-testid=counts] [data-state="registered"]')).to_have_text("registered: 2")
    await expect(page.get_by_test_id("latency")).not_to_have_text("–")
    rows = page.locator("[data-testid=stations] tr")
    await expect(rows).to_have_count(2)
    await expect(page.get_by_test_id("shown")).to_have_text("2 of 2 shown")

    await page.get_by_test_id("search").fill("other")
    await expect(rows).to_have_count(1)
    await expect(page.get_by_test_id("shown")).to_have_text("1 of 1 shown")
    await expect(rows.first).to_contain_text("OTHER-CP-2")

    second.set_online(False)
    await expect(page.locator('[data-testid=counts] [data-state="disconnected"]')).to_have_text("disconnected: 1")

    await rows.first.get_by_role("link").click()
    await expect(page).to_have_url(panel.url + "/stations/OTHER-CP-2")
    await expect(page.get_by_test_id("charge-box-id")).to_have_text("OTHER-CP-2")
    await expect(page.get_by_test_id("connection")).to_have_text("disconnected")
    await page.get_by_test_id("network-up").click()
    await expect(page.get_by_test_id("connection")).to_have_text("connected", timeout=10_000)
