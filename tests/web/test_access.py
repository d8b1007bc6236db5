"""The API token: required to listen beyond loopback, then checked on every request, live feeds included."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from ocpp_station.shell.api import ApiStartError, ControlApi, DictStationDirectory
from ocpp_station.shell.web import is_loopback
from tests.web.conftest import start_panel, stop_panel

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "panel-secret"
EVERY_KIND = ["/", "/fleet", "/static/panel.js", "/api/state", "/api/details", "/api/events", "/metrics"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_listening_beyond_loopback_needs_a_token(host: str) -> None:
    api = ControlApi(DictStationDirectory())
    with pytest.raises(ApiStartError, match="needs an API token"):
        await api.start(host, 0)


async def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.org", ""]))


async def test_every_request_needs_the_token(tmp_path: Path) -> None:
    panel = await start_panel(tmp_path, token=TOKEN)
    try:
        async with aiohttp.ClientSession() as session:
            for path in EVERY_KIND:
                async with session.get(panel.url + path) as response:
                    assert response.status == 401, path
                    assert "token" in (await response.json())["error"]
                async with session.get(panel.url + path, headers={"Authorization": "Bearer wrong"}) as response:
                    assert response.status == 401, path
            async with session.post(panel.url + "/api/network", json={"online": False}) as response:
                assert response.status == 401
            assert panel.runtime.core.connected  # the refused request changed nothing

            bearer = {"Authorization": f"Bearer {TOKEN}"}
            for path in ("/", "/api/state", "/metrics"):
                async with session.get(panel.url + path, headers=bearer) as response:
                    assert response.status == 200, path
            # What a browser's EventSource can send: the token in the query.
            async with session.get(panel.url + f"/api/events?token={TOKEN}") as response:
                assert response.status == 200
                assert response.content_type == "text/event-stream"
                assert (await response.content.readline()).startswith(b"retry:")
            # The page hands its token on to the assets it loads.
            async with session.get(panel.url + f"/?token={TOKEN}") as response:
                page = await response.text()
            assert f'src="/static/panel.js?token={TOKEN}"' in page
    finally:
        await stop_panel(panel)
