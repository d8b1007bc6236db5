"""The fleet's HTTP side: the control API for every station plus fleet-wide routes, and `/metrics`.

Every station is reachable at `/api/stations/{id}/...` (the same routes and contract as `ocpp-station run`,
`shell/api.py`), through a `CoreControl` made on demand: no per-station server or object beyond the core. With a
frame trace (`--trace-mib`), `/api/stations/{id}/frames` lists the station's frames from it; the live feed
`/api/stations/{id}/events` carries its frames as they pass (`fleet/live.py`).
Fleet-wide: `GET /api/fleet/summary` (counts and counters; `GET /api/fleet` is the web panel's list of station
states, served by `create_app` for any directory), `POST /api/fleet/network {"share": 0.1, "online": false}`
(cut or restore the network of a share of the stations: a reconnect storm on demand).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ocpp_station.fleet.engine import Fleet
from ocpp_station.fleet.metrics import fleet_registry
from ocpp_station.shell.api import create_app
from ocpp_station.shell.control import ControlledStation
from ocpp_station.shell.station_control import CoreControl


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


def fleet_app(fleet: Fleet) -> web.Application:
    app = create_app(FleetDirectory(fleet), frame_source=fleet.live)

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
