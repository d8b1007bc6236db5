"""The configuration-key registry: every standard OCPP 1.6 key the station supports, with its type,
accessibility, validation and persistence (OCPP 1.6 §9, §5.3, §5.8; errata v4.0 3.80, 3.83, 3.85, 3.88, 3.90,
3.91; OCPP-J errata 3.12; OCTT TC_019, TC_021, TC_040).

Sans I/O: values are read once from a `ConfigPersistence` at construction and written through it on every
accepted change. One `Configuration` per station; nothing here is shared between instances.

Precedence of a key's value: persisted value, else the station's override (its TOML file), else the
certified default.
"""

from __future__ import annotations

import logging
import re
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, Protocol

from ocpp_station.station.metering import PHASED_ITEMS

_log = logging.getLogger(__name__)


class ConfigPersistence(Protocol):
    def load_config(self) -> dict[str, str]: ...

    def save_config(self, key: str, value: str) -> None: ...


class ConfigStatus(StrEnum):
    """ChangeConfiguration.conf status (OCPP 1.6 §7.22)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class KeyDefinition:
    name: str
    profile: str
    kind: Literal["bool", "int", "csl", "string"]
    readonly: bool
    default: str
    minimum: int | None = None
    maximum: int | None = None
    allowed_items: frozenset[str] | None = None
    max_items_key: str | None = None
    reboot_required: bool = False
    write_only: bool = False


class TooManyKeys(Exception):
    """A GetConfiguration.req asked for more keys than GetConfigurationMaxKeys (OCPP 1.6 §5.8, §9.1.9).

    The spec leaves the answer open (neither §5.8 nor §9.1.9 says what happens beyond the maximum); the caller
    picks the CALLERROR.
    """

    def __init__(self, requested: int, maximum: int) -> None:
        super().__init__(f"{requested} keys requested, GetConfigurationMaxKeys is {maximum}")
        self.requested = requested
        self.maximum = maximum


# KeyValue.value and ChangeConfiguration.req value are CiString500 (OCPP 1.6 §6.9, §7.29, §7.19): printable
# ASCII, at most 500 characters. Holding every stored value to it keeps GetConfiguration.conf schema-valid.
_MAX_VALUE_LENGTH = 500
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]*")

# JSON integers are unbounded, but every timer and every peer implementation we meet is 32-bit; a larger
# value could only overflow somewhere downstream, so it counts as out of range (OCPP 1.6 §5.3).
_INT32_MAX = 2**31 - 1

# The measurands this station can sample (a subset of the Measurand enum, OCPP 1.6 §7.31, spelt as in the JSON
# schemas, which win over the OCR typos of the spec's table).
# Anything else in one of the four measurand CSLs must be Rejected (OCPP 1.6 §3.16.4).
SUPPORTED_MEASURANDS: frozenset[str] = frozenset(
    {
        "Current.Export",
        "Current.Import",
        "Current.Offered",
        "Energy.Active.Export.Register",
        "Energy.Active.Import.Register",
        # No Energy.*.Interval: the meter (metering.py) does not report them, so they are Rejected (§3.16.4).
        "Frequency",
        "Power.Active.Export",
        "Power.Active.Import",
        "Power.Offered",
        "SoC",
        "Temperature",
        "Voltage",
    }
)
# Only the phases the meter measures a measurand on (metering.PHASED_ITEMS): a configured item must yield a
# sampledValue (OCTT TC_070 / TC_071), so e.g. "Energy.Active.Import.Register.L1" is not supported (§3.16.4).
_MEASURAND_ITEMS = SUPPORTED_MEASURANDS | PHASED_ITEMS
FEATURE_PROFILES: tuple[str, ...] = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)
# OCPP 1.6 §9.1.7: per-connector values; NotApplicable/Unknown may also stand alone for the whole station.
_PHASE_ROTATIONS: tuple[str, ...] = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
_WHOLE_STATION_ROTATIONS: tuple[str, ...] = ("NotApplicable", "Unknown")


def _bool(name: str, profile: str, default: str, *, readonly: bool = False) -> KeyDefinition:
    return KeyDefinition(name, profile, "bool", readonly, default)


def _int(
    name: str,
    profile: str,
    default: str,
    *,
    readonly: bool = False,
    minimum: int = 0,
    maximum: int = _INT32_MAX,
) -> KeyDefinition:
    return KeyDefinition(name, profile, "int", readonly, default, minimum=minimum, maximum=maximum)


def _csl(
    name: str,
    profile: str,
    default: str,
    *,
    readonly: bool = False,
    allowed: Iterable[str] | None = None,
    max_items_key: str | None = None,
) -> KeyDefinition:
    items = None if allowed is None else frozenset(allowed)
    return KeyDefinition(name, profile, "csl", readonly, default, allowed_items=items, max_items_key=max_items_key)


_CERTIFIED_SAMPLED_DATA = ",".join(
    (
        "Current.Export",
        "Current.Import",
        "Energy.Active.Export.Register",
        "Energy.Active.Import.Register",
        "Power.Active.Export",
        "Power.Active.Import",
        "SoC",
        "Temperature",
        "Voltage",
    )
)

# Ordered as the spec lists them: §9.1 (Core, alphabetical; MessageTimeout slots in alphabetically as errata
# v4.0 3.83 places it), the OCPP-J keys, then §9.2 LocalAuthList, §9.3 Reservation, §9.4 SmartCharging and
# §9.5 FirmwareManagement (errata v4.0 3.90). StopTransactionMaxMeterValues (errata v4.0 3.91) is optional
# and deliberately absent: the station does not cap StopTransaction meter data.
_DEFINITIONS: tuple[KeyDefinition, ...] = (
    _bool("AllowOfflineTxForUnknownId", "Core", "false"),
    _bool("AuthorizationCacheEnabled", "Core", "true"),
    _bool("AuthorizeRemoteTxRequests", "Core", "true"),
    _int("BlinkRepeat", "Core", "0"),
    _int("ClockAlignedDataInterval", "Core", "0"),
    _int("ConnectionTimeOut", "Core", "30"),
    _csl("ConnectorPhaseRotation", "Core", "NotApplicable", max_items_key="ConnectorPhaseRotationMaxLength"),
    _int("ConnectorPhaseRotationMaxLength", "Core", "3", readonly=True),
    # At least one key per request, or GetConfiguration with a key list could never succeed (§9.1.9).
    _int("GetConfigurationMaxKeys", "Core", "10", readonly=True, minimum=1),
    _int("HeartbeatInterval", "Core", "20"),
    _int("LightIntensity", "Core", "0", maximum=100),  # a percentage (§9.1.11)
    _bool("LocalAuthorizeOffline", "Core", "false"),
    _bool("LocalPreAuthorize", "Core", "true"),
    _int("MaxEnergyOnInvalidId", "Core", "0"),
    # A zero timeout would time out every request before the CSMS could answer (errata v4.0 3.83).
    _int("MessageTimeout", "Core", "30", minimum=1),
    _csl(
        "MeterValuesAlignedData",
        "Core",
        "Temperature",
        allowed=_MEASURAND_ITEMS,
        max_items_key="MeterValuesAlignedDataMaxLength",
    ),
    _int("MeterValuesAlignedDataMaxLength", "Core", "10", readonly=True),
    _csl(
        "MeterValuesSampledData",
        "Core",
        _CERTIFIED_SAMPLED_DATA,
        allowed=_MEASURAND_ITEMS,
        max_items_key="MeterValuesSampledDataMaxLength",
    ),
    _int("MeterValuesSampledDataMaxLength", "Core", "15", readonly=True),
    _int("MeterValueSampleInterval", "Core", "20"),
    _int("MinimumStatusDuration", "Core", "0"),
    # Connector ids are 1..N and contiguous, so a station has at least one (OCPP 1.6 §3.8).
    _int("NumberOfConnectors", "Core", "2", readonly=True, minimum=1),
    _int("ResetRetries", "Core", "0"),
    _bool("StopTransactionOnEVSideDisconnect", "Core", "true"),
    _bool("StopTransactionOnInvalidId", "Core", "true"),
    _csl(
        "StopTxnAlignedData",
        "Core",
        "",
        allowed=_MEASURAND_ITEMS,
        max_items_key="StopTxnAlignedDataMaxLength",
    ),
    # 0 is the certified value: the station reports no meter data in StopTransaction (OCPP 1.6 §3.16.5).
    _int("StopTxnAlignedDataMaxLength", "Core", "0", readonly=True),
    _csl(
        "StopTxnSampledData",
        "Core",
        "",
        allowed=_MEASURAND_ITEMS,
        max_items_key="StopTxnSampledDataMaxLength",
    ),
    _int("StopTxnSampledDataMaxLength", "Core", "0", readonly=True),
    _csl(
        "SupportedFeatureProfiles",
        "Core",
        ",".join(FEATURE_PROFILES),
        readonly=True,
        allowed=FEATURE_PROFILES,
        max_items_key="SupportedFeatureProfilesMaxLength",
    ),
    _int("SupportedFeatureProfilesMaxLength", "Core", "6", readonly=True),
    _int("TransactionMessageAttempts", "Core", "0"),
    _int("TransactionMessageRetryInterval", "Core", "0"),
    # Fixed cable: always false and not writable (errata v4.0 3.85).
    _bool("UnlockConnectorOnEVSideDisconnect", "Core", "false", readonly=True),
    # Negative values must be Rejected (OCPP 1.6 §9.1.34, OCPP-J §7).
    _int("WebSocketPingInterval", "Core", "5"),
    # Write-only Basic-auth password (OCPP-J §6.2.2, OCPP-J errata 3.12, security whitepaper §7.2); "" = none.
    KeyDefinition("AuthorizationKey", "Core", "string", False, "", write_only=True),
    # Security whitepaper §7. SecurityProfile only goes up, and only with its prerequisites in place (A05): the
    # Security profile guards the change (`Configuration.guard`).
    _int("SecurityProfile", "Security", "0", maximum=3),
    KeyDefinition("CpoName", "Security", "string", False, ""),
    # §7.3: the size of CertificateSigned.req certificateChain, at most 10.000 characters.
    _int("CertificateSignedMaxChainSize", "Security", "10000", readonly=True, minimum=1, maximum=10_000),
    _int("CertificateStoreMaxLength", "Security", "20", readonly=True, minimum=1),
    _bool("AdditionalRootCertificateCheck", "Security", "false", readonly=True),
    _bool("LocalAuthListEnabled", "LocalAuthListManagement", "false"),
    _int("LocalAuthListMaxLength", "LocalAuthListManagement", "100000", readonly=True),
    _int("SendLocalListMaxLength", "LocalAuthListManagement", "400", readonly=True),
    _bool("ReserveConnectorZeroSupported", "Reservation", "false", readonly=True),
    _int("ChargeProfileMaxStackLevel", "SmartCharging", "2", readonly=True),
    _csl(
        "ChargingScheduleAllowedChargingRateUnit",
        "SmartCharging",
        "Current,Power",
        readonly=True,
        allowed=("Current", "Power"),
    ),
    _int("ChargingScheduleMaxPeriods", "SmartCharging", "48", readonly=True),
    _bool("ConnectorSwitch3to1PhaseSupported", "SmartCharging", "false", readonly=True),
    _int("MaxChargingProfilesInstalled", "SmartCharging", "14", readonly=True),
    _csl(
        "SupportedFileTransferProtocols",
        "FirmwareManagement",
        "FTP,FTPS,HTTP,HTTPS",
        readonly=True,
        allowed=("FTP", "FTPS", "HTTP", "HTTPS"),
    ),
)

KEY_DEFINITIONS: Mapping[str, KeyDefinition] = MappingProxyType({d.name: d for d in _DEFINITIONS})

# A detachable cable has a lock on the station side, which the central system may choose to open on an
# EV-side disconnect (OCPP 1.6 §9.1.33): read-write there; errata v4.0 3.85 makes it read-only false only
# for a fixed cable.
_DETACHABLE_CABLE_DEFINITIONS: Mapping[str, KeyDefinition] = MappingProxyType(
    {**KEY_DEFINITIONS, "UnlockConnectorOnEVSideDisconnect": _bool("UnlockConnectorOnEVSideDisconnect", "Core", "true")}
)


def definitions_for(*, fixed_cable: bool) -> Mapping[str, KeyDefinition]:
    """The key registry of a station with a fixed or a detachable cable."""
    return KEY_DEFINITIONS if fixed_cable else _DETACHABLE_CABLE_DEFINITIONS


class _Invalid(ValueError):
    """A value that does not fit its key; the message says why without repeating the value."""


def _check_phase_rotation(items: list[str], values: Mapping[str, str]) -> list[str]:
    """OCPP 1.6 §9.1.7: "NotApplicable"/"Unknown" alone, or "<connectorId>.<rotation>" per connector,
    where connector 0 is the grid connection to the main meter."""
    canonical = {r.lower(): r for r in _PHASE_ROTATIONS}
    if len(items) == 1 and items[0].lower() in {r.lower() for r in _WHOLE_STATION_ROTATIONS}:
        return [canonical[items[0].lower()]]
    if not items:
        raise _Invalid("needs at least one item")
    connectors = int(values["NumberOfConnectors"])
    seen: set[int] = set()
    result: list[str] = []
    for item in items:
        connector_text, dot, rotation = item.partition(".")
        if not dot or not connector_text.isascii() or not connector_text.isdigit():
            raise _Invalid(f"item {item!r} is not '<connectorId>.<rotation>'")
        connector = int(connector_text)
        if connector > connectors:
            raise _Invalid(f"connector {connector} does not exist (NumberOfConnectors={connectors})")
        if connector in seen:
            raise _Invalid(f"connector {connector} appears twice")
        if rotation.lower() not in canonical:
            raise _Invalid(f"unknown phase rotation in {item!r}")
        seen.add(connector)
        result.append(f"{connector}.{canonical[rotation.lower()]}")
    return result


def _check_feature_profiles(items: list[str], values: Mapping[str, str]) -> list[str]:
    # Core is mandatory for every charge point (OCPP 1.6 §3.3).
    if "Core" not in items:
        raise _Invalid("must include Core")
    return items


# Key-specific item rules that the declarative fields of KeyDefinition cannot express.
_CSL_RULES: Mapping[str, Callable[[list[str], Mapping[str, str]], list[str]]] = MappingProxyType(
    {
        "ConnectorPhaseRotation": _check_phase_rotation,
        "SupportedFeatureProfiles": _check_feature_profiles,
    }
)


def _check_authorization_key(value: str, from_wire: bool) -> str:
    if value == "" and not from_wire:
        return value  # no password configured; only the station itself may clear it
    # 16..20 bytes as hex digits (security whitepaper A00.FR.205, OCPP-J 1.6 §6.2.2). The Basic password is the
    # decoded bytes, as in the OCPP-J §6.2.2 example: our choice, as OCTT TC_085_CS only says
    # "<Configured AuthorizationKey>" (and checks 20..40 hex characters, at least 16 characters).
    if not _HEX.fullmatch(value) or len(value) % 2 or not 32 <= len(value) <= 40:
        raise _Invalid("must be an even number (32 to 40) of hexadecimal digits")
    return value


def _split_csl(text: str) -> list[str]:
    if text.strip() == "":
        return []
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise _Invalid("has an empty item")
    return items


def _normalise(definition: KeyDefinition, raw: str, *, from_wire: bool) -> str:
    """The canonical form of `raw` for this key, checked on its own (not against other keys).

    Raises `_Invalid` for bad format or out-of-range values, which ChangeConfiguration answers with
    Rejected (OCPP 1.6 §5.3).
    """
    if not isinstance(raw, str):
        raise _Invalid("is not a string")
    if len(raw) > _MAX_VALUE_LENGTH:
        raise _Invalid(f"is longer than {_MAX_VALUE_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(raw):
        raise _Invalid("contains characters other than printable ASCII")
    if definition.kind == "bool":
        # Booleans travel as "true"/"false" (OCPP 1.6 §9); CiString comparison is case-insensitive (§7.19).
        text = raw.strip().lower()
        if text not in ("true", "false"):
            raise _Invalid("must be true or false")
        return text
    if definition.kind == "int":
        text = raw.strip()
        if not _DECIMAL.fullmatch(text):
            raise _Invalid("must be a decimal integer")
        number = int(text)
        if definition.minimum is not None and number < definition.minimum:
            raise _Invalid(f"must be at least {definition.minimum}")
        if definition.maximum is not None and number > definition.maximum:
            raise _Invalid(f"must be at most {definition.maximum}")
        return str(number)
    if definition.kind == "csl":
        items = _split_csl(raw)
        if definition.allowed_items is not None:
            # Enum spellings are canonical; CiString500 lets the CSMS send any case (§7.19).
            canonical = {item.lower(): item for item in definition.allowed_items}
            unknown = [item for item in items if item.lower() not in canonical]
            if unknown:
                raise _Invalid(f"item {unknown[0]!r} is not supported")
            items = [canonical[item.lower()] for item in items]
        if len(set(items)) != len(items):
            raise _Invalid("lists an item twice")
        return ",".join(items)
    if definition.name == "AuthorizationKey":
        return _check_authorization_key(raw, from_wire)
    return raw


def _check_relations(definition: KeyDefinition, values: Mapping[str, str]) -> str:
    """Checks of a normalised value against other keys; returns the (possibly re-canonicalised) value."""
    value = values[definition.name]
    if definition.kind != "csl":
        return value
    items = _split_csl(value)
    rule = _CSL_RULES.get(definition.name)
    if rule is not None:
        items = rule(items, values)
    if definition.max_items_key is not None:
        # [Key]MaxLength bounds the number of items (OCPP 1.6 §5.3, §3.16.4).
        limit = int(values[definition.max_items_key])
        if len(items) > limit:
            raise _Invalid(f"has {len(items)} items, {definition.max_items_key} is {limit}")
    return ",".join(items)


class Configuration:
    """The configuration of one station: the values of every key of `definitions()`."""

    def __init__(
        self,
        persistence: ConfigPersistence,
        overrides: Mapping[str, str] | None = None,
        *,
        definitions: Mapping[str, KeyDefinition] = KEY_DEFINITIONS,
    ) -> None:
        self._persistence = persistence
        self._definitions = definitions
        self._listeners: list[Callable[[str, str], None]] = []
        self._guards: dict[str, Callable[[str], str | None]] = {}
        self._dependents: dict[str, list[str]] = {name: [] for name in definitions}
        for definition in definitions.values():
            if definition.max_items_key is None:
                continue
            if definition.max_items_key not in definitions:
                raise ValueError(f"{definition.name}: max_items_key {definition.max_items_key} is not defined")
            self._dependents[definition.max_items_key].append(definition.name)
        if "ConnectorPhaseRotation" in definitions and "NumberOfConnectors" in definitions:
            self._dependents["NumberOfConnectors"].append("ConnectorPhaseRotation")
        self._values: dict[str, str] = {d.name: d.default for d in definitions.values()}
        # The typed values the station reads on every message (MessageTimeout, MeterValueSampleInterval, ...),
        # parsed once per value: `_commit` forgets a key's entry when its value changes.
        self._ints: dict[str, int] = {}
        self._bools: dict[str, bool] = {}
        self._lists: dict[str, tuple[str, ...]] = {}
        self._apply_overrides(overrides or {})
        self._apply_persisted(persistence.load_config())

    def _apply_overrides(self, overrides: Mapping[str, str]) -> None:
        for key, raw in overrides.items():
            definition = self._definitions.get(key)
            if definition is None:
                raise ValueError(f"configuration override {key!r}: not a supported configuration key")
            try:
                self._values[key] = _normalise(definition, raw, from_wire=False)
            except _Invalid as error:
                raise ValueError(f"configuration override {self._describe(definition, raw)} {error}") from None
        # Cross-key rules are checked only once every override is in, so their order in the file is free.
        for definition in self._definitions.values():
            try:
                self._values[definition.name] = _check_relations(definition, self._values)
            except _Invalid as error:
                shown = self._describe(definition, self._values[definition.name])
                raise ValueError(f"configuration override {shown} {error}") from None

    def _apply_persisted(self, persisted: Mapping[str, str]) -> None:
        # Limits (the *MaxLength keys, NumberOfConnectors) first, so the lists they bound are checked against
        # the limits that will actually hold.
        order = {name: index for index, name in enumerate(self._definitions)}
        limits = {name for name, dependents in self._dependents.items() if dependents}
        known = [key for key in persisted if key in self._definitions]
        for key in sorted(known, key=lambda k: (k not in limits, order[k])):
            try:
                self._values[key] = self._validated(self._definitions[key], persisted[key], from_wire=False)
            except _Invalid as error:
                # A value from an older release or a changed station file must not keep the station from
                # starting; the override/default stays in force and the next accepted change replaces it.
                _log.warning("ignoring persisted configuration key %s: %s", key, error)
        for key in persisted:
            if key not in self._definitions:
                _log.warning("ignoring persisted configuration key %s: not a supported key", key)

    @staticmethod
    def _describe(definition: KeyDefinition, raw: str) -> str:
        # The AuthorizationKey must never appear in logs or messages (security whitepaper A01.FR.12).
        return definition.name if definition.write_only else f"{definition.name}={raw!r}"

    def _validated(self, definition: KeyDefinition, raw: str, *, from_wire: bool) -> str:
        """`raw` normalised and checked against the other keys, including the keys whose limits it sets."""
        value = _normalise(definition, raw, from_wire=from_wire)
        candidate = ChainMap({definition.name: value}, self._values)
        value = _check_relations(definition, candidate)
        for dependent in self._dependents[definition.name]:
            try:
                _check_relations(self._definitions[dependent], candidate)
            except _Invalid as error:
                raise _Invalid(f"would make {dependent} invalid: it {error}") from None
        return value

    def _commit(self, key: str, value: str) -> None:
        # Persist first: if storage fails the exception propagates and memory still matches the disk.
        self._persistence.save_config(key, value)
        self._values[key] = value
        self._ints.pop(key, None)
        self._bools.pop(key, None)
        self._lists.pop(key, None)
        for listener in list(self._listeners):
            try:
                listener(key, value)
            except Exception:
                # The value is already in force; one faulty subscriber must not hide it from the others.
                _log.exception("configuration listener failed for key %s", key)

    def get(self, key: str) -> str | None:
        """The current value, or None for an unknown key. Write-only keys are readable by the station."""
        return self._values.get(key)

    def _typed(self, key: str, kind: str) -> str:
        definition = self._definitions.get(key)
        if definition is None:
            raise KeyError(key)
        if definition.kind != kind:
            raise TypeError(f"configuration key {key} is a {definition.kind}, not a {kind}")
        return self._values[key]

    def get_int(self, key: str) -> int:
        value = self._ints.get(key)
        if value is None:
            value = self._ints[key] = int(self._typed(key, "int"))
        return value

    def get_bool(self, key: str) -> bool:
        value = self._bools.get(key)
        if value is None:
            value = self._bools[key] = self._typed(key, "bool") == "true"
        return value

    def get_list(self, key: str) -> list[str]:
        items = self._lists.get(key)
        if items is None:
            items = self._lists[key] = tuple(_split_csl(self._typed(key, "csl")))
        return list(items)  # the caller's own list: changing it changes no configuration

    def get_configuration(self, keys: Sequence[str] | None) -> dict[str, Any]:
        """The GetConfiguration.conf payload (OCPP 1.6 §5.8, §6.24)."""
        if not keys:
            # Write-only keys are never reported (OCPP-J §6.2.2, OCPP-J errata 3.12).
            listed = [d for d in self._definitions.values() if not d.write_only]
            return {"configurationKey": [self._key_value(d) for d in listed]}
        maximum = self.get_int("GetConfigurationMaxKeys")
        if len(keys) > maximum:
            raise TooManyKeys(len(keys), maximum)
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        # A key asked twice is answered once; each list keeps the order of first request.
        for key in dict.fromkeys(keys):
            definition = self._definitions.get(key)
            if definition is None or definition.write_only:
                unknown.append(key)
            else:
                known.append(self._key_value(definition))
        payload: dict[str, Any] = {"configurationKey": known}
        if unknown:
            payload["unknownKey"] = unknown
        return payload

    def _key_value(self, definition: KeyDefinition) -> dict[str, Any]:
        return {
            "key": definition.name,
            "readonly": definition.readonly,
            "value": self._values[definition.name],
        }

    def change(self, key: str, value: str) -> ConfigStatus:
        """Apply a ChangeConfiguration.req (OCPP 1.6 §5.3); nothing changes unless the answer is
        Accepted or RebootRequired."""
        definition = self._definitions.get(key)
        if definition is None:
            return ConfigStatus.NOT_SUPPORTED
        if definition.readonly:
            return ConfigStatus.REJECTED
        try:
            normalised = self._validated(definition, value, from_wire=True)
        except _Invalid as error:
            _log.info("ChangeConfiguration %s rejected: %s", key, error)
            return ConfigStatus.REJECTED
        guard = self._guards.get(key)
        refusal = None if guard is None else guard(normalised)
        if refusal is not None:
            _log.info("ChangeConfiguration %s rejected: %s", key, refusal)
            return ConfigStatus.REJECTED
        self._commit(key, normalised)
        return ConfigStatus.REBOOT_REQUIRED if definition.reboot_required else ConfigStatus.ACCEPTED

    def set_internal(self, key: str, value: str) -> None:
        """A write by the station itself: read-only keys are writable, values are still validated.

        Raises KeyError for an unknown key and ValueError for an invalid value.
        """
        definition = self._definitions.get(key)
        if definition is None:
            raise KeyError(key)
        try:
            normalised = self._validated(definition, value, from_wire=False)
        except _Invalid as error:
            raise ValueError(f"configuration key {self._describe(definition, value)} {error}") from None
        self._commit(key, normalised)

    def guard(self, key: str, check: Callable[[str], str | None]) -> None:
        """`check(new_value)` runs before a ChangeConfiguration of `key` is applied: a reason (one line, without
        the value) makes the answer Rejected. For rules that need more than the keys, e.g. A05's prerequisites."""
        self._guards[key] = check

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """`listener(key, new_value)` runs after every accepted change, also when the value stays the same."""
        self._listeners.append(listener)

    def definitions(self) -> Iterable[KeyDefinition]:
        return self._definitions.values()
