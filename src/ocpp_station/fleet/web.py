"""The fleet's HTTP side: the control API for every station plus fleet-wide routes, and `/metrics`.

Every station is reachable at `/api/stations/{id}/...` (the same routes and contract as `ocpp-station run`,
`shell/api.py`), through a `CoreControl` made on demand: no per-station server or object beyond the core. With a
frame trace (`--trace-mib`), `/api/stations/{id}/frames` lists the station's frames from it; the live feed
`/api/stations/{id}/events` carries its frames as they pass (`fleet/live.py`).
Fleet-wide: `GET /api/fleet/summary` (counts and counters), `POST /api/fleet/network {"share": 0.1, "online":
false}` (cut or restore the network of a share of the stations: a reconnect storm on demand). The web panel's
fleet page (`GET /api/fleet`, served by `create_app` for any directory) reads the fleet through `FleetPanelView`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ocpp_station.fleet.engine import Fleet
from ocpp_station.fleet.metrics import fleet_registry
from ocpp_station.fleet.stats import LogHistogram
from ocpp_station.shell.api import create_app
from ocpp_station.shell.control import ControlledStation
from ocpp_station.shell.station_control import CoreControl
from ocpp_station.shell.web import FleetSources
from ocpp_station.shell.web.fleet import StationLine, response_time_ms
from ocpp_station.shell.web.telemetry import RATE_WINDOW_S
from ocpp_station.station.connector import derive_status
from ocpp_station.station.contract import Registration


class FleetDirectory:
    """`StationDirectory` over a fleet: a control object per request, none kept per station."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def get(self, charge_box_id: str) -> ControlledStation | None:
        driver = self._fleet.by_id.get(charge_box_id)
        if driver is None:
            return None
        return CoreControl(driver.core, driver.controls, driver.set_online)

    def ids(self) -> list[str]:
        return list(self._fleet.by_id)

    def default(self) -> ControlledStation | None:
        first = next(iter(self._fleet.by_id), None)
        return None if first is None else self.get(first)


class FleetPanelView:
    """The panel's fleet page for a fleet process (`shell/web/fleet.py`): each station's state from its driver's
    attributes (no state document per station per second) and the traffic from the fleet's own counters, as the
    progress line and the report count it: calls in both directions per second, CSMS response times since the
    start of the run, CallErrors received, response timeouts."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic, fleet.messages()), one a second at most

    def lines(self) -> Iterator[StationLine]:
        # Read every second for every station: names looked up once, and no str() of a status (a StrEnum is one).
        accepted = Registration.ACCEPTED
        status_of = derive_status
        for driver in self._fleet.drivers:
            core = driver.core
            if not driver.connected:
                state = "disconnected"
            else:
                state = "registered" if core.registration is accepted else "connected"
            inoperative, fault = core.station_inoperative, core.station_fault
            statuses = tuple([status_of(c, inoperative, fault) for c in core.connectors])
            yield StationLine(core.charge_box_id, state, statuses)

    def traffic(self) -> dict[str, Any]:
        stats = self._fleet.stats
        responses = LogHistogram()
        for histogram in stats.response_time.values():
            responses.merge(histogram)
        return {
            "msgsPerS": self._rate(),
            "responseTimeMs": response_time_ms(lambda p: responses.quantile(p / 100)),
            "callErrors": sum(stats.call_errors.values()),
            "timeouts": stats.errors["timeout"],
        }

    def _rate(self) -> float:
        now, count = time.monotonic(), self._fleet.messages()
        samples = self._samples
        if not samples or now - samples[-1][0] >= 1.0:
            samples.append((now, count))
        while len(samples) > 1 and now - samples[0][0] > RATE_WINDOW_S:
            samples.popleft()
        first_at, first = samples[0]
        return (count - first) / (now - first_at) if now > first_at else 0.0


def fleet_app(fleet: Fleet) -> web.Application:
    # `/metrics` here is the fleet's own registry, as on `--metrics`: per-station series read from ten thousand
    # stations took 732 ms per scrape (4.4 MB, 70 000 series), during which no station's timer fired.
    sources = FleetSources(frames=fleet.live, view=FleetPanelView(fleet), metrics=fleet_registry(fleet))
    app = create_app(FleetDirectory(fleet), fleet=sources)

    async def summary(request: web.Request) -> web.Response:
        stats = fleet.stats
        document: dict[str, Any] = {
            **fleet.counts(),
            "sent": dict(stats.sent),
            "received": dict(stats.received),
            "errors": dict(stats.errors),
            "reconnects": stats.reconnects,
            "sessions": stats.sessions,
        }
        return web.json_response(document)

    async def network(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            share = float(body["share"])
            online = body["online"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"share": 0..1, "online": true|false}'}, status=400)
        if not 0 <= share <= 1 or not isinstance(online, bool):
            return web.json_response({"error": "share must be within 0..1 and online a boolean"}, status=422)
        changed = fleet.set_online(share, online)
        return web.json_response({"stations": len(changed), "online": online})

    app.router.add_get("/api/fleet/summary", summary, allow_head=False)
    app.router.add_post("/api/fleet/network", network)
    return app


def metrics_app(fleet: Fleet) -> web.Application:
    registry = fleet_registry(fleet)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics, allow_head=False)
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else port
