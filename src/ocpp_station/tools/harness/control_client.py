"""The tester's hands: the manual actions of the OCTT document (`[EV driver plugs in the cable.]`, ...)
performed through the station's HTTP control API (contract: `control.py`, `openapi.json`).

Only the short `/api/...` routes are used: each case runs one station per control API, which is then
the directory's default station.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from ocpp_station.tools.harness.csms import CaseFailure


class ControlRequestFailed(CaseFailure):
    """The control API refused a manual action (the station could not be put in the required state)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"control API {method} {path} answered HTTP {status}: {body.strip()[:300]}")
        self.status = status
        self.body = body


class ControlClient:
    """An aiohttp client for one control API; use as an async context manager (or call close())."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- the routes of the control contract ------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        result = await self._request("GET", "/api/state")
        if not isinstance(result, dict):
            raise CaseFailure(f"GET /api/state returned {result!r}, expected an object")
        return result

    async def connector_ids(self) -> list[int]:
        """The station's connectors (connector 0, the station itself, excluded)."""
        state = await self.state()
        return sorted(int(c["connectorId"]) for c in state.get("connectors", []) if int(c["connectorId"]) > 0)

    async def connector_state(self, connector_id: int) -> dict[str, Any]:
        state = await self.state()
        for connector in state.get("connectors", []):
            if int(connector["connectorId"]) == connector_id:
                return dict(connector)
        raise CaseFailure(f"GET /api/state has no connector {connector_id}")

    async def plug(self, connector_id: int) -> None:
        """[EV driver plugs in the cable] — on both the EV and the Charge Point side."""
        await self._request("POST", f"/api/connectors/{connector_id}/plug")

    async def unplug(self, connector_id: int, side: str | None = None) -> None:
        """[EV driver unplugs the cable]: the whole cable (side None), or "ev" for [EV driver unplugs cable on
        EV side] (a detachable cable then stays in the socket until a plain unplug takes it out)."""
        body = None if side is None else {"side": side}
        await self._request("POST", f"/api/connectors/{connector_id}/unplug", body)

    async def present_id_tag(self, id_tag: str, connector_id: int | None = None) -> None:
        """[EV driver presents identification]."""
        body: dict[str, Any] = {"idTag": id_tag}
        if connector_id is not None:
            body["connectorId"] = connector_id
        await self._request("POST", "/api/rfid", body)

    async def set_online(self, online: bool) -> None:
        await self._request("POST", "/api/network", {"online": online})

    async def set_fault(self, connector_id: int, error_code: str, info: str | None = None) -> None:
        body: dict[str, Any] = {"errorCode": error_code}
        if info is not None:
            body["info"] = info
        await self._request("POST", f"/api/connectors/{connector_id}/fault", body)

    async def clear_fault(self, connector_id: int) -> None:
        await self._request("DELETE", f"/api/connectors/{connector_id}/fault")

    async def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        await self._request("POST", f"/api/connectors/{connector_id}/lock-failure", {"failing": failing})

    async def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        await self._request("POST", f"/api/connectors/{connector_id}/unlock-failure", {"failing": failing})

    async def set_ev_suspended(self, connector_id: int, suspended: bool) -> None:
        await self._request("POST", f"/api/connectors/{connector_id}/ev-suspended", {"suspended": suspended})

    async def set_local_list_failure(self, failing: bool) -> None:
        """[The Charge Point is in a state in which it will fail to set a Local List] (OCTT TC_043_3)."""
        await self._request("POST", "/api/local-list-failure", {"failing": failing})

    # --- transport ------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            # Created lazily so that it belongs to the running event loop.
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(method, self.base_url + path, json=body) as response:
                text = await response.text()
                if response.status >= 400:
                    raise ControlRequestFailed(method, path, response.status, text)
        except aiohttp.ClientError as exc:
            raise CaseFailure(f"control API {method} {path} failed: {exc}") from None
        return json.loads(text) if text.strip() else None
