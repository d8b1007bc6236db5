"""OCTT module 08 "Configuration" happy flow (OCTT document §2.8): TC_019_CS, TC_021_CS."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ocpp_station.tools.harness.case import CORE, CaseContext, TestCase, check
from ocpp_station.tools.harness.csms import CaseFailure
from ocpp_station.tools.harness.states import (
    ConfigurationReply,
    change_configuration,
    ensure_configuration_differs,
    get_configuration,
)

MODULE = "08 Configuration"

# Accessibility as written in TC_019 step 4: "R", "RW" or "R OR RW".
R, RW, R_OR_RW = "R", "RW", "R OR RW"

# TC_019 step 4: the required keys of each supported profile and their accessibility, verbatim from the
# document (Core checked by the tool; the optional profiles are "validated manually for now" there, and
# automatically here). Reservation, FirmwareManagement and RemoteTrigger have no required keys.
REQUIRED_KEYS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "Core": (
            ("AuthorizeRemoteTxRequests", R_OR_RW),
            ("ClockAlignedDataInterval", RW),
            ("ConnectionTimeOut", RW),
            ("ConnectorPhaseRotation", RW),
            ("GetConfigurationMaxKeys", R),
            ("HeartbeatInterval", RW),
            ("LocalAuthorizeOffline", RW),
            ("LocalPreAuthorize", RW),
            ("MeterValuesAlignedData", RW),
            ("MeterValuesSampledData", RW),
            ("MeterValueSampleInterval", RW),
            ("NumberOfConnectors", R),
            ("ResetRetries", RW),
            ("StopTransactionOnInvalidId", RW),
            ("StopTxnAlignedData", RW),
            ("StopTxnSampledData", RW),
            ("SupportedFeatureProfiles", R),
            ("TransactionMessageAttempts", RW),
            ("TransactionMessageRetryInterval", RW),
            ("UnlockConnectorOnEVSideDisconnect", R_OR_RW),
            # Not in the document's list, but required RW by OCPP 1.6 §9.1.23; a harness addition.
            ("StopTransactionOnEVSideDisconnect", RW),
        ),
        "LocalAuthListManagement": (
            ("LocalAuthListEnabled", RW),
            ("LocalAuthListMaxLength", R),
            ("SendLocalListMaxLength", R),
        ),
        "SmartCharging": (
            ("ChargeProfileMaxStackLevel", R),
            ("ChargingScheduleAllowedChargingRateUnit", R),
            ("ChargingScheduleMaxPeriods", R),
            ("MaxChargingProfilesInstalled", R),
        ),
    }
)

# OCPP 1.6 §9.1.29 SupportedFeatureProfiles values (profile names as in §3.3).
PROFILE_NAMES = frozenset(
    {"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging", "RemoteTrigger"}
)


def _accessibility_problems(reply: ConfigurationReply, profiles: list[str]) -> list[str]:
    problems = []
    for profile in profiles:
        for key, access in REQUIRED_KEYS.get(profile, ()):
            entry = reply.get(key)
            if entry is None:
                problems.append(f"{key} ({profile}) missing")
            elif access == R and not entry.readonly:
                problems.append(f"{key} is read-write, must be read-only")
            elif access == RW and entry.readonly:
                problems.append(f"{key} is read-only, must be read-write")
    return problems


async def tc_019(ctx: CaseContext) -> None:
    """TC_019_CS Retrieve configuration."""
    # Steps 1-2: "unknownKey list is <Empty>", "configurationKey.key should be SupportedFeatureProfiles".
    first = await get_configuration(ctx, ["SupportedFeatureProfiles"])
    check(not first.unknown, f"step 2: unknownKey is {list(first.unknown)}, expected empty")
    check(
        [kv.key for kv in first.keys] == ["SupportedFeatureProfiles"],
        f"step 2: configurationKey lists {[kv.key for kv in first.keys]}, expected SupportedFeatureProfiles",
    )
    value = first.keys[0].value or ""
    profiles = [name.strip() for name in value.split(",") if name.strip()]
    check("Core" in profiles, f"step 2: SupportedFeatureProfiles {value!r} does not contain Core")
    unknown_profiles = sorted(set(profiles) - PROFILE_NAMES)
    if unknown_profiles:
        ctx.note(f"SupportedFeatureProfiles lists names OCPP 1.6 does not define: {unknown_profiles}")
    # Steps 3-4: "The key is <Empty>" (an empty list, where TC_002 omits the field): all keys.
    everything = await get_configuration(ctx, [])
    problems = _accessibility_problems(everything, profiles)
    check(not problems, "step 4: " + "; ".join(problems))
    # Steps 5-6: GetConfigurationMaxKeys.
    limit_entry = (await get_configuration(ctx, ["GetConfigurationMaxKeys"])).get("GetConfigurationMaxKeys")
    try:
        max_keys = int(limit_entry.value or "") if limit_entry is not None else 0
    except ValueError:
        raise CaseFailure(f"step 6: GetConfigurationMaxKeys is not an integer ({limit_entry!r})") from None
    check(max_keys > 0, f"step 6: GetConfigurationMaxKeys is {max_keys}, expected a positive integer")
    # Steps 7-8: keys picked from step 4's list (its first ones, in the station's order), as many as
    # GetConfigurationMaxKeys or the length of that list, whichever is less.
    picked = [kv.key for kv in everything.keys[: min(max_keys, len(everything.keys))]]
    last = await get_configuration(ctx, picked)
    check(not last.unknown, f"step 8: unknownKey is {list(last.unknown)}, expected empty")
    missing = [key for key in picked if last.get(key) is None]
    check(not missing, f"step 8: configurationKey lacks requested keys {missing}")


async def tc_021(ctx: CaseContext) -> None:
    """TC_021_CS Change/set Configuration."""
    key = "MeterValueSampleInterval"
    value = str(ctx.settings.meter_value_interval)
    # Configuration state: the value is NOT <Configured Meter Value interval> (0 = no sampling, always valid).
    await ensure_configuration_differs(ctx, key, value, "0" if value != "0" else "60")
    # Steps 1-2: status is Accepted.
    await change_configuration(ctx, key, value)
    # Steps 3-4: the key reads back with the new value.
    reply = await get_configuration(ctx, [key])
    check(bool(reply.keys) and reply.keys[0].key == key, f"step 4: configurationKey is {reply.keys}, expected {key}")
    check(reply.keys[0].value == value, f"step 4: {key} is {reply.keys[0].value!r}, expected {value!r}")


CASES: tuple[TestCase, ...] = (
    TestCase("TC_019", "Retrieve configuration", CORE, MODULE, "2.8.1", tc_019),
    TestCase("TC_021", "Change/set Configuration", CORE, MODULE, "2.8.2", tc_021),
)
