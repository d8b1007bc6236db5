"""The web panel of the control API: station and fleet pages, their live feeds, and `/metrics`.

Served by `ControlApi` (see `install`); assets are package data under `static/`, no build step.
"""

from __future__ import annotations

from ocpp_station.shell.web.auth import TokenRequired, is_loopback, token_middleware
from ocpp_station.shell.web.fleet import FleetView, StationLine
from ocpp_station.shell.web.routes import FleetSources, FrameSource, install
from ocpp_station.shell.web.telemetry import FrameRecord, StationWatch, Telemetry

__all__ = [
    "FleetSources",
    "FleetView",
    "FrameRecord",
    "FrameSource",
    "StationLine",
    "StationWatch",
    "Telemetry",
    "TokenRequired",
    "install",
    "is_loopback",
    "token_middleware",
]
