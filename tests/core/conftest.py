"""Fixtures shared by the tests that drive the station core without sockets or files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.support.core_driver import CoreDriver


@pytest.fixture(autouse=True)
def no_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure station runs on the in-memory store here: opening a SQLite database is a test failure."""

    def refuse(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise AssertionError(f"a core test opened a SQLite database: {args[:1]}")

    monkeypatch.setattr(sqlite3, "connect", refuse)


@pytest.fixture
def cp_overrides() -> dict[str, str]:
    """Configuration-key overrides for the `cp` station; a test module overrides this fixture."""
    return {}


@pytest.fixture
def cp(cp_overrides: dict[str, str]) -> Iterator[CoreDriver]:
    """A booted station core (BootNotification and the first StatusNotifications already taken)."""
    driver = CoreDriver(cp_overrides)
    driver.connect()
    driver.take()
    yield driver
    driver.close()
