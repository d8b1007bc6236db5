"""The panel's routes on the control API's aiohttp application.

Pages: `/` (the station page, or the fleet page when serving several stations), `/fleet`,
`/stations/{chargeBoxId}`, assets at `/static/{name}`. Data: `/api[/stations/{id}]/details`,
`/frames`, `/events` (server-sent events), `/api/fleet`, `/api/fleet/events`, and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ocpp_station.shell.control import ControlError, ControlledStation, StationDirectory
from ocpp_station.shell.web import feeds, fleet, station_view
from ocpp_station.shell.web.auth import presented_token
from ocpp_station.shell.web.metrics import registry_for
from ocpp_station.shell.web.telemetry import FrameRecord, StationWatch, Telemetry

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FrameSource(Protocol):
    """The frames of stations no `Telemetry` watches all the time (a fleet's: `fleet/live.py`)."""

    def frames_of(self, charge_box_id: str) -> list[FrameRecord]:
        """The station's frames kept so far, oldest first (a fleet's trace)."""
        ...

    def watching(self, charge_box_id: str) -> AbstractContextManager[StationWatch]:
        """A watch of the station's frames from now on, while a live feed is open."""
        ...


@dataclass(frozen=True, slots=True)
class FleetSources:
    """What a fleet process gives the panel in place of reading each station, which ten thousand stations make too
    slow for a page read every second or a scrape (the defaults serve a control API of a few stations)."""

    frames: FrameSource | None = None  # frames of stations no `Telemetry` watches: kept, and live
    view: fleet.FleetView | None = None  # the fleet page's states and traffic
    metrics: CollectorRegistry | None = None  # `/metrics` (default: per-station series from every station)


_STATIC = resources.files(__package__).joinpath("static")
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
_CLOSING = web.AppKey("panel_closing", asyncio.Event)
FRAME_LIMIT = 500


def _json(document: Any) -> web.Response:
    return web.Response(text=json.dumps(document, default=feeds.json_default), content_type="application/json")


class PanelRoutes:
    def __init__(
        self,
        directory: StationDirectory,
        telemetry: Telemetry,
        fault_codes: list[str],
        sources: FleetSources | None = None,
    ) -> None:
        sources = sources or FleetSources()
        self._directory = directory
        self._telemetry = telemetry
        self._frame_source = sources.frames
        self._fleet_view = sources.view
        self._fault_codes = fault_codes
        self._registry = sources.metrics or registry_for(directory, telemetry)

    def station_routes(self) -> list[tuple[str, _Handler]]:
        """(path after `/api` or `/api/stations/{chargeBoxId}`, handler): GET routes mirrored like the API's."""
        return [("/details", self.details), ("/frames", self.frames), ("/events", self.events)]

    def _station(self, request: web.Request) -> ControlledStation:
        charge_box_id = request.match_info.get("chargeBoxId")
        station = self._directory.default() if charge_box_id is None else self._directory.get(charge_box_id)
        if station is None:
            raise ControlError(404, f"no station {charge_box_id!r}; GET /api/stations lists them")
        return station

    # -- pages --------------------------------------------------------------------------------------
    def _page(self, request: web.Request, name: str) -> web.Response:
        token = presented_token(request)
        # Asset links carry the token the page was opened with: a browser sends no header for them.
        query = f"?token={quote(token, safe='')}" if token else ""
        text = _STATIC.joinpath(name).read_text(encoding="utf-8").replace("__ASSET_QUERY__", html.escape(query))
        return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-cache"})

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._page(request, "fleet.html" if len(self._directory.ids()) > 1 else "station.html")

    async def fleet_page(self, request: web.Request) -> web.StreamResponse:
        return self._page(request, "fleet.html")

    async def station_page(self, request: web.Request) -> web.StreamResponse:
        self._station(request)
        return self._page(request, "station.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        resource = _STATIC.joinpath(name)
        suffix = "." + name.rpartition(".")[2]
        if "/" in name or name.startswith(".") or suffix == ".html" or not resource.is_file():
            raise ControlError(404, f"no asset {name!r}")
        content_type = _CONTENT_TYPES.get(suffix, "application/octet-stream")
        return web.Response(body=resource.read_bytes(), content_type=content_type)

    # -- data ---------------------------------------------------------------------------------------
    async def details(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        return _json(
            {
                "chargeBoxId": station.charge_box_id,
                "firmwareVersion": station_view.firmware_version(station),
                "faultCodes": self._fault_codes,
                "configuration": station_view.configuration(station),
            }
        )

    async def frames(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        action = request.query.get("action") or None
        watch = self._telemetry.get(station.charge_box_id)
        if watch is not None:
            records = list(watch.frames)
        elif self._frame_source is not None:
            records = self._frame_source.frames_of(station.charge_box_id)
        else:
            records = []
        if action is not None:
            records = [r for r in records if r.action == action]
        return _json({"frames": [r.to_json() for r in records[-FRAME_LIMIT:]]})

    async def events(self, request: web.Request) -> web.StreamResponse:
        station = self._station(request)
        watch = self._telemetry.get(station.charge_box_id)
        with contextlib.ExitStack() as stack:
            if watch is None and self._frame_source is not None:
                watch = stack.enter_context(self._frame_source.watching(station.charge_box_id))
            return await feeds.station_stream(
                request, watch, lambda: station_view.snapshot(station), request.app[_CLOSING]
            )

    def _summary(self, request: web.Request) -> dict[str, Any]:
        query = request.query.get("q", "")
        return fleet.summary(self._directory, self._telemetry, self._fleet_view, query=query)

    async def fleet(self, request: web.Request) -> web.StreamResponse:
        return _json(self._summary(request))

    async def fleet_events(self, request: web.Request) -> web.StreamResponse:
        return await feeds.summary_stream(request, lambda: self._summary(request), request.app[_CLOSING])

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(body=generate_latest(self._registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


async def _stop_feeds(app: web.Application) -> None:
    # Ends the open event streams so that shutting down does not wait for them to time out.
    app[_CLOSING].set()


def install(
    app: web.Application,
    directory: StationDirectory,
    telemetry: Telemetry,
    fault_codes: list[str],
    station_prefix: str,
    sources: FleetSources | None = None,
) -> None:
    """Add the panel's routes to the control API's application."""
    routes = PanelRoutes(directory, telemetry, fault_codes, sources)
    app[_CLOSING] = asyncio.Event()
    app.on_shutdown.append(_stop_feeds)
    for suffix, handler in routes.station_routes():
        for prefix in ("/api", station_prefix):
            app.router.add_get(prefix + suffix, handler, allow_head=False)
    for path, handler in (
        ("/", routes.index),
        ("/fleet", routes.fleet_page),
        ("/stations/{chargeBoxId}", routes.station_page),
        ("/static/{name}", routes.static),
        ("/api/fleet", routes.fleet),
        ("/api/fleet/events", routes.fleet_events),
        ("/metrics", routes.metrics),
    ):
        app.router.add_get(path, handler, allow_head=False)
