"""The configuration-key registry against OCPP 1.6 §9, §5.3, §5.8 and the certified defaults."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, replace
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_station.station.configuration import (
    KEY_DEFINITIONS,
    SUPPORTED_MEASURANDS,
    ConfigStatus,
    Configuration,
    TooManyKeys,
)

CERTIFIED_DEFAULTS: dict[str, str] = {
    "AllowOfflineTxForUnknownId": "false",
    "AuthorizationCacheEnabled": "true",
    "AuthorizeRemoteTxRequests": "true",
    "BlinkRepeat": "0",
    "ClockAlignedDataInterval": "0",
    "ConnectionTimeOut": "30",
    "ConnectorPhaseRotation": "NotApplicable",
    "ConnectorPhaseRotationMaxLength": "3",
    "GetConfigurationMaxKeys": "10",
    "HeartbeatInterval": "20",
    "LightIntensity": "0",
    "LocalAuthorizeOffline": "false",
    "LocalPreAuthorize": "true",
    "MaxEnergyOnInvalidId": "0",
    "MeterValuesAlignedData": "Temperature",
    "MeterValuesAlignedDataMaxLength": "10",
    "MeterValuesSampledData": (
        "Current.Export,Current.Import,Energy.Active.Export.Register,Energy.Active.Import.Register,"
        "Power.Active.Export,Power.Active.Import,SoC,Temperature,Voltage"
    ),
    "MeterValuesSampledDataMaxLength": "15",
    "MeterValueSampleInterval": "20",
    "MinimumStatusDuration": "0",
    "NumberOfConnectors": "2",
    "ResetRetries": "0",
    "StopTransactionOnEVSideDisconnect": "true",
    "StopTransactionOnInvalidId": "true",
    "StopTxnAlignedData": "",
    "StopTxnAlignedDataMaxLength": "0",
    "StopTxnSampledData": "",
    "StopTxnSampledDataMaxLength": "0",
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    ),
    "SupportedFeatureProfilesMaxLength": "6",
    "TransactionMessageAttempts": "0",
    "TransactionMessageRetryInterval": "0",
    "UnlockConnectorOnEVSideDisconnect": "false",
    "WebSocketPingInterval": "5",
    "LocalAuthListEnabled": "false",
    "LocalAuthListMaxLength": "100000",
    "SendLocalListMaxLength": "400",
    "ReserveConnectorZeroSupported": "false",
    "ChargeProfileMaxStackLevel": "2",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "48",
    "ConnectorSwitch3to1PhaseSupported": "false",
    "MaxChargingProfilesInstalled": "14",
    "SupportedFileTransferProtocols": "FTP,FTPS,HTTP,HTTPS",
    "MessageTimeout": "30",
    "AuthorizationKey": "",
    # Security whitepaper §7
    "SecurityProfile": "0",
    "CpoName": "",
    "CertificateSignedMaxChainSize": "10000",
    "CertificateStoreMaxLength": "20",
    "AdditionalRootCertificateCheck": "false",
}

# Digest §2.12 table (R = read-only); OCTT TC_019 checks these accessibilities for the Core keys.
READ_ONLY = {
    "ConnectorPhaseRotationMaxLength",
    "GetConfigurationMaxKeys",
    "MeterValuesAlignedDataMaxLength",
    "MeterValuesSampledDataMaxLength",
    "NumberOfConnectors",
    "StopTxnAlignedDataMaxLength",
    "StopTxnSampledDataMaxLength",
    "SupportedFeatureProfiles",
    "SupportedFeatureProfilesMaxLength",
    "UnlockConnectorOnEVSideDisconnect",
    "LocalAuthListMaxLength",
    "SendLocalListMaxLength",
    "ReserveConnectorZeroSupported",
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "ConnectorSwitch3to1PhaseSupported",
    "MaxChargingProfilesInstalled",
    "SupportedFileTransferProtocols",
    "CertificateSignedMaxChainSize",  # security whitepaper §7.3, §7.4, §7.1: R
    "CertificateStoreMaxLength",
    "AdditionalRootCertificateCheck",
}

# OCTT TC_019 step 4: required Core keys and optional-profile keys.
OCTT_REQUIRED = {
    "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval",
    "ConnectionTimeOut",
    "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys",
    "HeartbeatInterval",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "MeterValuesAlignedData",
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    "NumberOfConnectors",
    "ResetRetries",
    "StopTransactionOnInvalidId",
    "StopTxnAlignedData",
    "StopTxnSampledData",
    "SupportedFeatureProfiles",
    "TransactionMessageAttempts",
    "TransactionMessageRetryInterval",
    "UnlockConnectorOnEVSideDisconnect",
    "LocalAuthListEnabled",
    "LocalAuthListMaxLength",
    "SendLocalListMaxLength",
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
}

OCTT_AUTHORIZATION_KEY = "4F43415F4F4354545F61646D696E5F74657374"  # TC_073: hex of "OCA_OCTT_admin_test"


class MemoryPersistence:
    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self.data: dict[str, str] = dict(initial or {})
        self.saves: list[tuple[str, str]] = []

    def load_config(self) -> dict[str, str]:
        return dict(self.data)

    def save_config(self, key: str, value: str) -> None:
        self.saves.append((key, value))
        self.data[key] = value


class FailingPersistence(MemoryPersistence):
    def save_config(self, key: str, value: str) -> None:
        raise OSError("disk full")


def make(overrides: Mapping[str, str] | None = None) -> tuple[Configuration, MemoryPersistence]:
    persistence = MemoryPersistence()
    return Configuration(persistence, overrides), persistence


def snapshot(config: Configuration) -> dict[str, str | None]:
    return {d.name: config.get(d.name) for d in config.definitions()}


# --- the registry -------------------------------------------------------------------------------------


def test_registry_holds_exactly_the_certified_keys() -> None:
    assert set(KEY_DEFINITIONS) == set(CERTIFIED_DEFAULTS)
    assert "StopTransactionMaxMeterValues" not in KEY_DEFINITIONS


def test_defaults_equal_the_certified_configuration() -> None:
    config, _ = make()
    assert snapshot(config) == CERTIFIED_DEFAULTS
    assert {d.name: d.default for d in KEY_DEFINITIONS.values()} == CERTIFIED_DEFAULTS


def test_accessibility_follows_the_digest_table() -> None:
    assert {name for name, d in KEY_DEFINITIONS.items() if d.readonly} == READ_ONLY
    assert KEY_DEFINITIONS["AuthorizeRemoteTxRequests"].readonly is False
    assert KEY_DEFINITIONS["StopTransactionOnEVSideDisconnect"].readonly is False


def test_octt_required_keys_are_present() -> None:
    assert set(KEY_DEFINITIONS) >= OCTT_REQUIRED


def test_kinds_and_profiles() -> None:
    kinds = {name: d.kind for name, d in KEY_DEFINITIONS.items()}
    assert kinds["HeartbeatInterval"] == "int"
    assert kinds["LocalPreAuthorize"] == "bool"
    assert kinds["MeterValuesSampledData"] == "csl"
    assert kinds["ConnectorPhaseRotation"] == "csl"
    assert kinds["AuthorizationKey"] == "string"
    profiles = {name: d.profile for name, d in KEY_DEFINITIONS.items()}
    assert profiles["LocalAuthListEnabled"] == "LocalAuthListManagement"
    assert profiles["ReserveConnectorZeroSupported"] == "Reservation"
    assert profiles["MaxChargingProfilesInstalled"] == "SmartCharging"
    assert profiles["SupportedFileTransferProtocols"] == "FirmwareManagement"
    assert profiles["WebSocketPingInterval"] == "Core"
    assert profiles["MessageTimeout"] == "Core"


def test_registry_order_is_spec_order() -> None:
    names = list(KEY_DEFINITIONS)
    assert names[0] == "AllowOfflineTxForUnknownId"
    assert names.index("MaxEnergyOnInvalidId") < names.index("MessageTimeout")
    assert names.index("MessageTimeout") < names.index("MeterValuesAlignedData")
    assert names.index("WebSocketPingInterval") < names.index("LocalAuthListEnabled")
    assert names[-1] == "SupportedFileTransferProtocols"


def test_max_items_keys_point_at_integer_keys() -> None:
    for definition in KEY_DEFINITIONS.values():
        if definition.max_items_key is not None:
            assert definition.kind == "csl"
            assert KEY_DEFINITIONS[definition.max_items_key].kind == "int"
            assert KEY_DEFINITIONS[definition.max_items_key].readonly


def test_registry_is_immutable() -> None:
    assert isinstance(KEY_DEFINITIONS, MappingProxyType)
    with pytest.raises(TypeError):
        KEY_DEFINITIONS["Testing"] = KEY_DEFINITIONS["HeartbeatInterval"]  # type: ignore[index]


def test_definitions_are_frozen() -> None:
    definition = KEY_DEFINITIONS["HeartbeatInterval"]
    with pytest.raises(FrozenInstanceError):
        definition.default = "1"  # type: ignore[misc]


def test_definitions_in_registry_order() -> None:
    config, _ = make()
    assert [d.name for d in config.definitions()] == list(KEY_DEFINITIONS)


def test_every_read_write_default_is_accepted_back() -> None:
    config, _ = make()
    for definition in config.definitions():
        if definition.readonly or definition.write_only:
            continue
        assert config.change(definition.name, definition.default) is ConfigStatus.ACCEPTED, definition.name


def test_stations_do_not_share_state() -> None:
    first, _ = make()
    second, _ = make()
    assert first.change("HeartbeatInterval", "300") is ConfigStatus.ACCEPTED
    assert second.get("HeartbeatInterval") == "20"


# --- typed getters --------------------------------------------------------------------------------------


def test_typed_getters() -> None:
    config, _ = make()
    assert config.get_int("NumberOfConnectors") == 2
    assert config.get_bool("LocalPreAuthorize") is True
    assert config.get_bool("LocalAuthListEnabled") is False
    assert config.get_list("ChargingScheduleAllowedChargingRateUnit") == ["Current", "Power"]
    assert config.get_list("StopTxnSampledData") == []
    assert config.get("Testing") is None


def test_typed_getters_refuse_unknown_keys_and_wrong_kinds() -> None:
    config, _ = make()
    with pytest.raises(KeyError):
        config.get_int("Testing")
    with pytest.raises(TypeError):
        config.get_int("LocalPreAuthorize")
    with pytest.raises(TypeError):
        config.get_bool("HeartbeatInterval")
    with pytest.raises(TypeError):
        config.get_list("HeartbeatInterval")


def test_station_can_read_the_write_only_key() -> None:
    config, _ = make({"AuthorizationKey": OCTT_AUTHORIZATION_KEY})
    assert config.get("AuthorizationKey") == OCTT_AUTHORIZATION_KEY


# --- GetConfiguration (OCPP 1.6 §5.8, OCTT TC_019) --------------------------------------------------------


@pytest.mark.parametrize("keys", [None, []])
def test_get_configuration_all_keys(keys: list[str] | None) -> None:
    config, _ = make()
    payload = config.get_configuration(keys)
    assert set(payload) == {"configurationKey"}
    entries = payload["configurationKey"]
    expected = [name for name in KEY_DEFINITIONS if name != "AuthorizationKey"]
    assert [e["key"] for e in entries] == expected
    for entry in entries:
        assert entry == {
            "key": entry["key"],
            "readonly": entry["key"] in READ_ONLY,
            "value": CERTIFIED_DEFAULTS[entry["key"]],
        }
        assert isinstance(entry["value"], str)
        assert len(entry["value"]) <= 500


def test_get_configuration_subset_keeps_request_order() -> None:
    config, _ = make()
    payload = config.get_configuration(["NumberOfConnectors", "HeartbeatInterval", "SupportedFeatureProfiles"])
    assert payload == {
        "configurationKey": [
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            {"key": "HeartbeatInterval", "readonly": False, "value": "20"},
            {
                "key": "SupportedFeatureProfiles",
                "readonly": True,
                "value": CERTIFIED_DEFAULTS["SupportedFeatureProfiles"],
            },
        ]
    }


def test_get_configuration_unknown_keys() -> None:
    config, _ = make()
    payload = config.get_configuration(["Testing", "HeartbeatInterval", "heartbeatinterval"])
    assert payload == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "20"}],
        "unknownKey": ["Testing", "heartbeatinterval"],
    }


def test_get_configuration_only_unknown_keys_keeps_empty_configuration_key() -> None:
    config, _ = make()
    assert config.get_configuration(["Testing"]) == {"configurationKey": [], "unknownKey": ["Testing"]}


def test_get_configuration_hides_write_only_key() -> None:
    config, _ = make({"AuthorizationKey": OCTT_AUTHORIZATION_KEY})
    payload = config.get_configuration(["AuthorizationKey"])
    assert payload == {"configurationKey": [], "unknownKey": ["AuthorizationKey"]}
    everything = config.get_configuration(None)
    assert OCTT_AUTHORIZATION_KEY not in repr(everything)


def test_get_configuration_answers_a_repeated_key_once() -> None:
    config, _ = make()
    payload = config.get_configuration(["HeartbeatInterval", "Testing", "HeartbeatInterval", "Testing"])
    assert [e["key"] for e in payload["configurationKey"]] == ["HeartbeatInterval"]
    assert payload["unknownKey"] == ["Testing"]


def test_get_configuration_max_keys() -> None:
    config, _ = make()
    names = [name for name in KEY_DEFINITIONS if name != "AuthorizationKey"]
    assert len(config.get_configuration(names[:10])["configurationKey"]) == 10
    with pytest.raises(TooManyKeys) as raised:
        config.get_configuration(names[:11])
    assert raised.value.requested == 11
    assert raised.value.maximum == 10


def test_get_configuration_max_keys_follows_override() -> None:
    config, _ = make({"GetConfigurationMaxKeys": "100"})
    names = list(KEY_DEFINITIONS)
    assert len(config.get_configuration(names)["configurationKey"]) == len(names) - 1


def test_octt_tc_019_flow() -> None:
    config, _ = make()
    step2 = config.get_configuration(["SupportedFeatureProfiles"])
    assert "unknownKey" not in step2
    assert [e["key"] for e in step2["configurationKey"]] == ["SupportedFeatureProfiles"]
    step4 = config.get_configuration([])["configurationKey"]
    assert {e["key"] for e in step4} >= OCTT_REQUIRED
    step6 = config.get_configuration(["GetConfigurationMaxKeys"])["configurationKey"]
    max_keys = int(step6[0]["value"])
    picked = [e["key"] for e in step4][-max_keys:]
    step8 = config.get_configuration(picked)
    assert "unknownKey" not in step8
    assert [e["key"] for e in step8["configurationKey"]] == picked


# --- ChangeConfiguration (OCPP 1.6 §5.3, OCTT TC_021, TC_040) -------------------------------------------


def test_octt_tc_021_change_is_read_back() -> None:
    config, _ = make()
    assert config.change("MeterValueSampleInterval", "60") is ConfigStatus.ACCEPTED
    payload = config.get_configuration(["MeterValueSampleInterval"])
    assert payload["configurationKey"] == [{"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]


def test_octt_tc_040_1_unknown_key_is_not_supported() -> None:
    config, persistence = make()
    assert config.change("Testing", "true") is ConfigStatus.NOT_SUPPORTED
    assert config.change("heartbeatinterval", "30") is ConfigStatus.NOT_SUPPORTED
    assert persistence.saves == []


def test_octt_tc_040_2_negative_interval_is_rejected() -> None:
    config, persistence = make()
    assert config.change("MeterValueSampleInterval", "-1") is ConfigStatus.REJECTED
    assert config.get("MeterValueSampleInterval") == "20"
    assert persistence.saves == []


@pytest.mark.parametrize("key", sorted(READ_ONLY))
def test_read_only_keys_are_rejected(key: str) -> None:
    config, persistence = make()
    assert config.change(key, CERTIFIED_DEFAULTS[key]) is ConfigStatus.REJECTED
    assert persistence.saves == []


def test_reboot_required_key() -> None:
    definitions = dict(KEY_DEFINITIONS)
    definitions["HeartbeatInterval"] = replace(definitions["HeartbeatInterval"], reboot_required=True)
    persistence = MemoryPersistence()
    config = Configuration(persistence, definitions=MappingProxyType(definitions))
    assert config.change("HeartbeatInterval", "60") is ConfigStatus.REBOOT_REQUIRED
    assert config.get("HeartbeatInterval") == "60"
    assert persistence.data == {"HeartbeatInterval": "60"}
    assert config.change("HeartbeatInterval", "-5") is ConfigStatus.REJECTED


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("true", "true"), ("TRUE", "true"), ("False", "false"), (" true ", "true")],
)
def test_bool_values_are_normalised(raw: str, stored: str) -> None:
    config, persistence = make()
    assert config.change("LocalAuthListEnabled", raw) is ConfigStatus.ACCEPTED
    assert config.get("LocalAuthListEnabled") == stored
    assert persistence.data["LocalAuthListEnabled"] == stored


@pytest.mark.parametrize("raw", ["", "yes", "1", "0", "t", "truee", "true,false", "\uff54rue"])
def test_bad_bools_are_rejected(raw: str) -> None:
    config, _ = make()
    assert config.change("LocalAuthListEnabled", raw) is ConfigStatus.REJECTED
    assert config.get("LocalAuthListEnabled") == "false"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("60", "60"),
        ("+60", "60"),
        ("007", "7"),
        ("0", "0"),
        ("-0", "0"),
        (" 45 ", "45"),
        ("2147483647", "2147483647"),
    ],
)
def test_int_values_are_normalised(raw: str, stored: str) -> None:
    config, _ = make()
    assert config.change("HeartbeatInterval", raw) is ConfigStatus.ACCEPTED
    assert config.get("HeartbeatInterval") == stored


@pytest.mark.parametrize(
    "raw", ["", " ", "abc", "1.5", "1e3", "0x10", "1_000", "٣", "--1", "+", "2147483648", "9" * 500]
)
def test_bad_ints_are_rejected(raw: str) -> None:
    config, _ = make()
    assert config.change("HeartbeatInterval", raw) is ConfigStatus.REJECTED
    assert config.get("HeartbeatInterval") == "20"


@pytest.mark.parametrize(
    "key",
    [name for name, d in KEY_DEFINITIONS.items() if d.kind == "int" and not d.readonly],
)
def test_negative_values_are_rejected_for_every_writable_int(key: str) -> None:
    # OCPP 1.6 §9.1.34 / OCPP-J §7 for WebSocketPingInterval; OCTT TC_040_2 for MeterValueSampleInterval.
    config, _ = make()
    assert config.change(key, "-1") is ConfigStatus.REJECTED


def test_web_socket_ping_interval_zero_disables_pings() -> None:
    config, _ = make()
    assert config.change("WebSocketPingInterval", "0") is ConfigStatus.ACCEPTED
    assert config.get_int("WebSocketPingInterval") == 0


def test_light_intensity_is_a_percentage() -> None:
    config, _ = make()
    assert config.change("LightIntensity", "100") is ConfigStatus.ACCEPTED
    assert config.change("LightIntensity", "101") is ConfigStatus.REJECTED
    assert config.get("LightIntensity") == "100"


def test_message_timeout_must_be_positive() -> None:
    config, _ = make()
    assert config.change("MessageTimeout", "0") is ConfigStatus.REJECTED
    assert config.change("MessageTimeout", "1") is ConfigStatus.ACCEPTED


# --- measurand lists (OCPP 1.6 §3.16.4, §9.1.15-9.1.28) -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Energy.Active.Import.Register", "Energy.Active.Import.Register"),
        ("Voltage.L1,Voltage.L2-N, Current.Import.L3", "Voltage.L1,Voltage.L2-N,Current.Import.L3"),
        ("  Power.Active.Import ,  SoC  ", "Power.Active.Import,SoC"),
        ("voltage.l1-n,FREQUENCY", "Voltage.L1-N,Frequency"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_measurand_lists_are_normalised(raw: str, stored: str) -> None:
    config, _ = make()
    assert config.change("MeterValuesSampledData", raw) is ConfigStatus.ACCEPTED
    assert config.get("MeterValuesSampledData") == stored
    assert config.get_list("MeterValuesSampledData") == ([] if stored == "" else stored.split(","))


@pytest.mark.parametrize(
    "raw",
    [
        "Energy.Reactive.Import.Register",  # a valid Measurand this station does not measure
        "RPM",
        "Voltage.L4",
        "Voltage.",
        "Voltage,,SoC",
        "Voltage,",
        ",Voltage",
        "Voltage,voltage",
        "Voltage;SoC",
        "Voltage.L1.L2",
        # Items the meter yields no sampledValue for (OCPP 1.6 §3.16.4; OCTT TC_070: one per configured item).
        "Energy.Active.Import.Interval",
        "Energy.Active.Import.Register.L1",
        "Current.Import.N",
        "Voltage.L1-L2",
    ],
)
def test_bad_measurand_lists_are_rejected(raw: str) -> None:
    config, persistence = make()
    assert config.change("MeterValuesSampledData", raw) is ConfigStatus.REJECTED
    assert config.get("MeterValuesSampledData") == CERTIFIED_DEFAULTS["MeterValuesSampledData"]
    assert persistence.saves == []


def test_measurand_list_length_is_bounded_by_its_max_length_key() -> None:
    config, _ = make()
    items = sorted(SUPPORTED_MEASURANDS)[:5] + [f"Voltage.{p}" for p in ("L1", "L2", "L3", "L1-N", "L2-N")]
    items += [f"Current.Import.{p}" for p in ("L1", "L2", "L3")] + ["Current.Export.L2", "Current.Export.L3"]
    assert len(items) == 15
    assert config.change("MeterValuesSampledData", ",".join(items)) is ConfigStatus.ACCEPTED
    assert config.change("MeterValuesSampledData", ",".join([*items, "Current.Export.L1"])) is ConfigStatus.REJECTED
    assert config.get_list("MeterValuesSampledData") == items
    aligned = ",".join(items[:11])
    assert config.change("MeterValuesAlignedData", aligned) is ConfigStatus.REJECTED
    assert config.change("MeterValuesAlignedData", ",".join(items[:10])) is ConfigStatus.ACCEPTED


@pytest.mark.parametrize("key", ["StopTxnSampledData", "StopTxnAlignedData"])
def test_stop_txn_lists_accept_only_empty_in_certified_configuration(key: str) -> None:
    config, _ = make()
    assert config.change(key, "Energy.Active.Import.Register") is ConfigStatus.REJECTED
    assert config.change(key, "") is ConfigStatus.ACCEPTED
    assert config.get(key) == ""


def test_stop_txn_lists_follow_a_max_length_override() -> None:
    config, _ = make({"StopTxnSampledDataMaxLength": "2"})
    assert config.change("StopTxnSampledData", "Energy.Active.Import.Register,Voltage") is ConfigStatus.ACCEPTED
    assert config.change("StopTxnSampledData", "Energy.Active.Import.Register,Voltage,SoC") is ConfigStatus.REJECTED


def test_values_longer_than_cistring500_are_rejected() -> None:
    config, _ = make({"MeterValuesSampledDataMaxLength": "100"})
    long_list = ",".join(f"{m}.{p}" for m in sorted(SUPPORTED_MEASURANDS) for p in ("L1", "L2", "L3"))
    assert len(long_list) > 500
    assert config.change("MeterValuesSampledData", long_list) is ConfigStatus.REJECTED


def test_non_ascii_values_are_rejected() -> None:
    config, _ = make()
    assert config.change("MeterValuesSampledData", "Voltage\u00a0") is ConfigStatus.REJECTED
    assert config.change("MeterValuesSampledData", "Voltage\t") is ConfigStatus.REJECTED


# --- ConnectorPhaseRotation (OCPP 1.6 §9.1.7) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("NotApplicable", "NotApplicable"),
        ("unknown", "Unknown"),
        ("0.RST,1.RST,2.RTS", "0.RST,1.RST,2.RTS"),
        ("1.rst, 2.tsr", "1.RST,2.TSR"),
        ("01.SRT", "1.SRT"),
        ("1.NotApplicable,2.Unknown", "1.NotApplicable,2.Unknown"),
        ("2.STR,1.TRS", "2.STR,1.TRS"),
    ],
)
def test_phase_rotation_accepted(raw: str, stored: str) -> None:
    config, _ = make()
    assert config.change("ConnectorPhaseRotation", raw) is ConfigStatus.ACCEPTED
    assert config.get("ConnectorPhaseRotation") == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "RST",
        "3.RST",  # only two connectors
        "-1.RST",
        "1.XYZ",
        "1.RST,1.RTS",
        "1.RST,01.RTS",
        "NotApplicable,1.RST",
        "NotApplicable,Unknown",
        "0.RST,1.RST,2.RTS,0.RTS",
        "a.RST",
        "1 .RST",
        "1.RST,",
    ],
)
def test_phase_rotation_rejected(raw: str) -> None:
    config, _ = make()
    assert config.change("ConnectorPhaseRotation", raw) is ConfigStatus.REJECTED
    assert config.get("ConnectorPhaseRotation") == "NotApplicable"


def test_phase_rotation_item_count_follows_max_length() -> None:
    config, _ = make({"NumberOfConnectors": "4"})
    assert config.change("ConnectorPhaseRotation", "1.RST,2.RST,3.RST") is ConfigStatus.ACCEPTED
    assert config.change("ConnectorPhaseRotation", "1.RST,2.RST,3.RST,4.RST") is ConfigStatus.REJECTED
    assert config.change("ConnectorPhaseRotation", "4.RST") is ConfigStatus.ACCEPTED


# --- AuthorizationKey (OCPP-J §6.2.2, security whitepaper §7.2, OCTT TC_073) --------------------------------


def test_authorization_key_octt_value_is_accepted_and_hidden() -> None:
    config, persistence = make()
    assert config.change("AuthorizationKey", OCTT_AUTHORIZATION_KEY) is ConfigStatus.ACCEPTED
    assert config.get("AuthorizationKey") == OCTT_AUTHORIZATION_KEY
    assert persistence.data["AuthorizationKey"] == OCTT_AUTHORIZATION_KEY
    assert OCTT_AUTHORIZATION_KEY not in repr(config.get_configuration(None))


@pytest.mark.parametrize(
    "raw",
    [
        "",  # clearing the password over OCPP would silently lower security
        "ab" * 15,  # 15 bytes, below the 16-byte minimum
        "ab" * 21,  # 21 bytes, above the 40-digit maximum
        "abc" * 11,  # odd number of digits
        "zz" * 16,
        " " + "ab" * 16,
        "OCA_OCTT_admin_test_pwd_00000000",
    ],
)
def test_bad_authorization_keys_are_rejected(raw: str) -> None:
    config, persistence = make()
    assert config.change("AuthorizationKey", raw) is ConfigStatus.REJECTED
    assert config.get("AuthorizationKey") == ""
    assert persistence.saves == []


def test_authorization_key_bounds() -> None:
    config, _ = make()
    assert config.change("AuthorizationKey", "aB" * 16) is ConfigStatus.ACCEPTED
    assert config.get("AuthorizationKey") == "aB" * 16
    assert config.change("AuthorizationKey", "01" * 20) is ConfigStatus.ACCEPTED


def test_authorization_key_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "secret-password-that-is-not-hex"
    with caplog.at_level(logging.DEBUG, logger="ocpp_station.configuration"):
        config, _ = make()
        assert config.change("AuthorizationKey", secret) is ConfigStatus.REJECTED
        with pytest.raises(ValueError) as raised:
            config.set_internal("AuthorizationKey", secret)
        with pytest.raises(ValueError) as raised_override:
            make({"AuthorizationKey": secret})
        Configuration(MemoryPersistence({"AuthorizationKey": secret}))
    assert secret not in str(raised.value)
    assert secret not in str(raised_override.value)
    assert "AuthorizationKey" in str(raised_override.value)
    assert secret not in caplog.text


# --- listeners and persistence --------------------------------------------------------------------------


def test_listeners_see_accepted_changes_only() -> None:
    config, _ = make()
    seen: list[tuple[str, str]] = []
    config.subscribe(lambda key, value: seen.append((key, value)))
    assert config.change("LocalPreAuthorize", "FALSE") is ConfigStatus.ACCEPTED
    assert config.change("HeartbeatInterval", "-3") is ConfigStatus.REJECTED
    assert config.change("NumberOfConnectors", "3") is ConfigStatus.REJECTED
    assert config.change("Testing", "1") is ConfigStatus.NOT_SUPPORTED
    config.set_internal("HeartbeatInterval", "300")
    assert seen == [("LocalPreAuthorize", "false"), ("HeartbeatInterval", "300")]


def test_listener_is_called_after_the_value_is_in_force() -> None:
    config, persistence = make()
    observed: list[tuple[str | None, str | None]] = []
    config.subscribe(lambda key, _: observed.append((config.get(key), persistence.data.get(key))))
    config.change("HeartbeatInterval", "45")
    assert observed == [("45", "45")]


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    config, _ = make()
    seen: list[str] = []

    def broken(key: str, value: str) -> None:
        raise RuntimeError("boom")

    config.subscribe(broken)
    config.subscribe(lambda key, value: seen.append(value))
    with caplog.at_level(logging.ERROR, logger="ocpp_station.configuration"):
        assert config.change("HeartbeatInterval", "45") is ConfigStatus.ACCEPTED
    assert seen == ["45"]
    assert config.get("HeartbeatInterval") == "45"
    assert "HeartbeatInterval" in caplog.text


def test_persistence_round_trip() -> None:
    persistence = MemoryPersistence()
    config = Configuration(persistence)
    assert config.change("MeterValuesSampledData", " voltage.l1 , SoC") is ConfigStatus.ACCEPTED
    assert config.change("AuthorizationKey", OCTT_AUTHORIZATION_KEY) is ConfigStatus.ACCEPTED
    assert persistence.data == {
        "MeterValuesSampledData": "Voltage.L1,SoC",
        "AuthorizationKey": OCTT_AUTHORIZATION_KEY,
    }
    reloaded = Configuration(persistence)
    assert reloaded.get("MeterValuesSampledData") == "Voltage.L1,SoC"
    assert reloaded.get("AuthorizationKey") == OCTT_AUTHORIZATION_KEY


def test_unchanged_value_is_still_persisted_and_announced() -> None:
    config, persistence = make()
    seen: list[tuple[str, str]] = []
    config.subscribe(lambda key, value: seen.append((key, value)))
    assert config.change("HeartbeatInterval", "20") is ConfigStatus.ACCEPTED
    assert persistence.saves == [("HeartbeatInterval", "20")]
    assert seen == [("HeartbeatInterval", "20")]


def test_storage_failure_leaves_the_value_unchanged() -> None:
    persistence = FailingPersistence()
    config = Configuration(persistence)
    seen: list[str] = []
    config.subscribe(lambda key, value: seen.append(value))
    with pytest.raises(OSError):
        config.change("HeartbeatInterval", "45")
    assert config.get("HeartbeatInterval") == "20"
    assert seen == []


def test_persisted_value_beats_override_beats_default() -> None:
    persistence = MemoryPersistence({"HeartbeatInterval": "900"})
    config = Configuration(persistence, {"HeartbeatInterval": "60", "ConnectionTimeOut": "45"})
    assert config.get("HeartbeatInterval") == "900"
    assert config.get("ConnectionTimeOut") == "45"
    assert config.get("ResetRetries") == "0"


def test_persisted_values_are_normalised_on_load() -> None:
    config = Configuration(MemoryPersistence({"LocalPreAuthorize": "FALSE", "HeartbeatInterval": "+030"}))
    assert config.get("LocalPreAuthorize") == "false"
    assert config.get("HeartbeatInterval") == "30"


def test_invalid_or_unknown_persisted_values_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    persistence = MemoryPersistence(
        {
            "HeartbeatInterval": "soon",
            "StopTransactionMaxMeterValues": "10",
            "StopTxnSampledData": "Voltage",  # StopTxnSampledDataMaxLength is 0
            "ConnectionTimeOut": "90",
        }
    )
    with caplog.at_level(logging.WARNING, logger="ocpp_station.configuration"):
        config = Configuration(persistence, {"HeartbeatInterval": "60"})
    assert config.get("HeartbeatInterval") == "60"
    assert config.get("StopTxnSampledData") == ""
    assert config.get("ConnectionTimeOut") == "90"
    assert config.get("StopTransactionMaxMeterValues") is None
    assert "HeartbeatInterval" in caplog.text
    assert "StopTransactionMaxMeterValues" in caplog.text
    assert persistence.saves == []


def test_persisted_limits_are_applied_before_the_lists_they_bound() -> None:
    persistence = MemoryPersistence({"StopTxnSampledData": "Voltage,SoC", "StopTxnSampledDataMaxLength": "2"})
    config = Configuration(persistence)
    assert config.get("StopTxnSampledData") == "Voltage,SoC"
    assert config.get("StopTxnSampledDataMaxLength") == "2"


# --- overrides -----------------------------------------------------------------------------------------


def test_overrides_set_read_only_keys() -> None:
    config, _ = make(
        {
            "NumberOfConnectors": "4",
            "SupportedFileTransferProtocols": "https, http",
            "SupportedFeatureProfiles": "Core,SmartCharging",
            "UnlockConnectorOnEVSideDisconnect": "TRUE",
        }
    )
    assert config.get_int("NumberOfConnectors") == 4
    assert config.get("SupportedFileTransferProtocols") == "HTTPS,HTTP"
    assert config.get_list("SupportedFeatureProfiles") == ["Core", "SmartCharging"]
    assert config.get("UnlockConnectorOnEVSideDisconnect") == "true"
    assert config.change("NumberOfConnectors", "5") is ConfigStatus.REJECTED
    assert config.change("ConnectorPhaseRotation", "4.RST") is ConfigStatus.ACCEPTED


def test_cross_key_overrides_are_order_independent() -> None:
    forwards = {"StopTxnSampledDataMaxLength": "3", "StopTxnSampledData": "Voltage,SoC,Temperature"}
    backwards = dict(reversed(list(forwards.items())))
    for overrides in (forwards, backwards):
        config, _ = make(overrides)
        assert config.get("StopTxnSampledData") == "Voltage,SoC,Temperature"
    config, _ = make({"ConnectorPhaseRotation": "3.RST", "NumberOfConnectors": "3"})
    assert config.get("ConnectorPhaseRotation") == "3.RST"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"Testing": "1"}, "Testing"),
        ({"HeartbeatInterval": "often"}, "HeartbeatInterval"),
        ({"NumberOfConnectors": "0"}, "NumberOfConnectors"),
        ({"GetConfigurationMaxKeys": "0"}, "GetConfigurationMaxKeys"),
        ({"LocalPreAuthorize": "maybe"}, "LocalPreAuthorize"),
        ({"MeterValuesSampledData": "RPM"}, "MeterValuesSampledData"),
        ({"MeterValuesSampledDataMaxLength": "3"}, "MeterValuesSampledData"),
        ({"SupportedFileTransferProtocols": "SCP"}, "SupportedFileTransferProtocols"),
        ({"SupportedFeatureProfiles": "SmartCharging"}, "SupportedFeatureProfiles"),
        ({"SupportedFeatureProfilesMaxLength": "2"}, "SupportedFeatureProfiles"),
        ({"ConnectorPhaseRotation": "3.RST"}, "ConnectorPhaseRotation"),
        ({"NumberOfConnectors": "1", "ConnectorPhaseRotation": "2.RST"}, "ConnectorPhaseRotation"),
        ({"AuthorizationKey": "abc"}, "AuthorizationKey"),
    ],
)
def test_invalid_overrides_raise_value_error(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError) as raised:
        make(overrides)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_authorization_key_override_may_be_empty() -> None:
    config, _ = make({"AuthorizationKey": ""})
    assert config.get("AuthorizationKey") == ""


# --- station-internal writes --------------------------------------------------------------------------


def test_set_internal_bypasses_read_only_and_persists() -> None:
    config, persistence = make()
    seen: list[tuple[str, str]] = []
    config.subscribe(lambda key, value: seen.append((key, value)))
    config.set_internal("NumberOfConnectors", "3")
    config.set_internal("HeartbeatInterval", "+300")
    assert config.get_int("NumberOfConnectors") == 3
    assert persistence.data == {"NumberOfConnectors": "3", "HeartbeatInterval": "300"}
    assert seen == [("NumberOfConnectors", "3"), ("HeartbeatInterval", "300")]
    assert Configuration(persistence).get("HeartbeatInterval") == "300"


def test_set_internal_still_validates() -> None:
    config, persistence = make()
    with pytest.raises(ValueError, match="HeartbeatInterval"):
        config.set_internal("HeartbeatInterval", "-1")
    with pytest.raises(KeyError):
        config.set_internal("Testing", "1")
    assert persistence.saves == []


def test_set_internal_guards_dependent_keys() -> None:
    config, _ = make()
    assert config.change("ConnectorPhaseRotation", "1.RST,2.RTS") is ConfigStatus.ACCEPTED
    with pytest.raises(ValueError, match="ConnectorPhaseRotation"):
        config.set_internal("NumberOfConnectors", "1")
    with pytest.raises(ValueError, match="MeterValuesSampledData"):
        config.set_internal("MeterValuesSampledDataMaxLength", "5")
    assert config.get("NumberOfConnectors") == "2"
    config.set_internal("StopTxnSampledDataMaxLength", "1")
    assert config.change("StopTxnSampledData", "Voltage") is ConfigStatus.ACCEPTED


def test_set_internal_may_clear_the_authorization_key() -> None:
    config, _ = make({"AuthorizationKey": OCTT_AUTHORIZATION_KEY})
    config.set_internal("AuthorizationKey", "")
    assert config.get("AuthorizationKey") == ""


# --- property: change never raises and never stores an invalid value -----------------------------------

_ITEM_WORDS = sorted(
    SUPPORTED_MEASURANDS
    | {
        "NotApplicable",
        "Unknown",
        "RST",
        "TSR",
        "0.RST",
        "1.rtS",
        "2.Unknown",
        "3.SRT",
        "Voltage.L1",
        "SoC.N",
    }
    | {"true", "FALSE", "Core", "FTP", "Current", "-1", "0", "100", "101", "+7"}
)
_WORD = st.sampled_from(_ITEM_WORDS) | st.sampled_from(_ITEM_WORDS).map(lambda word: f" {word.lower()} ")
_PLAUSIBLE = _WORD | st.lists(_WORD, max_size=4).map(",".join) | st.lists(_WORD, max_size=17).map(",".join)
_HEXISH = st.text(alphabet="0123456789abcdefABCDEFg", min_size=28, max_size=44) | st.integers(15, 21).flatmap(
    lambda n: st.binary(min_size=n, max_size=n)
).map(bytes.hex)
_ANY_VALUE = st.text(max_size=60) | _PLAUSIBLE | _HEXISH | st.integers(-(2**40), 2**40).map(str)
_VALUES_BY_KIND = {
    "bool": st.sampled_from(["true", "false", "TRUE", " False ", "yes", "1"]),
    "int": st.integers(-5, 120).map(str) | st.integers(-(2**33), 2**33).map(str),
    "csl": _PLAUSIBLE,
    "string": _HEXISH,
}


@st.composite
def _change_requests(draw: st.DrawFn) -> tuple[str, str]:
    """Mostly known keys with values of roughly the right shape, so that acceptance is exercised too."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=20)), draw(_ANY_VALUE)
    definition = draw(st.sampled_from(list(KEY_DEFINITIONS.values())))
    shape = draw(st.integers(0, 2))
    if shape == 0:
        return definition.name, draw(_ANY_VALUE)
    if shape == 1 and definition.allowed_items is not None:
        items = st.sampled_from(sorted(definition.allowed_items))
        return definition.name, draw(st.lists(items, max_size=4).map(", ".join))
    return definition.name, draw(_VALUES_BY_KIND[definition.kind])


@settings(max_examples=400, deadline=None)
@given(request=_change_requests())
def test_change_never_raises_and_keeps_the_configuration_valid(request: tuple[str, str]) -> None:
    key, value = request
    persistence = MemoryPersistence()
    config = Configuration(persistence)
    before = snapshot(config)
    status = config.change(key, value)
    assert isinstance(status, ConfigStatus)
    if status in (ConfigStatus.ACCEPTED, ConfigStatus.REBOOT_REQUIRED):
        stored = config.get(key)
        assert stored is not None
        assert persistence.data == {key: stored}
        assert snapshot(config) == {**before, key: stored}
        # The normalised value is a fixed point: it validates again and stays as it is.
        assert config.change(key, stored) is status
        assert config.get(key) == stored
        assert Configuration(persistence).get(key) == stored
    else:
        assert snapshot(config) == before
        assert persistence.saves == []
        if key not in KEY_DEFINITIONS:
            assert status is ConfigStatus.NOT_SUPPORTED


@settings(max_examples=200, deadline=None)
@given(requests=st.lists(_change_requests(), max_size=8))
def test_any_sequence_of_changes_survives_a_restart(requests: list[tuple[str, str]]) -> None:
    persistence = MemoryPersistence()
    config = Configuration(persistence, {"NumberOfConnectors": "3", "StopTxnSampledDataMaxLength": "2"})
    for key, value in requests:
        config.change(key, value)
    restarted = Configuration(persistence, {"NumberOfConnectors": "3", "StopTxnSampledDataMaxLength": "2"})
    assert snapshot(restarted) == snapshot(config)
