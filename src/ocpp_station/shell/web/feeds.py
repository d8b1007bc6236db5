"""Server-sent event streams: a station's state and frames, and the fleet summary.

Each stream sends `retry:` so the browser's EventSource comes back by itself after a restart, ends
when the server shuts down (the `closing` event), and never blocks the link: frames come through a
bounded queue (see `StationWatch.subscribe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from ocpp_station.shell.web.telemetry import FrameRecord, StationWatch

STATE_INTERVAL_S = 1.0  # the chart's resolution; also how soon a dead client is noticed
RETRY_MS = 1000  # how soon a browser reconnects after the station went away


def json_default(value: object) -> object:
    # Meter values are Decimals in the station; JSON has one number type.
    return float(value) if isinstance(value, Decimal) else str(value)


def event_bytes(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=json_default)}\n\n".encode()


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    return response


async def _next_frame(queue: asyncio.Queue[FrameRecord] | None, closing: asyncio.Event) -> FrameRecord | None:
    """The next frame within STATE_INTERVAL_S; None when the interval passed or the server is closing."""
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(closing.wait())]
    if queue is not None:
        waiters.append(asyncio.create_task(queue.get()))
    try:
        done, _ = await asyncio.wait(waiters, timeout=STATE_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
    frames = [result for task in done if isinstance(result := task.result(), FrameRecord)]
    return frames[0] if frames else None


async def station_stream(
    request: web.Request,
    watch: StationWatch | None,
    snapshot: Callable[[], dict[str, Any]],
    closing: asyncio.Event,
) -> web.StreamResponse:
    response = await open_stream(request)
    with contextlib.suppress(ConnectionError), contextlib.ExitStack() as stack:
        queue = stack.enter_context(watch.subscribe()) if watch is not None else None
        await response.write(event_bytes("state", snapshot()))
        loop = asyncio.get_running_loop()
        next_state = loop.time() + STATE_INTERVAL_S
        while not closing.is_set():
            frame = await _next_frame(queue, closing)
            if frame is not None:
                await response.write(event_bytes("frame", frame.to_json()))
            if loop.time() >= next_state:
                next_state = loop.time() + STATE_INTERVAL_S
                await response.write(event_bytes("state", snapshot()))
    return response


async def summary_stream(
    request: web.Request, summary: Callable[[], dict[str, Any]], closing: asyncio.Event
) -> web.StreamResponse:
    response = await open_stream(request)
    with contextlib.suppress(ConnectionError):
        while not closing.is_set():
            await response.write(event_bytes("fleet", summary()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATE_INTERVAL_S):
                    await closing.wait()
    return response
