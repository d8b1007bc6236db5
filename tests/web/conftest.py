"""Fixtures of the web panel tests: a real StationRuntime against the test CSMS, its control API, a browser.

Everything binds 127.0.0.1 port 0 and is stopped by the fixture that started it. One browser per
module (starting chromium is the slow part); each test gets its own page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from ocpp_station.shell.api import ControlApi, DictStationDirectory
from ocpp_station.shell.runtime import StationRuntime
from tests.support.browser import launch
from tests.support.fake_csms import FakeCsms

AUTHORIZATION_KEY = "00112233445566778899aabbccddeeff"  # write-only: the panel must never show it
# Quiet links: no periodic MeterValues, so what the CSMS counted is exactly what the station sent.
QUIET = {"MeterValueSampleInterval": "0", "AuthorizationKey": AUTHORIZATION_KEY}


@dataclass
class Panel:
    csms: FakeCsms
    runtime: StationRuntime
    directory: DictStationDirectory
    api: ControlApi

    @property
    def url(self) -> str:
        return self.api.base_url


async def start_panel(tmp_path: Path, charge_box_id: str = "PANEL-CP-1", token: str | None = None) -> Panel:
    csms = FakeCsms()
    await csms.start()
    runtime = StationRuntime(csms_url=csms.url, charge_box_id=charge_box_id, data_dir=tmp_path, config_overrides=QUIET)
    directory = DictStationDirectory()
    api = ControlApi(directory, token=token)
    await api.start("127.0.0.1", 0)
    api.telemetry.watch(runtime)  # before start: the boot's frames are counted too
    await runtime.start()
    directory.add(runtime)
    await csms.wait_for_message("BootNotification")
    return Panel(csms, runtime, directory, api)


async def stop_panel(panel: Panel) -> None:
    await panel.runtime.stop()
    await panel.api.stop()
    await panel.csms.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def panel(tmp_path: Path) -> AsyncIterator[Panel]:
    started = await start_panel(tmp_path)
    try:
        yield started
    finally:
        await stop_panel(started)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await launch(playwright)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()
