"""Fixtures of the hardware-driver tests: real pymodbus servers and Mosquitto brokers on loopback."""

from __future__ import annotations

import pytest

from tests.hardware.waiting import Events


@pytest.fixture
def events() -> Events:
    return Events()
