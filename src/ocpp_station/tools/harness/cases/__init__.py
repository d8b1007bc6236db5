"""The conformance cases, one module per OCTT suite module, gathered in one immutable registry.

Keys are the OCTT tool ids ("TC_040_1"); registry order is document order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ocpp_station.tools.harness.case import TestCase
from ocpp_station.tools.harness.cases import (
    basic_actions,
    cache,
    cold_boot,
    configuration,
    configuration_keys,
    data_transfer,
    diagnostics,
    fault_behavior,
    firmware_management,
    local_authorization_list,
    meter_values,
    offline_behavior,
    power_failure,
    remote_actions,
    remote_actions_non_happy,
    remote_trigger,
    reservation,
    resetting,
    security,
    smart_charging,
    start_charging,
    stop_charging,
    unlocking,
    unlocking_non_happy,
)

_ALL: tuple[TestCase, ...] = (
    *cold_boot.CASES,
    *start_charging.CASES,
    *stop_charging.CASES,
    *cache.CASES,
    *remote_actions.CASES,
    *resetting.CASES,
    *unlocking.CASES,
    *configuration.CASES,
    *meter_values.CASES,
    *basic_actions.CASES,
    *remote_actions_non_happy.CASES,
    *unlocking_non_happy.CASES,
    *power_failure.CASES,
    *offline_behavior.CASES,
    *configuration_keys.CASES,
    *fault_behavior.CASES,
    *local_authorization_list.CASES,
    *firmware_management.CASES,
    *diagnostics.CASES,
    *reservation.CASES,
    *remote_trigger.CASES,
    *smart_charging.CASES,
    *data_transfer.CASES,
    *security.CASES,
)

REGISTRY: Mapping[str, TestCase] = MappingProxyType({case.tool_id: case for case in _ALL})

if len(REGISTRY) != len(_ALL):
    raise RuntimeError("duplicate tool id in the case registry")

__all__ = ["REGISTRY"]
