"""Launching Debian's chromium for Playwright (Playwright's own browser build cannot be downloaded here).

Shared by the browser tests' fixtures and `make screenshots`.
"""

from __future__ import annotations

import os
import shutil

from playwright.async_api import Browser, Playwright


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("no chromium on PATH: apt-get install -y chromium (.ci/run does it)")
    return path


async def launch(playwright: Playwright) -> Browser:
    # --no-sandbox: CI and these machines run as root, where chromium refuses its sandbox.
    return await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
