"""Station identity, hardware and vendor settings from a TOML file (`--config`).

The built-in default is the certified station: two connectors, fixed cable, one RFID reader.
Anything wrong in the file is reported as one `SettingsError` line naming the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Identity:
    vendor: str = "OcppStation"
    model: str = "Sim-2C-FC"
    serial_number: str = "SIM-0001"
    firmware_version: str = "0.1.0"
    meter_type: str = "SimMeter"
    meter_serial_number: str = "SIMM-0001"
    vendor_id: str = "org.ocpp-station"  # our DataTransfer vendorId


@dataclass(frozen=True, slots=True)
class Hardware:
    driver: str = "simulated"  # chosen by the composition root (ocpp_station.assemble)
    connectors: int = 2
    fixed_cable: bool = True
    voltage_v: float = 230.0
    phases: int = 3
    max_current_a: float = 32.0
    ev_max_current_a: float = 32.0
    ev_battery_wh: float = 60_000.0
    ev_initial_soc: float = 20.0
    # [hardware.<part>] tables (a list for [[hardware.<part>]]): a driver per part with its options, checked by
    # the composition root when it builds them (docs/drivers.md). Parts not named stay simulated.
    parts: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Network:
    basic_auth_password: str | None = None  # HTTP Basic password (OCPP-J §6.2.2); else AuthorizationKey
    ca_file: str | None = None  # trust anchor for wss:// in security profile 0 (profiles 2, 3: the installed roots)
    # Security profiles 2/3: also offer TLS_RSA_WITH_AES_*_GCM (no forward secrecy), for a Central System that
    # offers nothing else (security/tls.py: the cipher choice).
    tls_legacy_rsa: bool = False
    response_timeout_s: float = 30.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    # Largest inbound WebSocket message; a bigger one closes the connection with 1009 (RFC 6455 §7.4.1).
    max_frame_bytes: int = 1 << 20
    api_token: str | None = None  # the control API's token (--api-token); needed to listen beyond loopback


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of the durable transaction message queue (README "Reliability": the policy when they are hit)."""

    max_queued_messages: int = 10_000  # beyond it periodic/clock MeterValues pause; Start/Stop always queue
    min_free_disk_mb: float = 20.0  # below it the same (the rest is the reserve for Start/StopTransaction)


@dataclass(frozen=True, slots=True)
class SmartChargingOptions:
    # GetCompositeSchedule.conf: also fill chargingSchedule.startSchedule (= scheduleStart). Errata v4.0 3.57 says
    # to omit it; OCTT (TC_056/057/059/082) validates "startSchedule" against the current time. Filling it by
    # default is our choice between the two (libocpp fills it too).
    include_start_schedule: bool = True


@dataclass(frozen=True, slots=True)
class StationSettings:
    identity: Identity = field(default_factory=Identity)
    hardware: Hardware = field(default_factory=Hardware)
    network: Network = field(default_factory=Network)
    smart_charging: SmartChargingOptions = field(default_factory=SmartChargingOptions)
    limits: Limits = field(default_factory=Limits)
    configuration: Mapping[str, str] = field(default_factory=dict)  # OCPP key overrides


def _section(cls: type[Any], raw: Any, name: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise SettingsError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = known.get(key)
        if spec is None:
            raise SettingsError(f"unknown setting {name}.{key} (known: {', '.join(sorted(known))})")
        default = getattr(cls(), key)
        expected: tuple[type, ...]
        if isinstance(default, bool):
            expected = (bool,)
        elif isinstance(default, float):
            expected = (int, float)
        elif isinstance(default, int):
            expected = (int,)
        else:
            expected = (str,)
        if not isinstance(value, expected) or (expected != (bool,) and isinstance(value, bool)):
            raise SettingsError(f"{name}.{key} must be {expected[-1].__name__}, got {value!r}")
        values[key] = value
    return cls(**values)


def _hardware(raw: Any) -> Hardware:
    if not isinstance(raw, dict):
        hardware: Hardware = _section(Hardware, raw, "hardware")
        return hardware
    scalars: dict[str, Any] = {}
    parts: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            parts[key] = (value,)
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            parts[key] = tuple(value)
        else:
            scalars[key] = value
    flat: Hardware = _section(Hardware, scalars, "hardware")
    return replace(flat, parts=parts)


def parse_settings(data: Mapping[str, Any]) -> StationSettings:
    unknown = set(data) - {"identity", "hardware", "network", "smart_charging", "limits", "configuration"}
    if unknown:
        raise SettingsError(f"unknown section [{sorted(unknown)[0]}]")
    hardware = _hardware(data.get("hardware"))
    if not 1 <= hardware.connectors <= 64:
        raise SettingsError("hardware.connectors must be between 1 and 64")
    if hardware.phases not in (1, 3):
        raise SettingsError("hardware.phases must be 1 or 3")
    config_raw = data.get("configuration", {})
    if not isinstance(config_raw, dict):
        raise SettingsError("[configuration] must be a table of OCPP key = value")
    configuration = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in config_raw.items()}
    configuration.setdefault("NumberOfConnectors", str(hardware.connectors))
    if hardware.fixed_cable:
        # Errata v4.0 3.85: a fixed cable reports UnlockConnectorOnEVSideDisconnect false, read-only.
        configuration.setdefault("UnlockConnectorOnEVSideDisconnect", "false")
    return StationSettings(
        identity=_section(Identity, data.get("identity"), "identity"),
        hardware=hardware,
        network=_section(Network, data.get("network"), "network"),
        smart_charging=_section(SmartChargingOptions, data.get("smart_charging"), "smart_charging"),
        limits=_section(Limits, data.get("limits"), "limits"),
        configuration=configuration,
    )


def load_settings(path: Path | None) -> StationSettings:
    if path is None:
        return parse_settings({})
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return parse_settings(data)
    except SettingsError as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
