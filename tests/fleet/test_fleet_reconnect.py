"""A station of a running fleet asks for a new connection (security whitepaper A01: a new AuthorizationKey in
security profile 1 or 2): it closes normally (1000) and connects again at once with the new credentials, without
a new BootNotification, as the single station's link does; its neighbours notice nothing.
"""

from __future__ import annotations

import base64
from contextlib import AbstractAsyncContextManager

from ocpp_station.fleet.engine import Fleet
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import quiet_fleet

COUNT = 3
TARGET = "CP-002"
OLD_KEY = "0123456789abcdef0123456789abcdef01234567"
NEW_KEY = "fedcba9876543210fedcba9876543210"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{TARGET}:{key}".encode()).decode()


def running_fleet(
    csms: FleetCsms, *, reconnect_min_s: float, configuration: dict[str, object] | None = None
) -> AbstractAsyncContextManager[Fleet]:
    network = {"reconnect_min_s": reconnect_min_s, "reconnect_max_s": max(reconnect_min_s, 60.0)}
    keys = {"SecurityProfile": 1, "AuthorizationKey": OLD_KEY, **(configuration or {})}
    return quiet_fleet(csms.url, COUNT, seed=4, settings={"network": network}, configuration=keys)


async def test_a_new_authorization_key_reconnects_at_once_with_it(csms: FleetCsms) -> None:
    # A back-off of 30 s or more: a reconnection within the wait below is the one the core asked for.
    async with running_fleet(csms, reconnect_min_s=30.0) as fleet:
        assert csms.authorizations[TARGET] == [basic(OLD_KEY)]
        reply = await csms.call(TARGET, "ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_KEY})
        assert reply == {"status": "Accepted"}
        await csms.wait_until(lambda c: c.connections[TARGET] == 2 and c.linked(TARGET), timeout=5)

        assert csms.closes_of(TARGET) == [1000]
        assert csms.authorizations[TARGET] == [basic(OLD_KEY), basic(NEW_KEY)]
        # A reconnection, not a reboot; the request was taken by the connection that followed it.
        assert len(csms.of(TARGET, "BootNotification")) == 1
        assert fleet.by_id[TARGET].core.reconnect_request is None
        assert await csms.call(TARGET, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        for charge_box_id in ("CP-001", "CP-003"):
            assert csms.connections[charge_box_id] == 1 and not csms.closes_of(charge_box_id)
            assert csms.authorizations[charge_box_id] == [
                "Basic " + base64.b64encode(f"{charge_box_id}:{OLD_KEY}".encode()).decode()
            ]


async def test_a_request_made_while_offline_is_taken_by_the_next_connection(csms: FleetCsms) -> None:
    async with running_fleet(csms, reconnect_min_s=0.2) as fleet:
        target = fleet.by_id[TARGET]
        target.set_online(False)
        await csms.wait_until(lambda c: not c.linked(TARGET))
        target.core.request_reconnect("test: asked while offline")
        target.set_online(True)
        # Something the station sent over its next connection: it has taken that connection as open.
        await csms.wait_until(lambda c: any(r.connection == 2 for r in c.of(TARGET)))
        assert target.core.reconnect_request is None
        # That connection is the new one the request asked for: it is kept (round trips over it, still the second
        # connection, the one before it ended only by the pulled cable).
        for _ in range(2):
            assert await csms.call(TARGET, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert csms.connections[TARGET] == 2 and csms.closes_of(TARGET) == [1006]


async def test_the_call_out_is_answered_or_timed_out_before_the_reconnection(csms: FleetCsms) -> None:
    """As the link's writer: the request is acted on once no call of the station's is waiting for its answer."""
    async with running_fleet(csms, reconnect_min_s=30.0, configuration={"MessageTimeout": 2}) as fleet:
        csms.unanswered.add((TARGET, "Heartbeat"))
        heartbeats = len(csms.of(TARGET, "Heartbeat"))
        await csms.wait_until(lambda c: len(c.of(TARGET, "Heartbeat")) > heartbeats)
        reply = await csms.call(TARGET, "ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_KEY})
        assert reply == {"status": "Accepted"}
        assert fleet.stats.errors["timeout"] == 0
        await csms.wait_until(lambda c: c.connections[TARGET] == 2 and c.linked(TARGET), timeout=10)
        # The Heartbeat waited for its answer until MessageTimeout (it did not fail as disconnected first).
        assert fleet.stats.errors["timeout"] == 1
        assert csms.closes_of(TARGET) == [1000]
        assert csms.authorizations[TARGET] == [basic(OLD_KEY), basic(NEW_KEY)]
