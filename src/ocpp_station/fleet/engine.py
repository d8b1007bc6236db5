"""A fleet in one process: N station cores, their drivers, the shared timers, the stats and the ramp.

What the stations share is built once here: the settings (with the scenario's configuration keys), the key
definitions (`definitions_for`, module constants), the schemas (cached per process), the clock and the
scenario. What each station owns is what a station is: its core, its store, its simulated
hardware and its driver.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from ocpp_station.assemble import BuiltHardware, assemble, build_hardware
from ocpp_station.clock import SystemClock
from ocpp_station.fleet.context import ReadyStation, ScenarioStation, SeededStation
from ocpp_station.fleet.driver import StationDriver
from ocpp_station.fleet.endpoints import (
    ClientKey,
    Endpoint,
    FleetInputError,
    KeyFiles,
    StationEndpoints,
    shrink_tls_read_buffer,
)
from ocpp_station.fleet.file_jobs import FleetFileJobs, station_dir_name
from ocpp_station.fleet.live import LiveWatches
from ocpp_station.fleet.scenario import Scenario, ScenarioRunner
from ocpp_station.fleet.stats import FleetStats
from ocpp_station.fleet.timers import SharedTimers
from ocpp_station.fleet.trace import FrameTrace
from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.tls import SecurityProfile
from ocpp_station.settings import StationSettings
from ocpp_station.shell.file_transfer import FileTransfers, NetworkFileTransfers
from ocpp_station.shell.firmware_image import FirmwareInstaller, SimulatedInstaller
from ocpp_station.shell.provisioning import enrol_keys, install_roots_in
from ocpp_station.station.hub import Station
from ocpp_station.station.ports import Store, StoreWriteError
from ocpp_station.stores.key_files import FileKeyStore
from ocpp_station.stores.memory import MemoryKeyStore, MemoryStore

log = logging.getLogger("ocpp_station.fleet")

_MASK = (1 << 64) - 1
GC_YOUNG_THRESHOLD = 20_000
_JITTER_SEQUENCE = 1 << 62  # the jitter's draw numbers never meet the scenario's
DEFAULT_CPO_NAME = "ocpp-station fleet"  # the O of an enrolled certificate when no CpoName is configured


StationKeys = MemoryKeyStore | FileKeyStore


def _key_pair(keys: StationKeys | None) -> tuple[str | None, ClientKey | None]:
    """The station's certificate chain (PEM) and its private key: the PEM of an in-memory key store, the files
    of a `FileKeyStore` (OpenSSL loads them where they are); Nones when it has no certificate."""
    if keys is None:
        return None, None
    if isinstance(keys, MemoryKeyStore):
        return keys.chain, keys.key
    chain = keys.certificate_chain()
    return (None, None) if chain is None else (chain, KeyFiles(keys.chain_path, keys.key_path))


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def station_ids(pattern: str, count: int, shard: tuple[int, int] = (0, 1)) -> list[str]:
    """The ids of shard I of N: stations I+1, I+1+N, ... of 1..count (disjoint across shards, together all)."""
    index, total = shard
    if count < 1:
        raise FleetInputError(f"--count {count}: a fleet needs at least one station")
    if not 0 <= index < total:
        raise FleetInputError(f"--shard {index}/{total}: need 0 <= I < N")
    try:
        first, second = pattern.format(n=1), pattern.format(n=2)
    except (KeyError, IndexError, ValueError) as exc:
        raise FleetInputError(f"--id-pattern {pattern!r}: {exc!r} (use {{n}}, e.g. 'CP-{{n:05d}}')") from None
    if first == second:
        raise FleetInputError(f"--id-pattern {pattern!r} gives the same id for every station (it needs {{n}})")
    ids = [pattern.format(n=n) for n in range(index + 1, count + 1, total)]
    if total > 1 or len(set(ids)) != len(ids):
        # Duplicates across the whole fleet matter even when this shard's own ids are distinct.
        every = [pattern.format(n=n) for n in range(1, count + 1)]
        if len(set(every)) != len(every):
            seen: set[str] = set()
            dup = next(i for i in every if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise FleetInputError(f"--id-pattern {pattern!r} yields duplicate ids for {count} stations (e.g. {dup})")
    return ids


@dataclass(frozen=True)
class FleetOptions:
    csms_url: str
    ids: list[str]
    settings: StationSettings
    scenario: Scenario
    seed: int = 0
    ramp_per_s: float = 200.0
    store_factory: Callable[[str], Store] | None = None  # None: a MemoryStore per station
    # A store whose writes are grouped (stores.shared_sqlite): the fleet commits the group every
    # `store_flush_s` from its loop, and a renewed station's data is forgotten through `store_forget`.
    store_flush: Callable[[], None] | None = None
    store_forget: Callable[[str], None] | None = None
    store_flush_s: float = 0.05
    # The process is the fleet's (the command, a shard, the bench): once the stations are built and once they
    # have all booted, their long-lived objects leave the cyclic collector's generations (gc.freeze). Else each
    # full collection walks millions of them and stalls every timer of the fleet for most of a second.
    freeze_gc: bool = False
    # Firmware Management's file jobs (fleet/file_jobs.py): where their files go (None: a temporary directory,
    # removed at the stop), how files move (None: FTP/FTPS/HTTP/HTTPS over the network) and how an image is
    # installed (None: the simulated station's check of the image).
    files_dir: Path | None = None
    transfers: FileTransfers | None = None
    installer: FirmwareInstaller | None = None
    # Manufacturing (security whitepaper §2.6.4), for security profiles 2 and 3 from the first boot: the
    # CentralSystemRootCertificates (PEM) every station has installed, and the CA that signs each station a first
    # Charge Point certificate (CN its chargeBoxId, O the CpoName key).
    central_system_roots: tuple[str, ...] = ()
    enrol_authority: CertificateAuthority | None = None
    # Where the stations' key pairs and certificates live: a directory per station that has one (`FileKeyStore`,
    # owner-only, as a single station's `<id>.keys/`), so they outlive the process; None: in memory.
    keys_dir: Path | None = None
    # Bytes of the process's frame trace (fleet/trace.py), which a station's GetDiagnostics archive draws on;
    # 0: no trace.
    trace_bytes: int = 0


class _StoreFlusher:
    """The fleet's one store-commit timer, on the shared timers like any station's."""

    __slots__ = ("fleet", "scheduled")

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.scheduled = math.inf

    def on_timer(self, now: float, deadline: float) -> None:
        self.fleet.flush_store()
        if self.fleet.running:
            self.fleet.timers.schedule(self, now + self.fleet.options.store_flush_s)


class Fleet:
    def __init__(self, options: FleetOptions, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.options = options
        self.loop = loop or asyncio.get_running_loop()
        settings = options.settings
        shrink_tls_read_buffer()
        self._endpoints = StationEndpoints(
            options.csms_url, settings.network.ca_file, legacy_rsa=settings.network.tls_legacy_rsa
        )
        # Each station's key pair and Charge Point certificate: like its store, they outlive a reset.
        self._keys: dict[str, StationKeys] = {}
        if options.scenario.configuration:
            settings = replace(settings, configuration={**settings.configuration, **options.scenario.configuration})
        self.settings = settings
        self.clock = SystemClock()  # one wall-clock offset for the fleet: they all sync to the same CSMS
        self.stats = FleetStats()
        # A timer fires only once due: its lateness is never negative, and goes straight into the histogram.
        self.timers = SharedTimers(self.loop, self.stats.late_histogram("timer").observe)
        self.scenario = ScenarioRunner(options.scenario, settings.hardware, self.rand, self.stats)
        self.trace = FrameTrace(options.trace_bytes) if options.trace_bytes > 0 else None
        self.live = LiveWatches(self.trace)
        self.file_jobs = FleetFileJobs(
            trace=self.trace,
            root=options.files_dir,
            transfers=options.transfers or NetworkFileTransfers(ca_file=settings.network.ca_file),
            installer=options.installer or SimulatedInstaller(),
        )
        self._seed = options.seed
        self._store_factory = options.store_factory
        self._ready: list[ReadyStation] = []
        self._flush_handle: asyncio.Handle | None = None
        self._store_flusher = _StoreFlusher(self) if options.store_flush is not None else None
        self.running = False
        self.booted = 0
        self.started_at = 0.0
        self.last_error: str | None = None
        self.drivers: list[StationDriver] = []
        self.by_id: dict[str, StationDriver] = {}
        self.booted_event = asyncio.Event()
        for index, charge_box_id in enumerate(options.ids):
            store = self._new_store(charge_box_id)
            self._provision(charge_box_id, store)
            built = build_hardware(settings.hardware, store)
            core = self._assemble(charge_box_id, store, built)
            driver = StationDriver(self, index, core, built, store)
            self.drivers.append(driver)
            self.by_id[charge_box_id] = driver

    def redirect(self, charge_box_id: str, csms_url: str | None) -> None:
        """From its next connection on, the station talks to `csms_url` (None: back to the fleet's)."""
        self._endpoints.redirect(charge_box_id, csms_url)

    def renew(self, charge_box_id: str) -> None:
        """A new unit in the station's place (a new store and new hardware, nothing plugged), for its next
        power-on; the station must be powered off. A test bench starts each case from a new station."""
        driver = self.by_id[charge_box_id]
        if self.options.store_forget is not None:
            self.options.store_forget(charge_box_id)
        store = self._new_store(charge_box_id)
        keys = self._keys.pop(charge_box_id, None)
        if isinstance(keys, FileKeyStore):
            shutil.rmtree(keys.directory, ignore_errors=True)  # the old unit's key pair leaves with it
        self._endpoints.forget(charge_box_id)
        self._provision(charge_box_id, store)
        built = build_hardware(self.settings.hardware, store)
        driver.store, driver.hardware, driver.controls = store, built, built.controls

    def _provision(self, charge_box_id: str, store: Store) -> None:
        """What the manufacturer put in the unit (FleetOptions): a store reopened with them keeps its own."""
        options = self.options
        if options.central_system_roots and not store.certificates():
            install_roots_in(store, central_system_roots=options.central_system_roots)
        if options.enrol_authority is None:
            return
        keys = self.keys(charge_box_id)
        if keys.certificate_chain() is None:
            cpo_name = self.settings.configuration.get("CpoName") or DEFAULT_CPO_NAME
            enrol_keys(keys, options.enrol_authority, serial_number=charge_box_id, cpo_name=cpo_name)

    def keys(self, charge_box_id: str) -> StationKeys:
        """The station's key store (what a manufacturer provisions, security whitepaper §2.6.4)."""
        keys = self._keys.get(charge_box_id)
        if keys is None:
            directory = self.options.keys_dir
            if directory is None:
                keys = MemoryKeyStore()
            else:
                keys = FileKeyStore(directory / station_dir_name(charge_box_id))
            self._keys[charge_box_id] = keys
        return keys

    def endpoint(self, core: Station) -> Endpoint:
        """Where and how the station connects now: by its SecurityProfile, roots and certificate (raises
        `TlsSetupError` when the profile's prerequisites are missing)."""
        profile = core.security.profile
        charge_box_id = core.charge_box_id
        roots = core.security.central_system_roots() if profile >= SecurityProfile.TLS_BASIC else ()
        chain, key = (None, None)
        if profile == SecurityProfile.TLS_CLIENT_CERTIFICATE:
            chain, key = _key_pair(self._keys.get(charge_box_id))
        return self._endpoints.endpoint(charge_box_id, profile, roots, chain, key)

    def _new_store(self, charge_box_id: str) -> Store:
        if self._store_factory is not None:
            return self._store_factory(charge_box_id)
        return MemoryStore()

    def _assemble(self, charge_box_id: str, store: Store, built: BuiltHardware) -> Station:
        return assemble(
            charge_box_id=charge_box_id,
            settings=self.settings,
            store=store,
            hardware=built.station,
            clock=self.clock,
            keys=self.keys(charge_box_id),
        )

    # -- what drivers ask of the fleet ------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic()

    def rand(self, station: SeededStation) -> float:
        """A uniform draw in [0, 1) from (seed, station number, the station's draw count): seeded per station."""
        station.draws += 1
        return self._uniform(station.index, station.draws)

    def jitter(self, station: SeededStation) -> float:
        """A draw for the reconnection back-off's jitter, from a sequence of its own: a run whose connections
        fail otherwise than another's keeps the same scenario draws (arrivals, tags, sessions)."""
        station.jitter_draws += 1
        return self._uniform(station.index, station.jitter_draws | _JITTER_SEQUENCE)

    def _uniform(self, index: int, n: int) -> float:
        x = _splitmix(self._seed * 0x100000001B3 ^ index)
        x = _splitmix(x ^ n)
        return (x >> 11) / float(1 << 53)

    def reconnect_spread(self) -> float:
        """Over how many seconds a fleet-wide reconnection is spread: the ramp's time for the whole fleet."""
        net = self.settings.network
        return max(net.reconnect_min_s, len(self.drivers) / self.options.ramp_per_s)

    def mark_ready(self, station: ReadyStation) -> None:
        self._ready.append(station)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        ready, self._ready = self._ready, []
        for station in ready:
            station.flush()

    def on_booted(self, station: ScenarioStation) -> None:
        self.booted += 1
        if self.booted == len(self.drivers) and self.stats.booted_at is None:
            self.stats.booted_at = self.now() - self.started_at
            self.booted_event.set()
            self._freeze_gc()
        if not station.manual:
            self.scenario.begin(station, self.now())

    def on_reset(self) -> None:
        self.booted -= 1

    def rebuild(self, charge_box_id: str, store: object, hardware: object) -> Station:
        """A new core over the same store and hardware (an accepted Reset, OCPP 1.6 §5.14)."""
        assert isinstance(hardware, BuiltHardware)
        return self._assemble(charge_box_id, cast(Store, store), hardware)

    def _freeze_gc(self) -> None:
        if self.options.freeze_gc:
            gc.collect()
            gc.freeze()
            # Every message allocates a few dozen short-lived containers: at the default 700 allocations per
            # young collection the collector ran a thousand times a minute; 20 000 makes it a few dozen.
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    def note_error(self, kind: str, message: str) -> None:
        self.stats.errors[kind] += 1
        self.last_error = message

    # -- running ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Power every station on, their first connection ramped at `ramp_per_s` (no SYN flood)."""
        self.running = True
        self._freeze_gc()
        self.started_at = self.now()
        rate = self.options.ramp_per_s
        for k, driver in enumerate(self.drivers):
            driver.start(self.started_at + k / rate)
        if self._store_flusher is not None:
            self.timers.schedule(self._store_flusher, self.now() + self.options.store_flush_s)

    def flush_store(self) -> None:
        """Commit the store's open group of writes (one fsync for the whole fleet)."""
        if self.options.store_flush is None:
            return
        try:
            self.options.store_flush()
        except StoreWriteError as exc:  # the group is lost; the stations go on (see stores.shared_sqlite)
            self.note_error("store", f"store commit failed: {exc}")
            log.error("fleet store commit failed: %s", exc)

    def stop(self) -> None:
        self.running = False
        for driver in self.drivers:
            driver.stop()
        self.file_jobs.close()
        self.timers.close()
        self.flush_store()

    def set_online(self, share: float, online: bool) -> list[str]:
        """Cut (or restore) the network of the first `share` of the stations, in a seeded order."""
        count = round(len(self.drivers) * share)
        chosen = sorted(self.drivers, key=lambda d: _splitmix(self._seed ^ (d.index << 1)))[:count]
        for driver in chosen:
            driver.set_online(online)
        return [d.charge_box_id for d in chosen]

    # -- what the user sees ----------------------------------------------------------------------------
    def counts(self, queued: bool = True) -> dict[str, int]:
        """Stations connected, booted, charging and (with `queued`) the transaction messages waiting. Read every
        second by the progress line, which shows no queue: one plain loop, a few µs per station."""
        connected = booted = charging = waiting = 0
        for d in self.drivers:
            if d.connected:
                connected += 1
            if d.booted:
                booted += 1
            core = d.core
            for c in core.connectors:
                if c.transaction is not None:
                    charging += 1
            if queued:
                waiting += core.store.queue_length()
        document = {"stations": len(self.drivers), "connected": connected, "booted": booted, "charging": charging}
        if queued:
            document["queued"] = waiting
        return document

    def messages(self) -> int:
        return sum(self.stats.sent.values()) + sum(self.stats.received.values())

    def stations(self) -> Iterable[StationDriver]:
        return self.drivers
