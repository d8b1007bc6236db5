"""Security profiles 2 and 3 in a fleet (security whitepaper §2, A05): each station dials TLS as its SecurityProfile
says, verified against its own installed CentralSystemRootCertificate, with its own Charge Point certificate in
profile 3; an upgrade that cannot connect falls back (A05.FR.08), as the single station's link does.

The central system is a real wss:// server on 127.0.0.1 with the demo PKI's certificates (`ocpp-station pki init`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from ocpp_station.fleet.endpoints import TLS_READ_BUFFER
from ocpp_station.fleet.engine import Fleet
from ocpp_station.security.demo_pki import CertificateAuthority, DemoPki, init_demo_pki, load_authority
from ocpp_station.security.tls import server_context
from tests.support.fleet_csms import FleetCsms, TlsSeen
from tests.support.fleets import quiet_fleet, until

KEY = "0123456789abcdef0123456789abcdef01234567"
IDS = ("CP-001", "CP-002", "CP-003")


def basic(charge_box_id: str) -> str:
    return "Basic " + base64.b64encode(f"{charge_box_id}:{KEY}".encode()).decode()


@pytest.fixture
def pki(tmp_path: Path) -> DemoPki:
    return init_demo_pki(tmp_path / "pki", cpo_name="Fleet CPO")


@pytest.fixture
async def tls_csms(pki: DemoPki) -> AsyncIterator[FleetCsms]:
    """wss:// that asks for a client certificate chaining to the CPO root, and also takes stations without one."""
    root = pki.central_system_root.read_text()
    context = server_context(
        pki.central_system_certificate, pki.central_system_key, client_roots=[root], require_client=False
    )
    server = FleetCsms(heartbeat_interval=10, ssl_context=context)
    await server.start()
    yield server
    await server.stop()


def plain_url(csms: FleetCsms) -> str:
    # Profiles 2 and 3 upgrade a ws:// URL to wss:// (never the other way round).
    return f"ws://127.0.0.1:{csms.port}/ocpp"


async def test_profile_2_dials_tls_verified_by_the_installed_root_with_basic_auth(
    tls_csms: FleetCsms, pki: DemoPki
) -> None:
    configuration = {"SecurityProfile": 2, "AuthorizationKey": KEY, "LocalAuthListEnabled": True}
    roots = (pki.central_system_root.read_text(),)
    async with quiet_fleet(
        plain_url(tls_csms), 3, seed=5, configuration=configuration, central_system_roots=roots
    ) as fleet:
        for charge_box_id in IDS:
            assert tls_csms.tls[charge_box_id] == [TlsSeen("TLSv1.3", None)]
            assert tls_csms.authorizations[charge_box_id] == [basic(charge_box_id)]
        # A frame of several TLS records (the fleet reads TLS in 16 KiB steps: endpoints.shrink_tls_read_buffer)
        # arrives whole: 400 entries of a full SendLocalList, about 40 KiB.
        entries = [
            {"idTag": f"TAG-{n:05d}", "idTagInfo": {"status": "Accepted", "parentIdTag": f"PARENT-{n:05d}"}}
            for n in range(400)
        ]
        request = {"listVersion": 7, "updateType": "Full", "localAuthorizationList": entries}
        assert len(json.dumps(request)) > 2 * TLS_READ_BUFFER
        assert await tls_csms.call("CP-002", "SendLocalList", request) == {"status": "Accepted"}
        assert await tls_csms.call("CP-002", "GetLocalListVersion", {}) == {"listVersion": 7}
        stored = fleet.by_id["CP-002"].core.store.local_list_entries()
        assert sorted(entry.id_tag for entry in stored) == [entry["idTag"] for entry in entries]


async def test_profile_3_presents_each_stations_own_certificate_and_no_password(
    tls_csms: FleetCsms, pki: DemoPki
) -> None:
    configuration = {"SecurityProfile": 3, "AuthorizationKey": KEY, "CpoName": "Fleet CPO"}
    async with quiet_fleet(
        plain_url(tls_csms),
        3,
        seed=5,
        configuration=configuration,
        central_system_roots=(pki.central_system_root.read_text(),),
        enrol_authority=load_authority(pki.central_system_root, pki.central_system_root_key),
    ) as fleet:
        for charge_box_id in IDS:
            assert tls_csms.tls[charge_box_id] == [TlsSeen("TLSv1.3", charge_box_id)]
            assert tls_csms.authorizations[charge_box_id] == [None]
        # The certificate outlives a reset, as a station's key files do.
        reply = await tls_csms.call("CP-002", "Reset", {"type": "Soft"})
        assert reply == {"status": "Accepted"}
        await tls_csms.wait_until(lambda c: len(c.of("CP-002", "BootNotification")) == 2)
        assert tls_csms.tls["CP-002"] == [TlsSeen("TLSv1.3", "CP-002")] * 2
        assert fleet.by_id["CP-002"].core.security.profile == 3


PROFILE_3 = {"SecurityProfile": 3, "CpoName": "Fleet CPO"}


def keys_fleet(
    csms: FleetCsms, pki: DemoPki, keys_dir: Path, *, enrol: bool, until_booted: bool = True
) -> AbstractAsyncContextManager[Fleet]:
    """Two profile 3 stations whose keys live in `keys_dir` (what `--store sqlite` gives: next to the store),
    enrolled by the demo CA when `enrol`, else with the keys they find there."""
    authority = load_authority(pki.central_system_root, pki.central_system_root_key) if enrol else None
    return quiet_fleet(
        plain_url(csms),
        2,
        seed=7,
        configuration=PROFILE_3,
        central_system_roots=(pki.central_system_root.read_text(),),
        keys_dir=keys_dir,
        enrol_authority=authority,
        until_booted=until_booted,
    )


async def test_with_a_keys_directory_the_certificates_outlive_the_fleet_process(
    tls_csms: FleetCsms, pki: DemoPki, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "fleet.keys"
    async with keys_fleet(tls_csms, pki, keys_dir, enrol=True):
        pass
    key_file = keys_dir / "CP-001" / "charge_point.key"
    assert key_file.stat().st_mode & 0o777 == 0o600  # A02.FR.05
    chains = {n: (keys_dir / f"CP-00{n}" / "charge_point.pem").read_text() for n in (1, 2)}
    # A new fleet on the same directory, with no CA to enrol from: each station connects with its own certificate.
    async with keys_fleet(tls_csms, pki, keys_dir, enrol=False) as fleet:
        for n in (1, 2):
            assert tls_csms.tls[f"CP-00{n}"] == [TlsSeen("TLSv1.3", f"CP-00{n}")] * 2
            assert fleet.keys(f"CP-00{n}").certificate_chain() == chains[n]


async def test_a_key_file_others_can_read_is_refused_and_no_connection_is_made_with_it(
    tls_csms: FleetCsms, pki: DemoPki, tmp_path: Path
) -> None:
    """The key store's files are loaded where they lie (no copy): the owner-only rule of A02.FR.05 is checked on
    them, and a refusal is a failed attempt, not a crash of the fleet."""
    keys_dir = tmp_path / "fleet.keys"
    async with keys_fleet(tls_csms, pki, keys_dir, enrol=True):
        pass
    (keys_dir / "CP-001" / "charge_point.key").chmod(0o644)
    async with keys_fleet(tls_csms, pki, keys_dir, enrol=False, until_booted=False) as fleet:
        await until(lambda: fleet.stats.errors["tls-setup"] >= 1)
        await tls_csms.wait_until(lambda c: len(c.of("CP-002", "BootNotification")) == 2)
        assert "only the owner may have access" in (fleet.last_error or "")
        assert tls_csms.tls["CP-001"] == [TlsSeen("TLSv1.3", "CP-001")]  # the first fleet's connection only
        assert not fleet.by_id["CP-001"].connected


async def test_a_renewed_certificate_the_central_system_refuses_gives_way_to_the_previous_one(
    tls_csms: FleetCsms, pki: DemoPki
) -> None:
    """A02.FR.10 in a fleet station, as in the single one (tests/station/test_security_link.py): a certificate
    that chains to a root the station trusts but the server does not take is dropped after three refusals."""
    other = CertificateAuthority.new_root("Other CPO Root", "Fleet CPO")
    async with quiet_fleet(
        plain_url(tls_csms),
        1,
        seed=3,
        settings={"hardware": {"connectors": 1}, "network": {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5}},
        configuration=PROFILE_3,
        central_system_roots=(pki.central_system_root.read_text(), other.pem),
        enrol_authority=load_authority(pki.central_system_root, pki.central_system_root_key),
    ) as fleet:
        first = fleet.keys("CP-001").certificate_chain()
        trigger = {"requestedMessage": "SignChargePointCertificate"}
        assert await tls_csms.call("CP-001", "ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
        await tls_csms.wait_until(lambda c: len(c.of("CP-001", "SignCertificate")) == 1)
        chain = other.sign_csr(tls_csms.of("CP-001", "SignCertificate")[0].payload["csr"])
        assert await tls_csms.call("CP-001", "CertificateSigned", {"certificateChain": chain}) == {"status": "Accepted"}
        await tls_csms.wait_until(
            lambda c: any(
                r.payload["type"] == "InvalidChargePointCertificate"
                for r in c.of("CP-001", "SecurityEventNotification")
            )
        )
        assert fleet.keys("CP-001").certificate_chain() == first
        assert tls_csms.tls["CP-001"] == [TlsSeen("TLSv1.3", "CP-001")] * 2  # the refused ones never opened


async def test_an_upgrade_that_cannot_connect_falls_back_to_the_previous_profile(csms: FleetCsms, pki: DemoPki) -> None:
    # The central system serves ws:// only: once upgraded to profile 2 the station's TLS handshakes fail.
    network = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
    configuration = {"SecurityProfile": 1, "AuthorizationKey": KEY}
    roots = (pki.central_system_root.read_text(),)
    async with quiet_fleet(
        csms.url, 2, seed=6, settings={"network": network}, configuration=configuration, central_system_roots=roots
    ) as fleet:
        reply = await csms.call("CP-002", "ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
        assert reply == {"status": "Accepted"}
        # A05.FR.08: three failed attempts over TLS (none reaches the ws:// handler), then back on ws:// in 1.
        await csms.wait_until(lambda c: c.connections["CP-002"] == 2 and c.linked("CP-002"), timeout=10)
        configured = await csms.call("CP-002", "GetConfiguration", {"key": ["SecurityProfile"]})
        assert configured["configurationKey"][0]["value"] == "1"
        assert csms.closes_of("CP-002")[0] == 1000
        assert csms.authorizations["CP-002"] == [basic("CP-002")] * 2
        assert len(csms.of("CP-002", "BootNotification")) == 1
        # Both the upgrade and the way back are in the security log (§8: logged, not sent).
        logged = [entry.event for entry in fleet.by_id["CP-002"].core.store.security_log()]
        assert logged.count("ReconfigurationOfSecurityParameters") == 2
        assert csms.connections["CP-001"] == 1


@pytest.mark.parametrize("processes", [1, 2])
async def test_the_command_provisions_roots_and_certificates(
    processes: int, tls_csms: FleetCsms, pki: DemoPki, tmp_path: Path
) -> None:
    # With --processes 2 the shards are child processes: the flags must reach them.
    config = tmp_path / "station.toml"
    config.write_text(f'[configuration]\nSecurityProfile = 3\nAuthorizationKey = "{KEY}"\nCpoName = "Fleet CPO"\n')
    argv = ["-m", "ocpp_station", "fleet", "--csms", plain_url(tls_csms), "--count", "3", "--id-pattern"]
    argv += ["CP-{n:03d}", "--config", str(config), "--quiet", "--central-system-root", str(pki.central_system_root)]
    argv += ["--enrol-ca", str(pki.central_system_root), str(pki.central_system_root_key)]
    argv += ["--processes", str(processes)]
    process = await asyncio.create_subprocess_exec(sys.executable, *argv, stdout=subprocess.PIPE)
    try:
        await tls_csms.wait_until(lambda c: c.calls["BootNotification"] == 3, timeout=20)
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            await process.communicate()
    assert process.returncode == 0
    assert {charge_box_id: seen[0] for charge_box_id, seen in tls_csms.tls.items()} == {
        charge_box_id: TlsSeen("TLSv1.3", charge_box_id) for charge_box_id in IDS
    }
