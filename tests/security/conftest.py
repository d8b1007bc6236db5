"""Fixtures for the security building blocks: throw-away CAs, the station's key, the time they are checked at."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ocpp_station.security.demo_pki import CertificateAuthority
from ocpp_station.security.pki import PrivateKey, generate_key


def name(common_name: str, organization: str = "Test CPO") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture(scope="session")
def cpo() -> CertificateAuthority:
    """The CPO root: signs the Central System's server certificate and the stations' CSRs."""
    return CertificateAuthority.new_root("Test CPO Root", "Test CPO")


@pytest.fixture(scope="session")
def other_cpo() -> CertificateAuthority:
    """A root the station has not installed."""
    return CertificateAuthority.new_root("Rogue Root", "Rogue")


@pytest.fixture(scope="session")
def maker() -> CertificateAuthority:
    return CertificateAuthority.new_root("Test Manufacturer Root", "Test Manufacturer")


@pytest.fixture
def station_key() -> PrivateKey:
    return generate_key()


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The lines the security modules logged at WARNING or above."""
    caplog.set_level(logging.INFO, logger="ocpp_station.security")

    def lines() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.name == "ocpp_station.security" and r.levelno >= logging.WARNING
        ]

    return lines
