"""Waiting for what callbacks report, with a timeout, instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

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

    async def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()
