"""Reset inside a running fleet (OCPP 1.6 §5.14; OCTT TC_013–TC_016): the station stops its transactions, lets
their messages out, closes (normally for a Soft reset, by dropping the connection for a Hard one), boots again
as a new core over the same store and hardware; its neighbours notice nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpp_station.fleet import driver as fleet_driver
from ocpp_station.fleet.driver import StationDriver
from ocpp_station.fleet.engine import Fleet
from tests.support.fleet_csms import FleetCsms
from tests.support.fleets import quiet_fleet, until

COUNT = 5
TARGET, NEIGHBOUR = "CP-002", "CP-003"


@pytest.fixture
async def fleet(csms: FleetCsms) -> AsyncIterator[Fleet]:
    async with quiet_fleet(csms.url, COUNT, seed=2) as running:
        yield running


async def _charging(station: StationDriver, connector_id: int, id_tag: str) -> int:
    """Card, then cable: a transaction the central system has given its id."""
    assert station.controls is not None
    station.controls.present_id_tag(id_tag, connector_id)
    station.controls.plug(station.core.now(), connector_id)

    def transaction_id() -> int | None:
        tx = station.core.connectors[connector_id - 1].transaction
        return None if tx is None else tx.transaction_id

    await until(lambda: transaction_id() is not None)
    tx_id = transaction_id()
    assert tx_id is not None
    return tx_id


@pytest.mark.parametrize(("kind", "close_code"), [("Soft", 1000), ("Hard", 1006)])
async def test_a_reset_reboots_the_station_and_leaves_its_neighbours_alone(
    fleet: Fleet, csms: FleetCsms, kind: str, close_code: int
) -> None:
    target, neighbour = fleet.by_id[TARGET], fleet.by_id[NEIGHBOUR]
    tx = await _charging(target, 1, "TAG-T")
    neighbour_tx = await _charging(neighbour, 1, "TAG-N")
    old_core = target.core
    # OCTT TC_013/TC_014: a connector made Inoperative stays Unavailable across the reset (OCPP 1.6 §5.2).
    reply = await csms.call(TARGET, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert reply == {"status": "Accepted"}
    await csms.wait_until(lambda c: c.statuses(TARGET, 2)[-1] == ("Unavailable", "NoError"))

    assert await csms.call(TARGET, "Reset", {"type": kind}) == {"status": "Accepted"}
    await csms.wait_until(lambda c: len(c.of(TARGET, "BootNotification")) == 2 and c.linked(TARGET))

    # The running transaction was stopped with the reset's reason (OCPP 1.6 §5.14, §7.44; OCTT TC_015/TC_016)
    # and its StopTransaction let out before the restart, over the connection that carried the Reset, as the
    # single-station runtime does (a hard reset may also send it after the reboot; the fleet never needs to).
    [stop] = csms.of(TARGET, "StopTransaction")
    assert stop.payload["transactionId"] == tx and stop.payload["reason"] == f"{kind}Reset"
    assert stop.connection == 1
    # Soft: the software restarts and closes the link normally; Hard: the hardware restarts, the connection just
    # drops (no closing handshake, RFC 6455 §7.1.5).
    assert csms.closes_of(TARGET) == [close_code]
    # A new core, booting again over a new connection (OCPP 1.6 §4.2: BootNotification after every boot).
    assert [b.connection for b in csms.of(TARGET, "BootNotification")] == [1, 2]
    assert target.core is not old_core
    await until(lambda: fleet.booted == COUNT)
    assert await csms.call(TARGET, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    # The EV is still plugged in (the hardware outlives the reset): no transaction runs, the cable waits.
    assert target.core.connectors[0].plugged and target.core.connectors[0].transaction is None

    def after_boot(c: FleetCsms) -> list[str]:
        statuses = c.of(TARGET, "StatusNotification")
        return [r.payload["status"] for r in statuses if r.connection == 2 and r.payload["connectorId"] == 2]

    await csms.wait_until(lambda c: bool(after_boot(c)))
    assert after_boot(csms) == ["Unavailable"]

    # The neighbours: still on their first connection, booted once, the neighbour's transaction still running.
    for station in fleet.drivers:
        if station is target:
            continue
        charge_box_id = station.charge_box_id
        assert csms.connections[charge_box_id] == 1 and csms.linked(charge_box_id)
        assert not csms.closes_of(charge_box_id)
        assert len(csms.of(charge_box_id, "BootNotification")) == 1
        assert not csms.of(charge_box_id, "StopTransaction")
    running = neighbour.core.connectors[0].transaction
    assert running is not None and running.transaction_id == neighbour_tx
    reply = await csms.call(NEIGHBOUR, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert reply["configurationKey"][0]["key"] == "HeartbeatInterval"


async def test_a_transaction_message_unanswered_at_a_reset_is_sent_again_after_the_reboot(
    fleet: Fleet, csms: FleetCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store outlives the reset (the new core runs over the same one): a StopTransaction the central system
    had not answered is sent again once the station has booted, before the one the reset caused."""
    # How long an accepted reset waits for the queue to drain: 0.5 s rather than 10, as nothing will drain here.
    monkeypatch.setattr(fleet_driver, "RESET_DRAIN_S", 0.5)
    target = fleet.by_id[TARGET]
    assert target.controls is not None
    first = await _charging(target, 1, "TAG-1")
    second = await _charging(target, 2, "TAG-2")
    csms.unanswered.add((TARGET, "StopTransaction"))
    target.controls.present_id_tag("TAG-1", 1)  # the driver ends the first session with their card
    await csms.wait_until(lambda c: len(c.of(TARGET, "StopTransaction")) == 1)

    # Inbound calls are answered while a call of the station's is waiting for its answer (OCPP-J 1.6 §4.1.1).
    assert await csms.call(TARGET, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    csms.unanswered.clear()
    await csms.wait_until(lambda c: len(c.of(TARGET, "StopTransaction")) == 3)

    stops = [
        (s.payload["transactionId"], s.payload["reason"], s.connection) for s in csms.of(TARGET, "StopTransaction")
    ]
    assert stops == [(first, "Local", 1), (first, "Local", 2), (second, "SoftReset", 2)]
    assert csms.closes_of(TARGET) == [1000]
    # The reboot first, then the queue (OCPP 1.6 §4.2.1).
    assert next(r for r in csms.of(TARGET) if r.connection == 2).action == "BootNotification"
    await until(lambda: target.core.store.queue_length() == 0)
