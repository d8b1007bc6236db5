"""Fixtures shared by the tests that drive the station core without sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.core_driver import CoreDriver


@pytest.fixture
def cp_overrides() -> dict[str, str]:
    """Configuration-key overrides for the `cp` station; a test module overrides this fixture."""
    return {}


@pytest.fixture
def cp(tmp_path: Path, cp_overrides: dict[str, str]) -> Iterator[CoreDriver]:
    """A booted station core (BootNotification and the first StatusNotifications already taken)."""
    driver = CoreDriver(cp_overrides)
    driver.connect()
    driver.take()
    yield driver
    driver.close()
