"""The conformance cases, one module per OCTT suite module, gathered in one immutable registry.

Keys are the OCTT tool ids ("TC_040_1"); registry order is document order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..case import TestCase
from . import cold_boot, configuration, configuration_keys, remote_actions, start_charging

_ALL: tuple[TestCase, ...] = (
    *cold_boot.CASES,
    *start_charging.CASES,
    *remote_actions.CASES,
    *configuration.CASES,
    *configuration_keys.CASES,
)

REGISTRY: Mapping[str, TestCase] = MappingProxyType({case.tool_id: case for case in _ALL})

if len(REGISTRY) != len(_ALL):
    raise RuntimeError("duplicate tool id in the case registry")

__all__ = ["REGISTRY"]
