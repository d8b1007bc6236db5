"""The scenario's faults, network drops and remote starts, as a central system sees them (tests/support/fleet_csms.py).

The rates themselves are tested on a virtual clock (test_scenario_rates.py); here a seeded scenario runs a small
fleet against a real central system on 127.0.0.1, and the test checks what each kind of event puts on the wire.
"""

from __future__ import annotations

import itertools
from typing import Any

from ocpp_station.fleet.engine import Fleet, FleetOptions, station_ids
from ocpp_station.fleet.scenario import parse_scenario
from ocpp_station.settings import parse_settings
from tests.support.fleet_csms import FleetCsms, Received

QUIET = {"WebSocketPingInterval": 0, "MeterValueSampleInterval": 0, "AuthorizationCacheEnabled": False}


def _fleet(url: str, count: int, scenario: dict[str, Any], seed: int, connectors: int = 1) -> Fleet:
    return Fleet(
        FleetOptions(
            csms_url=url,
            ids=station_ids("CP-{n:03d}", count),
            settings=parse_settings({"hardware": {"connectors": connectors}}),
            scenario=parse_scenario(scenario),
            seed=seed,
            ramp_per_s=100.0,
        )
    )


def _cleared(csms: FleetCsms, station: str) -> int:
    """Faults reported over and done with: each Faulted followed by an Available."""
    statuses = [status for status, _ in csms.statuses(station, 1)]
    return sum(1 for a, b in itertools.pairwise(statuses) if a == "Faulted" and b == "Available")


async def test_seeded_faults_and_drops_reach_the_csms_as_statuses_and_reconnections(csms: FleetCsms) -> None:
    # Idle periods of 0.2–0.4 s, each ending in a fault or a network drop (the rates are beyond what the cycles
    # allow: no session at all), faults and drops of 0.2–0.4 s.
    scenario = {
        "sessions": {"inter_arrival_s": [0.2, 0.4]},
        "faults": {"per_hour": 36_000, "duration_s": [0.2, 0.4], "error_code": "HighTemperature"},
        "network": {"per_hour": 36_000, "duration_s": [0.2, 0.4]},
        "configuration": QUIET,
    }
    count = 8
    ids = station_ids("CP-{n:03d}", count)
    fleet = _fleet(csms.url, count, scenario, seed=21)
    fleet.start()
    try:
        # Every station has been through at least three of them, and the fleet as a whole through both kinds.
        await csms.wait_until(
            lambda c: (
                all(_cleared(c, i) + c.connections[i] - 1 >= 3 for i in ids)
                and sum(_cleared(c, i) for i in ids) >= 4
                and sum(c.connections.values()) - count >= 4
            ),
            timeout=30,
        )
    finally:
        fleet.stop()
    await csms.wait_until(lambda c: not any(c.linked(i) for i in ids))
    # A drop is a pulled cable: no closing handshake (RFC 6455 §7.1.5: 1006 here); the link then simply comes
    # back, without a new BootNotification (a reconnection is not a reboot, OCPP 1.6 §4.2.1). Only the end of
    # the run closes normally (1000).
    assert csms.calls["BootNotification"] == count
    for driver in fleet.drivers:
        closes = csms.closes_of(driver.charge_box_id)
        assert len(closes) == csms.connections[driver.charge_box_id]
        assert all(code == 1006 for code in closes[:-1]) and closes[-1] in (1000, 1006)
        # The station counted every connection the CSMS saw but, perhaps, a last one that the stop cut during its
        # handshake (closed without a closing handshake too).
        missed = len(closes) - driver.connections
        assert missed == 0 or (missed == 1 and closes[-1] == 1006)
    assert fleet.stats.reconnects == sum(d.connections - 1 for d in fleet.drivers) >= 4
    assert fleet.stats.connects == sum(d.connections for d in fleet.drivers)
    assert "connection-lost" not in fleet.stats.errors
    for station in ids:
        statuses = csms.statuses(station, 1)
        assert statuses[0] == ("Available", "NoError")  # after the boot
        # A fault is reported with the scenario's error code (OCPP 1.6 §4.9, §7.6) and its end by Available with
        # NoError: they alternate, the last one possibly still open when the fleet stopped.
        for (status, code), (after, _) in itertools.pairwise(statuses):
            assert code == ("HighTemperature" if status == "Faulted" else "NoError")
            assert (status == "Faulted") != (after == "Faulted")
        assert statuses[-1][1] == ("HighTemperature" if statuses[-1][0] == "Faulted" else "NoError")
    # Faults and drops only: no card, no session.
    assert not csms.calls["Authorize"] and not csms.calls["StartTransaction"]


async def test_a_remote_start_is_plugging_in_and_waiting_for_the_csms(csms: FleetCsms) -> None:
    """`remote` sessions: the fleet plugs the EV in and waits; it is the central system that starts the
    transaction (RemoteStartTransaction, OCPP 1.6 §5.11) or not. Here it does for the odd stations only."""
    scenario = {
        "sessions": {"inter_arrival_s": [0.2, 0.4], "duration_s": [0.5, 1.0], "tag_first": 0, "remote": 1},
        "configuration": QUIET,
    }
    count = 6
    ids = station_ids("CP-{n:03d}", count)
    starting = set(ids[0::2])
    answers: list[dict[str, Any]] = []

    async def remote_start(station: str) -> None:
        answers.append(await csms.call(station, "RemoteStartTransaction", {"connectorId": 1, "idTag": f"R-{station}"}))

    def on_call(c: FleetCsms, received: Received) -> None:
        p = received.payload
        if received.station in starting and received.action == "StatusNotification" and p["status"] == "Preparing":
            c.spawn(remote_start(received.station))

    csms.on_call = on_call
    fleet = _fleet(csms.url, count, scenario, seed=5)
    fleet.start()
    try:
        # Each station has had an EV plugged in and gone: Preparing, then Available again.
        def came_and_went(c: FleetCsms, station: str) -> bool:
            statuses = [s for s, _ in c.statuses(station, 1)]
            return "Preparing" in statuses and "Available" in statuses[statuses.index("Preparing") :]

        await csms.wait_until(
            lambda c: all(c.of(i, "StopTransaction") for i in starting) and all(came_and_went(c, i) for i in ids),
            timeout=30,
        )
    finally:
        fleet.stop()
    assert answers and all(a == {"status": "Accepted"} for a in answers)
    for station in ids:
        starts = csms.of(station, "StartTransaction")
        if station not in starting:
            # Nobody started it: no card was presented, no transaction.
            assert not starts and not csms.of(station, "Authorize")
            continue
        # AuthorizeRemoteTxRequests is true by default: the remote idTag is authorized first (OCPP 1.6 §5.11).
        assert [a.payload["idTag"] for a in csms.of(station, "Authorize")] == [f"R-{station}"] * len(starts)
        assert all(s.payload["idTag"] == f"R-{station}" and s.payload["connectorId"] == 1 for s in starts)
        # The EV driver ends it with the card the CSMS started it for: reason Local (OCPP 1.6 §7.44).
        for stop in csms.of(station, "StopTransaction"):
            assert stop.payload["reason"] == "Local" and stop.payload["idTag"] == f"R-{station}"
            assert csms.transaction_ids[stop.payload["transactionId"]] == station


async def test_evs_arrive_at_every_connector_of_a_station(csms: FleetCsms) -> None:
    """The certified product has two connectors: each has EVs of its own (issue 11: arrivals per connector)."""
    scenario = {"sessions": {"inter_arrival_s": [0.2, 0.4], "duration_s": [0.6, 1.0]}, "configuration": QUIET}
    count = 4
    ids = station_ids("CP-{n:03d}", count)
    fleet = _fleet(csms.url, count, scenario, seed=9, connectors=2)
    fleet.start()
    try:

        def charged_and_finished(c: FleetCsms, station: str, connector_id: int) -> bool:
            statuses = [status for status, _ in c.statuses(station, connector_id)]
            return "Charging" in statuses and "Finishing" in statuses[statuses.index("Charging") :]

        def both_connectors_charged(c: FleetCsms, station: str) -> bool:
            return all(charged_and_finished(c, station, n) for n in (1, 2))

        await csms.wait_until(lambda c: all(both_connectors_charged(c, i) for i in ids), timeout=30)
    finally:
        fleet.stop()
    for station in ids:
        # A transaction on each connector, each ended by its own card.
        starts = csms.of(station, "StartTransaction")
        assert {s.payload["connectorId"] for s in starts} == {1, 2}
        tags = {s.payload["idTag"] for s in starts}
        assert {stop.payload["idTag"] for stop in csms.of(station, "StopTransaction")} <= tags
