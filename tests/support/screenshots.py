"""`make screenshots`: run a small demo (three stations, one charging) and photograph each panel page.

Writes docs/screenshots/station.png and docs/screenshots/fleet.png.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.demo import DemoCentralSystem
from ocpp_station.shell.runtime import StationRuntime
from tests.support.browser import launch

CHART_POINTS = 12
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _start_charging(page: Page, url: str, charge_box_id: str) -> None:
    """Plug in and swipe through the page, as a user of the demo would."""
    await page.goto(f"{url}/stations/{charge_box_id}")
    await expect(page.get_by_test_id("registration")).to_have_text("Accepted")
    await page.get_by_test_id("plug-1").click()
    await page.get_by_test_id("id-tag-1").fill("DEMO1234")
    await page.get_by_test_id("swipe-1").click()
    await expect(page.get_by_test_id("status-1")).to_have_text("Charging")


async def _station_page(page: Page, url: str) -> None:
    await page.goto(url + "/stations/DEMO-CP-1")
    await expect(page.get_by_test_id("status-1")).to_have_text("Charging")
    # A chart with some history: one point a second from the live feed.
    await page.wait_for_function(f"Number(document.getElementById('chart').dataset.points) >= {CHART_POINTS}")
    await page.screenshot(path=OUT / "station.png", full_page=True)


async def _fleet_page(page: Page, url: str) -> None:
    await page.goto(url + "/fleet")
    await expect(page.locator("[data-testid=stations] tr")).to_have_count(3)
    await expect(page.get_by_test_id("latency")).not_to_have_text("–")
    await page.screenshot(path=OUT / "fleet.png", full_page=True)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.ERROR)  # the story here is the pictures, not the link chatter
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    central = DemoCentralSystem()
    await central.start()
    directory = DictStationDirectory()
    api = ControlApi(directory)
    await api.start("127.0.0.1", 0)
    runtimes: list[StationRuntime] = []
    with tempfile.TemporaryDirectory(prefix="ocpp-station-screenshots-") as work:
        try:
            for n in (1, 2, 3):
                runtime = StationRuntime(
                    csms_url=central.url, charge_box_id=f"DEMO-CP-{n}", data_dir=Path(work) / str(n)
                )
                api.telemetry.watch(runtime)
                await runtime.start()
                directory.add(runtime)
                runtimes.append(runtime)
            runtimes[2].set_online(False)
            async with async_playwright() as playwright:
                browser = await launch(playwright)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                for charge_box_id in ("DEMO-CP-2", "DEMO-CP-1"):
                    await _start_charging(page, api.base_url, charge_box_id)
                await _station_page(page, api.base_url)
                await _fleet_page(page, api.base_url)
                await browser.close()
        finally:
            for runtime in runtimes:
                await runtime.stop()
            await api.stop()
            await central.stop()
    print(f"screenshots written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
