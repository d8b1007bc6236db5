"""Fixtures of the hardware-driver tests: real pymodbus servers and Mosquitto brokers on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.hardware.plugin import PLUGIN
from tests.support.waiting import Events


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def installed_plugin() -> Iterator[None]:
    """The vendor package as pip leaves it in site-packages (its module beside its .dist-info), found by
    putting its folder on sys.path: no build step, nothing written to the running venv."""
    sys.path.insert(0, str(PLUGIN))
    yield
    sys.path.remove(str(PLUGIN))
    sys.modules.pop("acme_meter", None)
