"""Waiting for what callbacks report, with a timeout, instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ocpp_station.hardware.parts import Fault


@dataclass
class Events:
    """Records callback events; `wait` returns once a condition holds (checked at every event)."""

    items: list[object] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, item: object) -> None:
        self.items.append(item)
        self._changed.set()

    def fault_callback(self, fault: Fault | None) -> None:
        self.add(fault)

    async def wait(
        self, predicate: Callable[[], bool], timeout: float = 5.0, *, poll_logs: pytest.LogCaptureFixture | None = None
    ) -> None:
        """`poll_logs`: log records count as events too (for a condition on what was logged)."""
        handler = _EventsHandler(self)
        if poll_logs is not None:
            poll_logs.handler.addFilter(handler.forward)
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        finally:
            if poll_logs is not None:
                poll_logs.handler.removeFilter(handler.forward)


class _EventsHandler:
    """Forwards each captured log record to `Events` (a logging filter that keeps every record)."""

    def __init__(self, events: Events) -> None:
        self._events = events

    def forward(self, record: logging.LogRecord) -> bool:
        self._events.add(record)
        return True
